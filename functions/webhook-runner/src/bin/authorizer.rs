//! Lambda entry point of `webhook-runner-authorizer`: the intake route's HTTP API authorizer. It
//! checks the caller's `x-api-key` and always allows, with its verdict in the context for the
//! intake to answer 401 (docs/webhook-runner.md, "Who may post a job").

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let authorizer = webhook_runner::auth::Authorizer::from_environment().await?;
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| async move {
            Ok::<ApiGatewayV2CustomAuthorizerSimpleResponse, Error>(
                authorizer.authorize(&event.payload).await,
            )
        },
    ))
    .await
}
