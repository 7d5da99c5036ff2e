//! Lambda entry point of `canvas-data-sync-table`: applies changes until the deadline nears.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let env = canvas_data::handlers::Env::from_environment().await?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = support::deadline_from_epoch_ms(event.context.deadline);
        canvas_data::handlers::sync(env, &event.payload, deadline).await
    }))
    .await
}
