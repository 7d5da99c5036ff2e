//! The media routes' operations (spec §2.2) that `mod.rs` does not already have: G10
//! `mentorVbgUpdate`, G12 `orgHeaderUpdate`, G13 `orgFooterUpdate`, and the organization query
//! `/header` and `/footer` authorize with (the original trusted the client's copy of the
//! organization instead, §10.1 #8).
//!
//! The organization query is not in the original. Its shape is an assumption modelled on
//! mentor-graphql's `organization(id: ID)` (a `findOne` that raises "organization not found for
//! args …" for an unknown id, "organization is private …" for one the caller may not view) and
//! its `OrganizationType.members: [{user: User, role: String}]`, where `user` is null when the
//! member's account is gone.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Credentials, GraphqlClient, GraphqlError, Operation};

const MENTOR_VBG_UPDATE: Operation = Operation {
    name: "MentorVbgUpdate",
    fields: "api.mentorVbgUpdate",
};
const ORG_HEADER_UPDATE: Operation = Operation {
    name: "OrgHeaderUpdate",
    fields: "api.orgHeaderUpdate",
};
const ORG_FOOTER_UPDATE: Operation = Operation {
    name: "OrgFooterUpdate",
    fields: "api.orgFooterUpdate",
};
const ORGANIZATION: Operation = Operation {
    name: "Organization",
    fields: "organization",
};

/// G10: the mentor's virtual background (a relative S3 key).
const MENTOR_VBG_UPDATE_DOC: &str = "mutation MentorVbgUpdate($mentorId: ID!, $vbgPath: String!) {
  api {
    mentorVbgUpdate(mentorId: $mentorId, vbgPath: $vbgPath)
  }
}";

/// G12: the home page header of an organization, or of the site when `orgId` is absent.
const ORG_HEADER_UPDATE_DOC: &str = "mutation OrgHeaderUpdate($orgId: ID, $imgPath: String!) {
  api {
    orgHeaderUpdate(orgId: $orgId, imgPath: $imgPath)
  }
}";

/// G13: one footer image (`imgIdx` past the end appends).
const ORG_FOOTER_UPDATE_DOC: &str =
    "mutation OrgFooterUpdate($orgId: ID, $imgPath: String!, $imgIdx: Int!) {
  api {
    orgFooterUpdate(orgId: $orgId, imgPath: $imgPath, imgIdx: $imgIdx)
  }
}";

/// Who belongs to an organization and in which role (an assumed shape, see the module doc).
const ORGANIZATION_DOC: &str = "query Organization($id: ID!) {
  organization(id: $id) {
    _id
    members {
      user {
        _id
      }
      role
    }
  }
}";

/// An organization as [`GraphqlClient::organization`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Organization {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub members: Option<Vec<Option<Member>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    #[serde(default)]
    pub user: Option<MemberUser>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemberUser {
    #[serde(rename = "_id")]
    pub id: String,
}

/// The member roles that may change an organization's settings (spec §8.3).
const MANAGING_ROLES: [&str; 2] = ["CONTENT_MANAGER", "ADMIN"];

impl Organization {
    /// Whether `user` is a member whose role may change the organization's images.
    pub fn lets_manage(&self, user: &str) -> bool {
        self.members.iter().flatten().flatten().any(|m| {
            m.user.as_ref().is_some_and(|u| u.id == user)
                && m.role
                    .as_deref()
                    .is_some_and(|r| MANAGING_ROLES.contains(&r))
        })
    }
}

/// G12's and G13's variables: `orgId` only when an organization is named, `imgIdx` only for a
/// footer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrgImageVars<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<&'a str>,
    img_path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    img_idx: Option<i32>,
}

/// The answer of an `api { field }` mutation: its one field, a Boolean (null when missing).
#[derive(Deserialize)]
struct Api {
    api: HashMap<String, Option<bool>>,
}

impl GraphqlClient {
    /// Runs an `api { field }` mutation whose one field is a Boolean, the last part of
    /// `operation.fields`. `Ok(false)` when the server says it did not record it (false or null).
    async fn api_flag<V: Serialize>(
        &self,
        operation: Operation,
        document: &str,
        credentials: &Credentials,
        variables: &V,
    ) -> Result<bool, GraphqlError> {
        let data: Api = self
            .transport
            .execute(operation, document, credentials, variables)
            .await?;
        let field = operation.fields.rsplit('.').next().unwrap_or_default();
        Ok(data.api.get(field).copied().flatten().unwrap_or(false))
    }

