//! One module per service: its stage settings and `fn stack(stage: &Stage) -> Stack`.
//! To add a service: write `<service>.rs` with `Settings` and `stack`, add it to
//! [`ServiceSettings`], [`SERVICES`] and [`stacks`].

pub mod canvas_data;
pub mod mips_cache;
pub mod skill_sync;
pub mod upload_processor;
pub mod webhook_runner;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::cfn::Val;
use crate::constructs::Stack;
use crate::stage::Stage;

/// The services this repository deploys, in the order their stacks are listed.
pub const SERVICES: &[&str] = &[
    "mips-cache",
    "canvas-data",
    "webhook-runner",
    "skill-sync",
    "upload-processor",
];

/// `services:` in a stage file: one entry per service, each optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    #[serde(rename = "mips-cache")]
    pub mips_cache: mips_cache::Settings,
    #[serde(rename = "canvas-data")]
    pub canvas_data: canvas_data::Settings,
    #[serde(rename = "webhook-runner")]
    pub webhook_runner: webhook_runner::Settings,
    #[serde(rename = "skill-sync")]
    pub skill_sync: skill_sync::Settings,
    #[serde(rename = "upload-processor")]
    pub upload_processor: upload_processor::Settings,
}

impl ServiceSettings {
    /// Rules that need more than one value; `Err((key path, message))`.
    pub(crate) fn validate(&self, local: bool) -> Result<(), (String, String)> {
        let scoped = |service: &str, r: Result<(), (String, String)>| {
            r.map_err(|(k, m)| (format!("services.{service}.{k}"), m))
        };
        scoped("mips-cache", self.mips_cache.validate())?;
        scoped("canvas-data", self.canvas_data.validate(local))?;
        scoped("webhook-runner", self.webhook_runner.validate(local))?;
        scoped("skill-sync", self.skill_sync.validate(local))?;
        scoped("upload-processor", self.upload_processor.validate(local))?;
        Ok(())
    }
}

/// Every service's stack for `stage`.
pub fn stacks(stage: &Stage) -> Vec<Stack> {
    vec![
        mips_cache::stack(stage),
        canvas_data::stack(stage),
        webhook_runner::stack(stage),
        skill_sync::stack(stage),
        upload_processor::stack(stage),
    ]
}

/// Function environment from pairs.
pub(crate) fn env(pairs: Vec<(&str, Val<String>)>) -> BTreeMap<String, Val<String>> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn check(ok: bool, key: &str, message: impl FnOnce() -> String) -> Result<(), (String, String)> {
    if ok {
        Ok(())
    } else {
        Err((key.into(), message()))
    }
}
