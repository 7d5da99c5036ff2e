//! Lambda entry point of `mips-cache-api`: HTTP API routes and `{"action": "purge"}`.
// The handler's nested async state machine is deeper than rustc's default layout limit.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let app = mips_cache::api_from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = support::deadline_from_epoch_ms(event.context.deadline);
        app.handle(event.payload, deadline).await
    }))
    .await
}
