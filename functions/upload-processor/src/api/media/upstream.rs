//! GraphQL and S3 as the media routes use them, with their failures turned into statuses: the
//! server's "no" is 403, its "no such thing" 404, anything else upstream 502 naming the step
//! (never a token).

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

use crate::api::{Api, Response};
use crate::graphql::{Credentials, GraphqlClient, GraphqlError};
use crate::vtt;

use super::keys;

/// A failed GraphQL call: 403 when the server refused the user (their token, or the object with
/// a permission error), 404 when it says the object does not exist, else 502.
pub fn graphql_failed(e: &GraphqlError) -> Response {
    let operation = e.operation().name;
    if e.is_unauthorized() || e.says_no_permission() {
        tracing::info!(error = %e, "refused: GraphQL refused the caller's token");
        return Response::error(403, format!("GraphQL refused {operation} for this user"));
    }
    if e.says_not_found() {
        tracing::info!(error = %e, "GraphQL: not found");
        return Response::error(404, e.to_string());
    }
    tracing::error!(error = %e, "GraphQL call failed");
    Response::error(502, format!("the mentor GraphQL call {operation} failed"))
}

/// G1 with the user's token: may the caller edit `mentor`? Asked before any content is read,
/// so a stranger learns nothing about what they sent (the original validated first, §10.2 #20).
pub async fn authorize_mentor(
    graphql: &GraphqlClient,
    user: &Credentials,
    mentor: &str,
) -> Result<(), Response> {
    match graphql.mentor_can_edit(user, mentor).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::info!(mentor, "refused: mentorCanEdit is false");
            Err(Response::error(403, "not authorized to edit this mentor"))
        }
        Err(e) => Err(graphql_failed(&e)),
    }
}

/// An update mutation's Boolean: `false` means the server kept nothing, after the file was
/// stored, which the client must hear as a failure.
pub fn recorded(result: Result<bool, GraphqlError>, what: &str) -> Result<(), Response> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::error!(what, "GraphQL answered false");
            Err(Response::error(
                502,
                format!("the mentor GraphQL server did not record the {what}"),
            ))
        }
        Err(e) => Err(graphql_failed(&e)),
    }
}

/// Puts `bytes` at `key` with the Content-Type they really have.
pub async fn store(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: impl Into<ByteStream>,
    content_type: &str,
) -> Result<(), Response> {
    match s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(bytes.into())
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(key, content_type, "stored");
            Ok(())
        }
        Err(e) => {
            tracing::error!(key, error = %DisplayErrorContext(&e), "PutObject failed");
            Err(Response::error(502, "storing the file failed"))
        }
    }
}

/// An answer's subtitles, `/vtt`'s and `/regen_vtt`'s: stored as `text/vtt` at
/// `videos/{m}/{q}/en.vtt`, then recorded with G11 as `user`. The stored file's URL.
pub async fn store_subtitles(
    api: &Api,
    user: &Credentials,
    mentor: &str,
    question: &str,
    text: &str,
) -> Result<String, Response> {
    let key = keys::subtitles(mentor, question);
    let media = &api.media;
    store(
        &api.s3,
        &media.static_bucket,
        &key,
        text.as_bytes().to_vec(),
        vtt::CONTENT_TYPE,
    )
    .await?;
    api.graphql
        .update_mentor_vtt(user, mentor, question, &key, text)
        .await
        .map_err(|e| graphql_failed(&e))?;
    Ok(keys::url(&media.static_url_base, &key))
}
