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
    pub name: String,
    pub account: Option<AccountId>,
    pub region: Region,
    pub tags: BTreeMap<String, String>,
    pub alarms: Alarms,
    pub log_level: LogLevel,
    pub log_retention_days: RetentionDays,
    pub tracing: bool,
    pub deploy_role_arn: Option<String>,
    pub local: Option<LocalSettings>,
    pub services: ServiceSettings,
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

impl Stage {
    pub fn is_local(&self) -> bool {
        self.name == "local"
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
