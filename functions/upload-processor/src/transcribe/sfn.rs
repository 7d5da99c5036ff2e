//! Completing a task token. The token is the only credential here: it goes to Step Functions and
//! nowhere else (never a log line, never an error message).

use aws_sdk_sfn::error::ProvideErrorMetadata;
use support::Secret;

use super::decide::{token_closed, truncate};
use super::{describe, TranscribeError};

/// How Step Functions took a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    Accepted,
    /// The token was already used, timed out, or its execution is over: nothing to retry.
    Closed,
}

fn outcome<E, R>(
    operation: &'static str,
    result: Result<impl Sized, aws_sdk_sfn::error::SdkError<E, R>>,
) -> Result<TokenOutcome, TranscribeError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(TokenOutcome::Accepted),
        Err(e) if token_closed(e.code()) => {
            tracing::warn!(
                operation,
                code = e.code(),
                "the task token is already closed"
            );
            Ok(TokenOutcome::Closed)
        }
        Err(e) => Err(TranscribeError::Sfn {
            operation,
            message: describe(&e),
        }),
    }
}

/// `SendTaskSuccess` with `{}` (the branch's result is not used).
pub async fn send_success(
    sfn: &aws_sdk_sfn::Client,
    token: &Secret,
) -> Result<TokenOutcome, TranscribeError> {
    let r = sfn
        .send_task_success()
        .task_token(token.expose())
        .output("{}")
        .send()
        .await;
    outcome("SendTaskSuccess", r)
}

/// `SendTaskFailure` with an error name and a reason (cut to the API's limits).
pub async fn send_failure(
    sfn: &aws_sdk_sfn::Client,
    token: &Secret,
    error: &str,
    cause: &str,
) -> Result<TokenOutcome, TranscribeError> {
    let r = sfn
        .send_task_failure()
        .task_token(token.expose())
        .error(truncate(error, 256))
        .cause(truncate(cause, 32_000))
        .send()
        .await;
    outcome("SendTaskFailure", r)
}

pub async fn heartbeat(
    sfn: &aws_sdk_sfn::Client,
    token: &Secret,
) -> Result<TokenOutcome, TranscribeError> {
    let r = sfn
        .send_task_heartbeat()
        .task_token(token.expose())
        .send()
        .await;
    outcome("SendTaskHeartbeat", r)
}
