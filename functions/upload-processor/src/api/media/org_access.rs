//! Who may change the site's or an organization's header and footer images (spec §8.3's
//! rules), decided from the token's role and the organization's membership as GraphQL reports
//! it. The original walked the `org.members` the client sent (§10.1 #8); here the request names
//! the organization only by id, and mentor-graphql's `orgHeaderUpdate` / `orgFooterUpdate`
//! check nothing themselves, so this is the only check there is.

use serde_json::{Map, Value};

use crate::api::Response;
use crate::graphql::GraphqlClient;

use super::request::{id, id_in, Caller};
use super::upstream::graphql_failed;

/// The organization the JSON body names in `org`: an id, or an object whose `_id` is read and
/// everything else ignored (the original's client sends the whole organization). `None` for
/// the site's own images.
pub fn org_of(body: &Map<String, Value>) -> Result<Option<String>, Response> {
    match body.get("org") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => id(s, "org").map(Some),
        Some(Value::Object(org)) => id_in(org, "_id", "org._id").map(Some),
        Some(_) => Err(Response::bad_field(
            "org",
            "org must be an organization id or an object with its _id",
        )),
    }
}

/// Without an organization: the four content-managing roles. With one: the two `SUPER_` roles,
/// or a member whose role there is `CONTENT_MANAGER` or `ADMIN`. The organization is read
/// whatever the role, so an unknown one is 404 rather than a write nobody sees.
pub async fn authorize(
    graphql: &GraphqlClient,
    caller: &Caller,
    org: Option<&str>,
) -> Result<(), Response> {
    let role = &caller.claims.role;
    let Some(org) = org else {
        return if role.manages_content() {
            Ok(())
        } else {
            tracing::info!(%role, "refused: the role may not change the site's images");
            Err(Response::error(
                403,
                "only content managers and admins may change the site's images",
            ))
        };
    };
    let found = graphql
        .organization(&caller.user, org)
        .await
        .map_err(|e| graphql_failed(&e))?;
    let Some(found) = found else {
        return Err(Response::error(404, format!("no organization {org}")));
    };
    if role.manages_every_org() || found.lets_manage(&caller.claims.id) {
        Ok(())
    } else {
        tracing::info!(org, %role, "refused: not a managing member of the organization");
        Err(Response::error(
            403,
            "not authorized to change this organization's images",
        ))
    }
}
