//! AWS clients for a stage: the local emulator for `local`, the default credential chain otherwise.

use std::fmt::Debug;

use anyhow::{bail, Result};
use aws_config::{Region, SdkConfig};
use aws_sdk_cloudformation::config::ProvideCredentials;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use infra::stage::Stage;

const CREDENTIALS_HINT: &str = "set credentials: `aws sso login --profile <p>` and AWS_PROFILE=<p>, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; CI uses OIDC";

pub async fn config(stage: &Stage) -> SdkConfig {
    let loader = support::aws_loader().region(Region::new(stage.region.0.clone()));
    match stage.aws_endpoint() {
        Some(endpoint) => {
            // The emulator accepts any credentials; fixed ones keep a developer's real keys out of it.
            let local = crate::local::gateway::sigv4::LOCAL_CREDENTIALS;
            let creds = aws_sdk_cloudformation::config::Credentials::new(
                local.access_key_id,
                local.secret_access_key,
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
    pub sqs: aws_sdk_sqs::Client,
}

/// Fails fast, before any build or upload, when an AWS stage has no usable credentials: the SDK
/// would otherwise report it on the first call as a dispatch failure buried in a debug dump.
/// `conf` is the stage's [`config`], the one the clients are then built from, so the profile and
/// credential chain are loaded once per command.
pub async fn check_credentials(stage: &Stage, conf: &SdkConfig) -> Result<()> {
    if stage.is_local() {
        return Ok(());
    }
    let Some(provider) = conf.credentials_provider() else {
        bail!(
            "no AWS credential provider for stage `{}`\n  hint: {CREDENTIALS_HINT}",
            stage.name
        );
    };
    if let Err(e) = provider.provide_credentials().await {
        bail!(
            "no AWS credentials for stage `{}` (account {}, {}): {}\n  hint: {CREDENTIALS_HINT}",
            stage.name,
            stage
                .account
                .as_ref()
                .map_or("not pinned", |a| a.0.as_str()),
            stage.region.0,
            chain(&e)
        );
    }
    if let Some(expected) = &stage.account {
        let actual = caller_account(conf).await?;
        if let Some(why) = account_mismatch(&stage.name, &expected.0, &actual) {
            bail!("{why}");
        }
    }
    Ok(())
}

/// The account the credentials belong to (sts:GetCallerIdentity, which needs no permission).
pub async fn caller_account(conf: &SdkConfig) -> Result<String> {
    let out = aws_sdk_sts::Client::new(conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| explain("sts:GetCallerIdentity", "(the current credentials)", e))?;
    Ok(out.account().unwrap_or_default().to_string())
}

/// Credentials of another account than the stage names would deploy the stage's settings where
/// they do not belong; CDK refuses the same way.
pub fn account_mismatch(stage: &str, expected: &str, actual: &str) -> Option<String> {
    (expected != actual).then(|| {
        format!(
            "the credentials are for account {actual}, but stage `{stage}` is pinned to account {expected} (environments/{stage}.yaml)\n  hint: switch to that account's profile (AWS_PROFILE) or role; nothing was changed"
        )
    })
}

impl Clients {
    /// Clients after [`check_credentials`]: what every command that talks to AWS starts with.
    pub async fn connect(stage: &Stage) -> Result<Clients> {
        let conf = config(stage).await;
        check_credentials(stage, &conf).await?;
        Ok(Clients::from_config(stage, &conf))
    }

    pub async fn new(stage: &Stage) -> Clients {
        Clients::from_config(stage, &config(stage).await)
    }

    pub fn from_config(stage: &Stage, conf: &SdkConfig) -> Clients {
        let s3_conf = aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(stage.is_local())
            .build();
        Clients {
            cfn: aws_sdk_cloudformation::Client::new(conf),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            lambda: match stage.lambda_endpoint() {
                Some(url) => aws_sdk_lambda::Client::from_conf(
                    aws_sdk_lambda::config::Builder::from(conf)
                        .endpoint_url(url)
                        .build(),
                ),
                None => aws_sdk_lambda::Client::new(conf),
            },
            sfn: aws_sdk_sfn::Client::new(conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(conf),
            sqs: aws_sdk_sqs::Client::new(conf),
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
        chain(&err)
    } else {
        format!("{code}: {message}")
    };
    let hint = hint(&code, &message, &detail);
    anyhow::anyhow!("{operation} {resource} failed: {detail}{hint}")
}

fn hint(code: &str, message: &str, detail: &str) -> String {
    let h = if detail.contains("no credentials")
        || detail.contains("loading credentials")
        || detail.contains("NoCredentials")
        || code == "ExpiredToken"
        || code == "ExpiredTokenException"
        || code == "InvalidClientTokenId"
        || code == "UnrecognizedClientException"
    {
        CREDENTIALS_HINT
    } else if detail.contains("Connection refused") || detail.contains("dispatch failure") {
        "the endpoint did not answer: for the local stage run `cargo xtask local up`; for an AWS stage check the network, proxy and region"
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

/// An error and its sources on one line, each message once: the SDK nests the same text at
/// several levels, and its debug form would put raw response bytes in front of the operator.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn chain_names_each_cause_once() {
        let inner = E("failed to load IMDS session token", None);
        let mid = E("failed to load IMDS session token", Some(Box::new(inner)));
        let outer = E(
            "an error occurred while loading credentials",
            Some(Box::new(mid)),
        );
        assert_eq!(
            chain(&outer),
            "an error occurred while loading credentials: failed to load IMDS session token"
        );
    }

    #[test]
    fn credentials_of_another_account_are_refused_with_both_accounts_named() {
        assert_eq!(
            account_mismatch("dev", "111111111111", "111111111111"),
            None
        );
        let why = account_mismatch("prod", "333333333333", "111111111111").unwrap();
        assert!(
            why.contains("333333333333") && why.contains("111111111111"),
            "{why}"
        );
        assert!(why.contains("environments/prod.yaml"), "{why}");
    }

    #[test]
    fn a_credentials_failure_says_how_to_set_them_not_to_start_the_emulator() {
        let h = hint(
            "",
            "",
            "dispatch failure: other: an error occurred while loading credentials",
        );
        assert!(h.contains("aws sso login"), "{h}");
        assert!(!h.contains("local up"), "{h}");
        let h = hint("", "", "dispatch failure: io error: Connection refused");
        assert!(h.contains("local up"), "{h}");
    }
}
