//! Lambda entry point of `upload-processor-transcribe`: the state machine's callback task
//! (`{"step": "transcribe-start", ...}`), the S3 notification of Transcribe's output, and the
//! schedule that watches running jobs.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    support::init_tracing();
    // Once per cold start: the GraphQL service key is read here, not per event.
    let env = upload_processor::transcribe::Env::from_environment()
        .await
        .map_err(anyhow::Error::from)?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        upload_processor::transcribe::handle(env, &event.payload)
            .await
            .map_err(|e| {
                tracing::error!(kind = e.kind(), error = %e, "transcribe failed");
                Diagnostic {
                    error_type: e.kind().to_string(),
                    error_message: e.to_string(),
                }
            })
    }))
    .await
}
