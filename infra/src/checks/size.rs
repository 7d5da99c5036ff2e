//! CloudFormation's template limits.

use super::{Context, Finding, Rule};

pub(crate) const TEMPLATE_SIZE: Rule = Rule {
    id: "PL009",
    name: "template-size",
    fix: "split the service into two stacks, or deploy through the stage's asset bucket",
    check: template_size,
};

/// Largest template body CloudFormation accepts inline.
pub const INLINE_LIMIT: usize = 51_200;
/// Largest template CloudFormation accepts from S3.
pub const S3_LIMIT: usize = 1_000_000;
pub const MAX_RESOURCES: usize = 500;

fn template_size(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let bytes = ctx.rendered_bytes;
    if bytes > S3_LIMIT {
        out.push(Finding {
            resource: "(template)".into(),
            message: format!("{bytes} bytes is over CloudFormation's 1 MB limit"),
        });
    } else if bytes > INLINE_LIMIT && !ctx.can_upload_template {
        out.push(Finding {
            resource: "(template)".into(),
            message: format!("{bytes} bytes is over the 51,200-byte inline limit and no upload bucket is configured"),
        });
    }
    let count = ctx.template.resources.len();
    if count > MAX_RESOURCES {
        out.push(Finding {
            resource: "(template)".into(),
            message: format!("{count} resources is over CloudFormation's 500"),
        });
    }
    out
}
