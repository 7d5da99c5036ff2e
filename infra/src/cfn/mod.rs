//! L1: the CloudFormation model. `generated/` holds one typed struct per resource type and property
//! type, produced by `cargo xtask codegen` from the resource provider schemas; never edit it by hand.

pub mod generated;
mod intrinsic;
mod template;

pub use generated::*;
pub use intrinsic::{arn_prefix, get_att, r#ref, sub, Intrinsic, Val};
pub use template::{DuplicateId, Output, Parameter, ResourceEntry, Template};

/// A free-form JSON property (policy documents, unions the schema leaves open).
pub type Json = serde_json::Value;

/// Implemented by every generated resource struct.
pub trait CfnResource: serde::Serialize {
    /// `AWS::Service::Resource`.
    const TYPE: &'static str;
    /// Properties the schema requires; checked at synth.
    const REQUIRED: &'static [&'static str];
    /// Attributes `Fn::GetAtt` may read (the schema's read-only properties).
    const ATTRIBUTES: &'static [&'static str];
}
