//! Stages: `environments/<stage>.yaml` holds only what differs per stage; defaults live in code.
//! Parsed with `serde_yaml_ng` (the maintained fork of the archived serde_yaml) into typed structs
//! that deny unknown keys; every error names file, line, column and key path.

mod load;
mod schedule;
mod values;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use load::{load, load_all, parse, StageError, STAGES};
pub use schedule::{validate as validate_schedule, ScheduleExpr};
pub use values::{AccountId, LogLevel, Memory, Region, RetentionDays, Timeout};

use crate::services::ServiceSettings;

/// A validated stage: the YAML overrides applied over the defaults in code.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: StageName,
    pub account: Option<AccountId>,
    pub region: Region,
    pub tags: BTreeMap<String, String>,
    pub alarms: Alarms,
    pub log_level: LogLevel,
    pub log_retention_days: RetentionDays,
    pub tracing: bool,
    pub deploy_role_arn: Option<String>,
    /// The GitHub repository whose workflows may deploy this stage (`bootstrap`'s OIDC trust).
    pub repository: Option<Repository>,
    pub local: Option<LocalSettings>,
    pub services: ServiceSettings,
}

/// `repository:` in a stage file: the GitHub repository whose workflows deploy the stage, as
/// `owner/name`, or a mapping when the deploy job runs in a GitHub environment or the account
/// already has GitHub's OIDC provider:
///
/// ```yaml
/// repository: {name: owner/name, environment: production, oidc_provider_arn: arn:aws:iam::…}
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    /// `owner/name`, as GitHub spells it in the token's `sub` claim.
    pub name: String,
    /// The GitHub environment of the deploy job: a job with `environment:` presents
    /// `repo:<name>:environment:<env>` as its `sub` instead of its ref.
    pub environment: Option<String>,
    /// GitHub's OIDC provider when the account already has one (IAM allows one per URL and
    /// account, so a second bootstrap region or another tool's provider must be referenced).
    pub oidc_provider_arn: Option<String>,
}

impl<'de> Deserialize<'de> for Repository {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            name: String,
            environment: Option<String>,
            oidc_provider_arn: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Short(String),
            Full(Full),
        }
        use serde::de::Error;
        let full = match Form::deserialize(d).map_err(|_| {
            D::Error::custom(
                "repository must be `owner/name` or {name: owner/name, environment: <github environment>, oidc_provider_arn: <arn>}",
            )
        })? {
            Form::Short(name) => Full {
                name,
                environment: None,
                oidc_provider_arn: None,
            },
            Form::Full(f) => f,
        };
        validate_repository(&full.name).map_err(D::Error::custom)?;
        if let Some(env) = &full.environment {
            // GitHub environment names: up to 255 characters, no `:` (it would end the claim's
            // field) and no `*`/`?` (IAM's StringLike would read them as wildcards).
            if env.is_empty() || env.len() > 255 || env.contains([':', '*', '?', '/']) {
                return Err(D::Error::custom(format!(
                    "repository.environment `{env}` is not a GitHub environment name"
                )));
            }
        }
        if let Some(arn) = &full.oidc_provider_arn {
            let ok = arn.starts_with("arn:")
                && arn.contains(":iam::")
                && arn.ends_with(":oidc-provider/token.actions.githubusercontent.com");
            if !ok {
                return Err(D::Error::custom(format!(
                    "repository.oidc_provider_arn `{arn}` is not the ARN of GitHub's OIDC provider (arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com)"
                )));
            }
        }
        Ok(Repository {
            name: full.name,
            environment: full.environment,
            oidc_provider_arn: full.oidc_provider_arn,
        })
    }
}

/// `owner/name` as GitHub allows it. The name ends up inside an IAM `StringLike` condition, so a
/// `*` or `?` here would widen the trust to other repositories: refused, not escaped.
pub fn validate_repository(name: &str) -> Result<(), String> {
    let bad = || {
        format!("repository must be `owner/name` (GitHub's spelling, e.g. `example-org/serverless-platform`), got `{name}`")
    };
    let (owner, repo) = name.split_once('/').ok_or_else(bad)?;
    let owner_ok = !owner.is_empty()
        && owner.len() <= 39
        && !owner.starts_with('-')
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let repo_ok = !repo.is_empty()
        && repo.len() <= 100
        && repo != "."
        && repo != ".."
        && repo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if owner_ok && repo_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Where alarms go: a topic the stack creates (with an optional e-mail subscription), or an
/// existing topic by ARN.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarms {
    pub email: Option<String>,
    pub topic_arn: Option<String>,
}

/// Only in `local.yaml`: where the local stage's emulator and database listen.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSettings {
    pub emulator_port: u16,
    pub postgres_port: u16,
    /// The local Lambda service: the Invoke API that runs deployed zips, in front of the emulator.
    pub lambda_port: u16,
    /// The first port of the local HTTP APIs: each `HttpApi` gets the next one, in name order.
    pub api_port: u16,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            emulator_port: 5000,
            postgres_port: 54329,
            lambda_port: 5100,
            api_port: 5110,
        }
    }
}

