//! AWS clients for a stage: the local emulator for `local`, the default credential chain otherwise.

use std::fmt::Debug;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use infra::stage::Stage;

pub async fn config(stage: &Stage) -> SdkConfig {
    let loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(stage.region.0.clone()));
    match stage.aws_endpoint() {
        Some(endpoint) => {
            // The emulator accepts any credentials; fixed ones keep a developer's real keys out of it.
            let creds = aws_sdk_cloudformation::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "local-stage",
            );
            loader
                .endpoint_url(endpoint)
                .credentials_provider(creds)
                .load()
                .await
        }
        None => loader.load().await,
    }
}

pub struct Clients {
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    pub async fn new(stage: &Stage) -> Clients {
        let conf = config(stage).await;
        let s3_conf = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(stage.is_local())
            .build();
        Clients {
            cfn: aws_sdk_cloudformation::Client::new(&conf),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            lambda: match stage.lambda_endpoint() {
                Some(url) => aws_sdk_lambda::Client::from_conf(
                    aws_sdk_lambda::config::Builder::from(&conf)
                        .endpoint_url(url)
                        .build(),
                ),
                None => aws_sdk_lambda::Client::new(&conf),
            },
            sfn: aws_sdk_sfn::Client::new(&conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
        }
    }
}

/// An AWS error as the operator needs it: the operation, the resource, what AWS said, what to do.
pub fn explain<E>(
    operation: &str,
    resource: &str,
    err: aws_sdk_cloudformation::error::SdkError<E>,
) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Debug + Send + Sync + 'static,
{
    let code = err.code().unwrap_or_default().to_string();
    let message = err.message().unwrap_or_default().to_string();
    let detail = if code.is_empty() && message.is_empty() {
        DisplayErrorContext(&err).to_string()
    } else {
        format!("{code}: {message}")
    };
    let hint = hint(&code, &message, &detail);
    anyhow::anyhow!("{operation} {resource} failed: {detail}{hint}")
}

fn hint(code: &str, message: &str, detail: &str) -> String {
    let h = if detail.contains("no credentials")
        || detail.contains("NoCredentials")
        || code == "ExpiredToken"
    {
        "set credentials: `aws sso login --profile <p>` and AWS_PROFILE=<p>, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; CI uses OIDC"
    } else if detail.contains("Connection refused") || detail.contains("dispatch failure") {
        "the endpoint did not answer; for the local stage run `cargo xtask local up`"
    } else if message.contains("ROLLBACK_COMPLETE") {
        "the stack failed its first create and can only be deleted: `cargo xtask destroy --stage <stage> --service <service>`, then deploy again"
    } else if code == "Throttling" || code == "ThrottlingException" {
        "AWS throttled the call after retries; wait a minute and run again"
    } else if code == "AccessDenied" || code == "AccessDeniedException" {
        "the credentials lack this permission; use the stage's deploy role"
    } else {
        ""
    };
    if h.is_empty() {
        String::new()
    } else {
        format!("\n  hint: {h}")
    }
}
