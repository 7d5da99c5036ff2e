//! Lambda entry point of `mips-cache-refresh`: `{"action": "refresh"}` from the schedule, the
//! API's `POST /cache/refresh` or a direct invocation.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let app = mips_cache::refresh_from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = support::deadline_from_epoch_ms(event.context.deadline);
        mips_cache::refresh::handle(app, event.payload, deadline).await
    }))
    .await
}
