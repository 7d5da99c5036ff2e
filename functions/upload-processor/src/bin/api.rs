//! Lambda entry point of `upload-processor-api`: the upload, answer, image and subtitle routes
//! (payload 2.0). The clients are built once per cold start; the routes live in the library.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use upload_processor::api::{self, Api};

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let aws = support::aws_config().await;
    let app = Api::from_env(&aws, api::http_client()).await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(app.handle(&event.payload).await)
    }))
    .await
}
