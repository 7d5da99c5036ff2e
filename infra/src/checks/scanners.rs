//! External scanners (checkov, cfn-nag) read suppressions from each resource's `Metadata`. Synth
//! writes every suppression declared with `stack.suppress` there, so the reasons we keep in code
//! are the ones the security team's scanners show, and a scanner finding can only be silenced
//! through the same reviewed mechanism as our own rules.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cfn::Template;
use crate::constructs::Suppression;

/// `Metadata.checkov.skip[] = {id, comment}`: the form checkov reads in CloudFormation.
pub const CHECKOV_METADATA_KEY: &str = "checkov";
pub const CHECKOV_SKIP_KEY: &str = "skip";
/// `Metadata.cfn_nag.rules_to_suppress[] = {id, reason}`: the form cfn-nag reads.
pub const CFN_NAG_METADATA_KEY: &str = "cfn_nag";
pub const CFN_NAG_SUPPRESS_KEY: &str = "rules_to_suppress";

/// A scanner check we may suppress: its checkov id, the resource type it inspects, the cfn-nag
/// rule that flags the same thing (if any) and our own rule that covers it (if any), so a
/// suppression of that rule also reaches the scanners.
pub struct ScannerCheck {
    pub checkov: &'static str,
    pub resource_type: &'static str,
    pub cfn_nag: Option<&'static str>,
    pub covered_by: Option<&'static str>,
    pub what: &'static str,
}

const fn check(
    checkov: &'static str,
    resource_type: &'static str,
    cfn_nag: Option<&'static str>,
    covered_by: Option<&'static str>,
    what: &'static str,
) -> ScannerCheck {
    ScannerCheck {
        checkov,
        resource_type,
        cfn_nag,
        covered_by,
        what,
    }
}

/// The scanner checks a suppression may name. A suppression of a checkov id not listed here is a
/// PL000 violation, so a typo cannot silently skip nothing.
pub const SCANNER_CHECKS: &[ScannerCheck] = &[
    check(
        "CKV_AWS_18",
        "AWS::S3::Bucket",
        Some("W35"),
        None,
        "S3 access logging",
    ),
    check(
        "CKV_AWS_19",
        "AWS::S3::Bucket",
        Some("W41"),
        Some("PL005"),
        "S3 encryption",
    ),
    check("CKV_AWS_21", "AWS::S3::Bucket", None, None, "S3 versioning"),
    check(
        "CKV_AWS_26",
        "AWS::SNS::Topic",
        Some("W47"),
        Some("PL005"),
        "SNS encryption",
    ),
    check(
        "CKV_AWS_27",
        "AWS::SQS::Queue",
        Some("W48"),
        Some("PL005"),
        "SQS KMS encryption",
    ),
    check(
        "CKV_AWS_45",
        "AWS::Lambda::Function",
        None,
        Some("PL011"),
        "secrets in Lambda environment",
    ),
    check(
        "CKV_AWS_111",
        "AWS::IAM::Role",
        Some("W11"),
        Some("PL004"),
        "IAM write without resource constraint",
    ),
    check(
        "CKV_AWS_115",
        "AWS::Lambda::Function",
        Some("W92"),
        None,
        "Lambda reserved concurrency",
    ),
    check(
        "CKV_AWS_116",
        "AWS::Lambda::Function",
        None,
        None,
        "Lambda DeadLetterConfig",
    ),
    check(
        "CKV_AWS_117",
        "AWS::Lambda::Function",
        Some("W89"),
        None,
        "Lambda inside a VPC",
    ),
    check(
        "CKV_AWS_118",
        "AWS::RDS::DBInstance",
        None,
        None,
        "RDS enhanced monitoring",
    ),
    check(
        "CKV_AWS_144",
        "AWS::S3::Bucket",
        None,
        None,
        "S3 cross-region replication",
    ),
    check(
        "CKV_AWS_145",
        "AWS::S3::Bucket",
        None,
        None,
        "S3 KMS encryption",
    ),
    check(
        "CKV_AWS_158",
        "AWS::Logs::LogGroup",
        Some("W84"),
        None,
        "log group KMS key",
    ),
    check(
        "CKV_AWS_162",
        "AWS::RDS::DBCluster",
        None,
        None,
        "RDS IAM authentication",
    ),
    check(
        "CKV_AWS_173",
        "AWS::Lambda::Function",
        None,
        None,
        "Lambda environment KMS key",
    ),
];

pub fn is_scanner_check(id: &str) -> bool {
    SCANNER_CHECKS.iter().any(|c| c.checkov == id)
}

/// The scanner checks a suppression silences on a resource of `type_name`: the named checkov
/// check itself, or those our named rule covers for that resource type.
fn checks_for<'a>(
    rule: &'a str,
    type_name: &'a str,
) -> impl Iterator<Item = &'static ScannerCheck> + 'a {
    SCANNER_CHECKS.iter().filter(move |c| {
        c.resource_type == type_name && (c.checkov == rule || c.covered_by == Some(rule))
    })
}

/// One resource's skips: (checkov id → comment), (cfn-nag id → reason); maps keep them sorted.
type Skips<'a> = (
    BTreeMap<&'static str, &'a str>,
    BTreeMap<&'static str, &'a str>,
);

/// Write each suppression into its resource's `Metadata` for checkov and cfn-nag. Returns the
/// suppressions of scanner checks that name a resource the template lacks, or one of another
/// type than the check inspects (it would skip nothing).
pub fn annotate(template: &mut Template, suppressions: &[Suppression]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut per_resource: BTreeMap<&str, Skips> = BTreeMap::new();
    for s in suppressions {
        // Callers other than synth (a template built without checks) get the typo check here.
        if s.rule.starts_with("CKV") && !is_scanner_check(&s.rule) {
            errors.push(format!(
                "suppression names unknown scanner check {}; add it to SCANNER_CHECKS",
                s.rule
            ));
            continue;
        }
        let Some(entry) = template.resources.get(&s.resource) else {
            if is_scanner_check(&s.rule) {
                errors.push(format!(
                    "suppression of {} names `{}`, which is not in the stack",
                    s.rule, s.resource
                ));
            }
            continue;
        };
        let mut matched = false;
        for c in checks_for(&s.rule, entry.type_name) {
            matched = true;
            let (ckv, nag) = per_resource.entry(&s.resource).or_default();
            ckv.insert(c.checkov, &s.reason);
            if let Some(n) = c.cfn_nag {
                nag.insert(n, &s.reason);
            }
        }
        if !matched && is_scanner_check(&s.rule) {
            errors.push(format!(
                "suppression of {} on `{}` ({}) skips nothing: the check inspects other types",
                s.rule, s.resource, entry.type_name
            ));
        }
    }
    for (resource, (ckv, nag)) in per_resource {
        let entry = template
            .resources
            .get_mut(resource)
            .expect("looked up above");
        let skip: Vec<Value> = ckv
            .iter()
            .map(|(id, comment)| json!({ "id": id, "comment": comment }))
            .collect();
        entry.metadata.insert(
            CHECKOV_METADATA_KEY.into(),
            json!({ CHECKOV_SKIP_KEY: skip }),
        );
        if !nag.is_empty() {
            let rules: Vec<Value> = nag
                .iter()
                .map(|(id, reason)| json!({ "id": id, "reason": reason }))
                .collect();
            entry.metadata.insert(
                CFN_NAG_METADATA_KEY.into(),
                json!({ CFN_NAG_SUPPRESS_KEY: rules }),
            );
        }
    }
    errors
}
