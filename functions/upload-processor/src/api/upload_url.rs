//! `GET /upload/url` (spec §1.5): a presigned POST for exactly `{jwt.id}/{uuid}` in the upload
//! bucket, at most `UPLOAD_MAX_BYTES`, valid for an hour.

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::post_policy::{self, PostPolicy, PresignedPost, SigningCredentials};
use super::{caller, Response, Settings, UPLOAD_URL_EXPIRY};

pub const ROUTE: &str = "GET /upload/url";

/// The raw upload's key: under the caller's id, which `POST /upload/answer` checks.
pub fn upload_key(user_id: &str, id: Uuid) -> String {
    format!("{user_id}/{id}")
}

/// The presigned POST for `key`, signed with `credentials` at `now`.
pub fn presigned_post(
    settings: &Settings,
    key: &str,
    credentials: &aws_credential_types::Credentials,
    now: OffsetDateTime,
) -> PresignedPost {
    post_policy::presign(
        settings.upload_url(),
        &PostPolicy {
            bucket: &settings.upload_bucket,
            key,
            max_bytes: settings.upload_max_bytes,
            expires_in: UPLOAD_URL_EXPIRY,
        },
        &settings.region,
        &SigningCredentials {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
        },
        now,
    )
}

/// 200 `{"data": {"url", "fields"}}`; 401 without a valid verdict; 500 when the function's own
/// credentials cannot be resolved.
pub async fn handle(
    event: &serde_json::Value,
    settings: &Settings,
    provider: &SharedCredentialsProvider,
    now: OffsetDateTime,
) -> Response {
    let claims = match caller(event, now) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let credentials = match provider.provide_credentials().await {
        Ok(c) => c,
        Err(e) => {
            // The provider's error names the source that failed, never a key.
            tracing::error!(error = %e, "no credentials to sign with");
            return Response::error(500, "the upload URL cannot be signed");
        }
    };
    let key = upload_key(&claims.id, Uuid::new_v4());
    let post = presigned_post(settings, &key, &credentials, now);
    tracing::info!(user = %claims.id, key, "upload URL issued");
    Response::data(200, json!({ "url": post.url, "fields": post.fields }))
}
