//! The fake's side of the media routes' GraphQL operations: organizations (`organization(id)`),
//! their header and footer images (`orgHeaderUpdate`, `orgFooterUpdate`), and which mentors
//! exist. `mentorThumbnailUpdate`, `mentorVbgUpdate` and `mentorVttUpdate` are answered by
//! `resolve.rs` with the other per-mentor mutations.
//!
//! Assumptions, since the original never queried an organization (spec §8.3):
//! - `organization(id)` answers `{_id, name, members: [{user: {_id}, role}]}` like
//!   mentor-graphql's `OrganizationType`, and an unknown id is the error its `findOne` raises
//!   (`organization not found for args "{"id":…}"`). Private organizations are not modelled.
//! - `orgHeaderUpdate` and `orgFooterUpdate` check no permission beyond an authenticated caller,
//!   as mentor-graphql's resolvers do: the service must decide. An unknown `orgId` answers
//!   `false` (the server finds no configuration to change). A footer index past the end appends.
//! - Once any mentor is seeded (`POST /_fake/mentor`, [`GraphqlFake::add_mentor`]),
//!   `mentorCanEdit` of an unseeded mentor is the error "mentor not found" (the real server
//!   answers `false`, which cannot tell "no such mentor" from "not yours"); with none seeded
//!   every mentor exists, as the other tests expect.
//!
//! Seeding and reading routes (unrecorded): `POST /_fake/org` `{"id", "name"?, "members":
//! [{"user", "role"}]}`, `POST /_fake/mentor` `{"id"}`, `GET /_fake/org-images` (headers and
//! footers by organization id, `""` for the site's own).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::document::{project, Field};
use super::principal::Principal;
use super::resolve::required;
use super::{GraphqlFake, Shared, State};

/// The key of the site's own configuration (no organization): org ids are never empty.
const SITE: &str = "";

#[derive(Debug, Default)]
pub(crate) struct MediaState {
    orgs: BTreeMap<String, Org>,
    /// Seeded mentors; empty means "every mentor exists".
    mentors: BTreeSet<String>,
    headers: BTreeMap<String, String>,
    footers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
struct Org {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    members: Vec<Membership>,
}

#[derive(Debug, Clone, Deserialize)]
struct Membership {
    user: String,
    role: String,
}

impl Org {
    fn to_value(&self, id: &str) -> Value {
        let members: Vec<Value> = self
            .members
            .iter()
            .map(|m| json!({ "user": { "_id": m.user }, "role": m.role }))
            .collect();
        json!({ "_id": id, "name": self.name, "members": members })
    }
}

/// `mentorCanEdit`'s existence check (see the module doc).
pub(crate) fn check_mentor(state: &State, mentor: &str) -> Result<(), String> {
    let known = &state.media.mentors;
    if known.is_empty() || known.contains(mentor) {
        Ok(())
    } else {
        Err("mentor not found".into())
    }
}

/// A query root field of these routes, or `None` when the field is not one of theirs.
pub(crate) fn query(
    state: &mut State,
    _principal: &Principal,
    field: &Field,
    variables: &Value,
) -> Option<Result<Value, String>> {
    match field.name.as_str() {
        "organization" => Some(organization(state, field, variables)),
        _ => None,
    }
}

fn organization(state: &State, field: &Field, variables: &Value) -> Result<Value, String> {
    let id = required(field, "id", variables)?;
    let org = state.media.orgs.get(&id).ok_or_else(|| {
        format!(
            "organization not found for args \"{}\"",
            json!({ "id": id })
        )
    })?;
    Ok(project(&org.to_value(&id), &field.selection))
}

/// A field under the `api` mutation root, or `None` when the field is not one of theirs.
pub(crate) fn mutation(
    state: &mut State,
    _principal: &Principal,
    field: &Field,
    variables: &Value,
) -> Option<Result<Value, String>> {
    match field.name.as_str() {
        "orgHeaderUpdate" => Some(org_header_update(state, field, variables)),
        "orgFooterUpdate" => Some(org_footer_update(state, field, variables)),
        _ => None,
    }
}

/// The configuration `orgId` names: the site's when absent, `None` when the org is unknown.
fn config_key(state: &State, field: &Field, variables: &Value) -> Result<Option<String>, String> {
    match field.arg("orgId", variables) {
        Value::Null => Ok(Some(SITE.to_string())),
        Value::String(id) => Ok(state.media.orgs.contains_key(&id).then_some(id)),
        other => Err(format!("Argument \"orgId\" has an invalid value {other}.")),
    }
}

fn org_header_update(state: &mut State, field: &Field, variables: &Value) -> Result<Value, String> {
    let path = required(field, "imgPath", variables)?;
    let Some(key) = config_key(state, field, variables)? else {
        return Ok(json!(false));
    };
    state.media.headers.insert(key, path);
    Ok(json!(true))
}

fn org_footer_update(state: &mut State, field: &Field, variables: &Value) -> Result<Value, String> {
    let path = required(field, "imgPath", variables)?;
    let idx = match field.arg("imgIdx", variables) {
        Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
            n.as_i64().unwrap_or_default()
        }
        Value::Null => {
            return Err("Argument \"imgIdx\" of required type \"Int!\" was not provided.".into())
        }
        other => return Err(format!("Argument \"imgIdx\" has an invalid value {other}.")),
    };
    let Some(key) = config_key(state, field, variables)? else {
        return Ok(json!(false));
    };
    let images = state.media.footers.entry(key).or_default();
    // mentor-graphql appends for any index past the end (a negative one too).
    match usize::try_from(idx).ok().filter(|i| *i < images.len()) {
        Some(i) => images[i] = path,
        None => images.push(path),
    }
    Ok(json!(true))
}

