//! One module per service: its stage settings and `fn stack(stage: &Stage) -> Stack`.
//! To add a service: write `<service>.rs` with `Settings` (and its `validate(&self, local)`) and
//! `stack`, then add one line to the [`services!`] list below.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::cfn::Val;
use crate::constructs::Stack;
use crate::stage::Stage;

/// The one registry of services: each `module: "name"` line declares the module and generates
/// its entry in [`SERVICES`], its `services:` key in [`ServiceSettings`], its validation and its
/// stack in [`stacks`], so a service cannot be half-registered.
macro_rules! services {
    ($($module:ident: $name:literal),+ $(,)?) => {
        $(pub mod $module;)+

        /// The services this repository deploys, in the order their stacks are listed.
        pub const SERVICES: &[&str] = &[$($name),+];

        /// `services:` in a stage file: one entry per service, each optional.
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct ServiceSettings {
            $(
                #[serde(rename = $name)]
                pub $module: $module::Settings,
            )+
        }

        impl ServiceSettings {
            /// Rules that need more than one value; `Err((key path, message))`.
            pub(crate) fn validate(&self, local: bool) -> Result<(), (String, String)> {
                $(
                    self.$module
                        .validate(local)
                        .map_err(|(k, m)| (format!("services.{}.{k}", $name), m))?;
                )+
                Ok(())
            }
        }

        /// Every service's stack for `stage`.
        pub fn stacks(stage: &Stage) -> Vec<Stack> {
            vec![$($module::stack(stage)),+]
        }

        #[cfg(test)]
        mod registry_tests {
            #[test]
            fn each_module_names_itself_as_registered() {
                $(assert_eq!(super::$module::SERVICE, $name);)+
            }
        }
    };
}

services! {
    mips_cache: "mips-cache",
    canvas_data: "canvas-data",
    webhook_runner: "webhook-runner",
    skill_sync: "skill-sync",
    upload_processor: "upload-processor",
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
