//! The fake's side of the media routes' GraphQL operations.

use axum::Router;
use serde_json::Value;

use super::document::Field;
use super::principal::Principal;
use super::{Shared, State};

#[derive(Debug, Default)]
pub(crate) struct MediaState {}

/// A query root field of these routes, or `None` when the field is not one of theirs.
pub(crate) fn query(
    _state: &mut State,
    _principal: &Principal,
    _field: &Field,
    _variables: &Value,
) -> Option<Result<Value, String>> {
    None
}

/// A field under the `api` mutation root, or `None` when the field is not one of theirs.
pub(crate) fn mutation(
    _state: &mut State,
    _principal: &Principal,
    _field: &Field,
    _variables: &Value,
) -> Option<Result<Value, String>> {
    None
}

/// Unrecorded `/_fake/…` routes seeding or reading this state.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
}