    /// G10. `Ok(false)` when the server says it did not record it.
    pub async fn update_mentor_vbg(
        &self,
        credentials: &Credentials,
        mentor: &str,
        vbg_key: &str,
    ) -> Result<bool, GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            mentor_id: &'a str,
            vbg_path: &'a str,
        }
        let vars = Vars {
            mentor_id: mentor,
            vbg_path: vbg_key,
        };
        self.api_flag(MENTOR_VBG_UPDATE, MENTOR_VBG_UPDATE_DOC, credentials, &vars)
            .await
    }

    /// G12 with `imgPath` the image's full URL; `orgId` only when an organization is named (as
    /// the original sends it). `Ok(false)` when the server has no such configuration.
    pub async fn update_org_header(
        &self,
        credentials: &Credentials,
        org: Option<&str>,
        img_url: &str,
    ) -> Result<bool, GraphqlError> {
        self.api_flag(
            ORG_HEADER_UPDATE,
            ORG_HEADER_UPDATE_DOC,
            credentials,
            &OrgImageVars {
                org_id: org,
                img_path: img_url,
                img_idx: None,
            },
        )
        .await
    }

    /// G13, as [`GraphqlClient::update_org_header`] plus the footer's index.
    pub async fn update_org_footer(
        &self,
        credentials: &Credentials,
        org: Option<&str>,
        img_url: &str,
        idx: i32,
    ) -> Result<bool, GraphqlError> {
        self.api_flag(
            ORG_FOOTER_UPDATE,
            ORG_FOOTER_UPDATE_DOC,
            credentials,
            &OrgImageVars {
                org_id: org,
                img_path: img_url,
                img_idx: Some(idx),
            },
        )
        .await
    }

    /// The organization and its members; `None` when the server answers null. mentor-graphql
    /// reports an unknown id as an error instead (see [`GraphqlError::says_not_found`]).
    pub async fn organization(
        &self,
        credentials: &Credentials,
        id: &str,
    ) -> Result<Option<Organization>, GraphqlError> {
        #[derive(Serialize)]
        struct Vars<'a> {
            id: &'a str,
        }
        #[derive(Deserialize)]
        struct Data {
            organization: Option<Organization>,
        }
        let data: Data = self
            .transport
            .execute(ORGANIZATION, ORGANIZATION_DOC, credentials, &Vars { id })
            .await?;
        Ok(data.organization)
    }
}

impl GraphqlError {
    /// The server answered with GraphQL errors saying the object does not exist, as
    /// mentor-graphql's `findOne` does ("<type> not found for args …").
    pub fn says_not_found(&self) -> bool {
        matches!(self, GraphqlError::Graphql { messages, .. }
            if messages.iter().any(|m| m.to_ascii_lowercase().contains("not found")))
    }

    /// The server answered with GraphQL errors refusing the caller, as mentor-graphql does for a
    /// private organization ("… you do not have permission to access").
    pub fn says_no_permission(&self) -> bool {
        matches!(self, GraphqlError::Graphql { messages, .. }
            if messages.iter().any(|m| m.to_ascii_lowercase().contains("permission")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_managing_members_manage() {
        let org: Organization = serde_json::from_value(json!({
            "_id": "o1",
            "members": [
                {"user": {"_id": "admin"}, "role": "ADMIN"},
                {"user": {"_id": "cm"}, "role": "CONTENT_MANAGER"},
                {"user": {"_id": "plain"}, "role": "USER"},
                {"user": null, "role": "ADMIN"},
                {"user": {"_id": "norole"}},
                null
            ]
        }))
        .unwrap();
        assert!(org.lets_manage("admin"));
        assert!(org.lets_manage("cm"));
        assert!(!org.lets_manage("plain"));
        assert!(!org.lets_manage("norole"));
        assert!(!org.lets_manage("stranger"));
        let empty: Organization =
            serde_json::from_value(json!({"_id": "o2", "members": null})).unwrap();
        assert!(!empty.lets_manage("admin"));
    }
}
