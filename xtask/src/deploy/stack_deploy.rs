//! One stack on its way through the phases: what synth made, the zips it needs, what
//! CloudFormation is given, the plan, and what became of it. Each phase fills in its part, so a
//! later phase (and the final report) knows the state of every stack.

use std::collections::BTreeMap;
use std::time::Duration;

use infra::SynthesizedStack;

use super::stack::{Input, Plan};
use super::zips::NeededZip;

pub struct StackDeploy {
    pub synth: SynthesizedStack,
    /// The zips its parameters name (function code, layer content).
    pub zips: Vec<NeededZip>,
    /// What CloudFormation gets; the upload phase sets the parameters and template URL.
    pub input: Input,
    /// Set by the plan phase.
    pub plan: Option<Plan>,
    pub outcome: Outcome,
}

/// What became of a stack.
#[derive(Debug)]
pub enum Outcome {
    /// Not executed (yet): up to date, or planned and waiting.
    Pending,
    /// Its code and definitions were updated outside CloudFormation.
    Hotswapped(String),
    Deployed {
        outputs: BTreeMap<String, String>,
        elapsed: Duration,
    },
    /// Execution failed; the message says in what state CloudFormation left it.
    Failed(String),
}

impl StackDeploy {
    pub fn new(synth: SynthesizedStack, role_arn: Option<String>) -> StackDeploy {
        let zips = super::zips::needed(&synth);
        let input = Input {
            name: synth.name.clone(),
            body: synth.body.clone(),
            template_url: None,
            parameters: BTreeMap::new(),
            role_arn,
        };
        StackDeploy {
            synth,
            zips,
            input,
            plan: None,
            outcome: Outcome::Pending,
        }
    }

    pub fn name(&self) -> &str {
        &self.input.name
    }

    /// Planned with changes and not yet hotswapped or executed: CloudFormation has work to do.
    pub fn has_changes(&self) -> bool {
        matches!(self.outcome, Outcome::Pending)
            && self
                .plan
                .as_ref()
                .is_some_and(|p| !matches!(p, Plan::NoChanges))
    }

    pub fn is_hotswapped(&self) -> bool {
        matches!(self.outcome, Outcome::Hotswapped(_))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use infra::constructs::{Function, FunctionProps, LayerProps, LayerVersion, Stack};

    /// A synthesized stack of `service` on the local stage: one function that uses one layer,
    /// as upload-processor's transcoder will.
    pub fn synth_with_layer(service: &str, asset: &str) -> SynthesizedStack {
        let stage = infra::stage::parse("local", "local.yaml", "").unwrap();
        let stack = Stack::new(service, &stage, "a function with a layer");
        let layer = LayerVersion::new(
            &stack,
            "ffmpeg",
            LayerProps {
                asset: asset.into(),
                ..LayerProps::default()
            },
        );
        Function::new(
            &stack,
            "transcode",
            FunctionProps {
                description: "test".into(),
                config: stage.function_config(1024, 60, &None),
                layers: vec![layer],
                ..Default::default()
            },
        );
        infra::synth_stack(stack).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn demo(service: &str) -> StackDeploy {
        StackDeploy::new(
            synth_with_layer(service, "target/lambda/layers/ffmpeg.zip"),
            None,
        )
    }

    #[test]
    fn a_new_stack_deploy_knows_its_zips_and_waits_for_its_plan() {
        let s = demo("demo");
        assert_eq!(s.name(), s.synth.name);
        assert_eq!(s.zips.len(), 2);
        assert!(s.input.parameters.is_empty(), "set by the upload phase");
        assert!(!s.has_changes(), "not planned yet");
        let mut planned = demo("demo");
        planned.plan = Some(Plan::Update {
            changes: vec![],
            change_set: None,
        });
        assert!(planned.has_changes());
        planned.outcome = Outcome::Hotswapped("code".into());
        assert!(!planned.has_changes() && planned.is_hotswapped());
    }
}
