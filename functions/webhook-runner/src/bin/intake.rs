//! Lambda entry point of `webhook-runner-intake`: with the authorizer's verdict on the caller's
//! key, validate an Amperity job and queue it.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let env = webhook_runner::handlers::Env::from_environment().await?;
    let env = &env;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<ApiGatewayV2httpResponse, Error>(
                webhook_runner::handlers::intake(env, &event.payload).await,
            )
        },
    ))
    .await
}
