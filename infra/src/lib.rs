//! Typed infrastructure: the CloudFormation model (L1, generated), constructs (L2), checks,
//! stages and the service stacks. `synth` ties them together.

pub mod bootstrap;
pub mod cfn;
pub mod checks;
pub mod constructs;
pub mod services;
pub mod stage;
pub mod synth;

pub use synth::{synth_stack, synth_stage, SynthError, SynthesizedStack};
