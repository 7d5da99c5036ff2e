//! Lambda entry point of `webhook-runner-worker`: run queued jobs until the deadline nears.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let env = webhook_runner::handlers::Env::from_environment().await?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let left = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        let deadline = Instant::now() + left;
        Ok::<Value, Error>(webhook_runner::handlers::worker(env, &event.payload, deadline).await)
    }))
    .await
}
