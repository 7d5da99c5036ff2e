//! Lambda entry point of `webhook-runner-intake`: validate an Amperity job and queue it.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let env = webhook_runner::handlers::Env::from_environment().await?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(webhook_runner::handlers::intake(env, &event.payload).await)
    }))
    .await
}
