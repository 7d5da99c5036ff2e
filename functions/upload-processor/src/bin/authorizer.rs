//! Lambda entry point of `upload-processor-authorizer`: the HTTP API's REQUEST authorizer. It
//! always allows and answers a verdict in the context (docs/upload-processor.md, "Authorization:
//! why invalid tokens reach the handler").

use anyhow::Context as _;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use time::OffsetDateTime;
use upload_processor::auth::Verifier;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::init_tracing();
    let verifier = verifier().await?;
    let verifier = &verifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(verifier.authorize(&event.payload, OffsetDateTime::now_utc()))
    }))
    .await
}

/// The key is read once per cold start: API Gateway caches verdicts for 300 s anyway, so a
/// rotated key takes effect with the next cold start.
async fn verifier() -> anyhow::Result<Verifier> {
    let name = std::env::var("JWT_SECRET_NAME").context("JWT_SECRET_NAME is not set")?;
    let exp_required = match std::env::var("JWT_EXP_REQUIRED").as_deref() {
        Err(_) | Ok("") | Ok("true") => true,
        Ok("false") => false,
        Ok(other) => anyhow::bail!("JWT_EXP_REQUIRED is {other:?}, not true or false"),
    };
    let aws = support::aws_config().await;
    let secret = support::secret_string(&aws, &name)
        .await
        .map_err(|message| anyhow::anyhow!("reading secret {name}: {message}"))?;
    let verifier = Verifier::new(secret.expose().as_bytes(), exp_required)
        .with_context(|| format!("secret {name}"))?;
    tracing::info!(exp_required, "authorizer ready");
    Ok(verifier)
}
