//! Lambda entry point of `webhook-runner-worker`: run queued jobs until the deadline nears.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let env = webhook_runner::handlers::Env::from_environment().await?;
    let env = &env;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = support::deadline_from_epoch_ms(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(
            webhook_runner::handlers::worker(env, &event.payload, deadline).await,
        )
    }))
    .await
}