#[derive(Deserialize)]
struct SeedOrg {
    id: String,
    #[serde(flatten)]
    org: Org,
}

#[derive(Deserialize)]
struct SeedMentor {
    id: String,
}

/// Unrecorded `/_fake/…` routes seeding or reading this state.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/_fake/org", post(seed_org))
        .route("/_fake/mentor", post(seed_mentor))
        .route("/_fake/org-images", get(org_images))
}

async fn seed_org(Extract(shared): Extract<Shared>, Json(seed): Json<SeedOrg>) -> StatusCode {
    shared.lock().media.orgs.insert(seed.id, seed.org);
    StatusCode::NO_CONTENT
}

async fn seed_mentor(Extract(shared): Extract<Shared>, Json(seed): Json<SeedMentor>) -> StatusCode {
    shared.lock().media.mentors.insert(seed.id);
    StatusCode::NO_CONTENT
}

async fn org_images(Extract(shared): Extract<Shared>) -> Json<Value> {
    let state = shared.lock();
    Json(json!({ "headers": state.media.headers, "footers": state.media.footers }))
}

impl GraphqlFake {
    /// An organization whose members are `(user id, role)` pairs.
    pub fn add_org(&self, id: &str, members: &[(&str, &str)]) {
        let org = Org {
            name: Some(format!("org {id}")),
            members: members
                .iter()
                .map(|(user, role)| Membership {
                    user: user.to_string(),
                    role: role.to_string(),
                })
                .collect(),
        };
        self.shared.lock().media.orgs.insert(id.to_string(), org);
    }

    /// A mentor that exists; from the first one on, unseeded mentors do not (module doc).
    pub fn add_mentor(&self, id: &str) {
        self.shared.lock().media.mentors.insert(id.to_string());
    }

    /// The header image URL of the organization, or of the site for `None`.
    pub fn org_header(&self, org: Option<&str>) -> Option<String> {
        self.shared
            .lock()
            .media
            .headers
            .get(org.unwrap_or(SITE))
            .cloned()
    }

    /// The footer image URLs of the organization, or of the site for `None`, in index order.
    pub fn org_footers(&self, org: Option<&str>) -> Vec<String> {
        self.shared
            .lock()
            .media
            .footers
            .get(org.unwrap_or(SITE))
            .cloned()
            .unwrap_or_default()
    }
}