/// Per-function overrides, under `services.<service>.functions.<function>`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionOverrides {
    pub memory: Option<Memory>,
    pub timeout: Option<Timeout>,
    pub reserved_concurrency: Option<u32>,
    pub log_level: Option<LogLevel>,
}

/// What a function runs with in this stage.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    pub memory: u32,
    pub timeout: u32,
    pub reserved_concurrency: Option<u32>,
    pub log_level: LogLevel,
}

/// A stage's name, as its file is named (`environments/<name>.yaml`). What a name implies (the
/// local emulator, prod's guards) is asked of this type, never by comparing strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageName(String);

impl StageName {
    pub fn new(name: impl Into<String>) -> StageName {
        StageName(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The emulated stage on this machine.
    pub fn is_local(&self) -> bool {
        self.0 == "local"
    }

    /// The stage users depend on: deploys need the stage named, hotswap is refused, databases
    /// are protected from deletion.
    pub fn is_prod(&self) -> bool {
        self.0 == "prod"
    }
}

impl std::ops::Deref for StageName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for StageName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for StageName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Stage {
    pub fn is_local(&self) -> bool {
        self.name.is_local()
    }

    pub fn is_prod(&self) -> bool {
        self.name.is_prod()
    }

    /// The account as a template value: the literal id, or the deploying account.
    pub fn account_or_pseudo(&self) -> String {
        match &self.account {
            Some(a) => a.0.clone(),
            None => "${AWS::AccountId}".into(),
        }
    }

    /// A function's settings: code defaults (`memory`, `timeout`) under the stage's overrides.
    pub fn function_config(
        &self,
        memory: u32,
        timeout: u32,
        overrides: &Option<FunctionOverrides>,
    ) -> FunctionConfig {
        let o = overrides.clone().unwrap_or_default();
        FunctionConfig {
            memory: o.memory.map_or(memory, |m| m.0),
            timeout: o.timeout.map_or(timeout, |t| t.0),
            reserved_concurrency: o.reserved_concurrency,
            log_level: o.log_level.unwrap_or(self.log_level),
        }
    }

    /// The AWS endpoint every client of this stage uses: the local emulator, or `None` for AWS.
    pub fn aws_endpoint(&self) -> Option<String> {
        self.local
            .as_ref()
            .map(|l| format!("http://127.0.0.1:{}", l.emulator_port))
    }

    /// Where Lambda calls go: in the local stage, the local Lambda service, which runs the
    /// deployed code for Invoke and hands every other Lambda call to the emulator.
    pub fn lambda_endpoint(&self) -> Option<String> {
        self.local
            .as_ref()
            .map(|l| format!("http://127.0.0.1:{}", l.lambda_port))
    }

    /// The bucket `cargo xtask deploy` bootstraps for function zips and large templates.
    pub fn asset_bucket(&self) -> String {
        match &self.account {
            Some(a) => format!("serverless-assets-{}-{}", a.0, self.region),
            None => format!("serverless-assets-{}-{}", self.name, self.region),
        }
    }
}

#[cfg(test)]
mod repository_tests {
    use super::*;

    fn stage(yaml: &str) -> Result<Stage, StageError> {
        // local: the one stage that parses without the AWS stages' required settings
        parse(
            "local",
            "environments/local.yaml",
            &format!("log_level: info\n{yaml}"),
        )
    }

    #[test]
    fn a_repository_is_owner_slash_name_or_a_mapping() {
        let short = stage("repository: acme/serverless-platform\n").unwrap();
        assert_eq!(
            short.repository,
            Some(Repository {
                name: "acme/serverless-platform".into(),
                environment: None,
                oidc_provider_arn: None
            })
        );
        let full = stage("repository:\n  name: acme/x.y_z\n  environment: production\n  oidc_provider_arn: arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com\n").unwrap();
        let r = full.repository.unwrap();
        assert_eq!(r.environment.as_deref(), Some("production"));
        assert!(r.oidc_provider_arn.is_some());
        assert_eq!(stage("").unwrap().repository, None);
    }

    #[test]
    fn a_repository_that_would_widen_the_trust_is_refused_with_its_line() {
        for bad in [
            "acme/*", "acme", "*/x", "acme/x/y", "-acme/x", "acme/", "ac me/x",
        ] {
            let e = stage(&format!("tracing: false\nrepository: \"{bad}\"\n")).unwrap_err();
            assert_eq!((e.line, e.path.as_str()), (3, "repository"), "{bad}: {e}");
            assert!(e.message.contains("owner/name"), "{bad}: {e}");
        }
        let e = stage("repository: {name: acme/x, environment: \"qa*\"}\n").unwrap_err();
        assert!(e.message.contains("environment"), "{e}");
        let e = stage("repository: {name: acme/x, oidc_provider_arn: \"arn:aws:iam::1:role/x\"}\n")
            .unwrap_err();
        assert!(e.message.contains("OIDC provider"), "{e}");
        let e = stage("repository: {name: acme/x, branch: main}\n").unwrap_err();
        assert!(e.message.contains("repository must be"), "{e}");
    }
}
