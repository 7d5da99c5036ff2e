//! Lambda entry point of `upload-processor-transfer`: the transfer queue's messages
//! (`{"id": <job>}`, batch size 1), answered with partial batch failures.

use anyhow::Context as _;
use lambda_runtime::{service_fn, LambdaEvent};
use upload_processor::transfer::{self, Worker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    support::init_tracing();
    let aws = support::aws_config().await;
    // Once per cold start: the service key is read here, not per message.
    let worker = Worker::from_env(&aws)
        .await
        .context("configuring the transfer worker")?;
    let worker = &worker;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let deadline = support::deadline_from_epoch_ms(event.context.deadline);
            Ok::<_, lambda_runtime::Error>(
                transfer::handle_sqs_event(worker, &event.payload, Some(deadline)).await,
            )
        },
    ))
    .await
}
