//! Lambda entry point of `skill-sync-sync`: the scheduled sync (event `{}`), or a check
//! (`{"check": true}`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let env = skill_sync::handler::Env::from_environment().await?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        skill_sync::handler::handle(env, &event.payload).await
    }))
    .await
}
