//! Lambda entry point of `upload-processor-steps`: the state machine's tasks
//! (`{"step": "prepare" | "trim" | "transcode" | "mark-failed", ...}`).

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    support::init_tracing();
    // Once per cold start: the GraphQL service key is read here, not per event.
    let env = upload_processor::steps::Env::from_environment()
        .await
        .map_err(anyhow::Error::from)?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        upload_processor::steps::handle(env, &event.payload)
            .await
            .map_err(|e| {
                tracing::error!(kind = e.kind(), error = %e, "step failed");
                // The error type is the state machine's `Error`, which its Retry and Catch match.
                Diagnostic {
                    error_type: e.kind().to_string(),
                    error_message: e.to_string(),
                }
            })
    }))
    .await
}
