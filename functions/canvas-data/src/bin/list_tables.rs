//! Lambda entry point of `canvas-data-list-tables`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let env = canvas_data::handlers::Env::from_environment().await?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        canvas_data::handlers::list_tables(env, &event.payload).await
    }))
    .await
}
