//! The bootstrap stack: what every deploy of a stage needs before it can start, created once per
//! account and region by `cargo xtask bootstrap --stage S` (CDK's `cdk bootstrap`, from our types).
//!
//! - the asset bucket deploy uploads zips and large templates to ([`Stage::asset_bucket`]);
//! - GitHub's OIDC provider (or the existing one, `repository.oidc_provider_arn`);
//! - the stage's deploy role, which only this repository's workflows can assume, and only from
//!   the ref the stage is released from (`main` for dev, version tags otherwise);
//! - the CloudFormation execution role: CloudFormation assumes it to create the stage's stacks,
//!   so the deploy role itself can create nothing but change sets.
//!
//! One stack per account and region, named [`STACK_NAME`]: the bucket is per account and region,
//! so two stacks would fight over it. Its roles belong to one stage (names carry the stage), so an
//! account/region serves one stage; the `Stage` output records which, and `check` refuses a
//! bootstrap of another stage. [`VERSION`] rises whenever the template changes in a way deploys
//! rely on; deploy's preflight refuses an older bootstrap stack.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::cfn::iam::role::{CfnRole, Policy};
use crate::cfn::s3::bucket::{
    AbortIncompleteMultipartUpload, BucketEncryption, CfnBucket, LifecycleConfiguration,
    NoncurrentVersionExpiration, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, Rule, ServerSideEncryptionByDefault, ServerSideEncryptionRule,
    Tag as BucketTag, VersioningConfiguration,
};
use crate::cfn::s3::bucket_policy::CfnBucketPolicy;
use crate::cfn::{get_att, r#ref, sub, CfnResource, Output, Template, Val};
use crate::stage::Stage;

/// Raise when the template changes in a way deploys depend on (a permission, a bucket rule);
/// `check` then sends every stage back to `cargo xtask bootstrap` before its next deploy.
pub const VERSION: u32 = 1;

/// One per account and region (the asset bucket's scope).
pub const STACK_NAME: &str = "serverless-bootstrap";

pub const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";

/// The audience `aws-actions/configure-aws-credentials` asks GitHub to put in the token.
pub const GITHUB_AUDIENCE: &str = "sts.amazonaws.com";

/// Days an asset zip stays current after its last upload or refresh; see [`asset_rules`].
pub const ASSET_EXPIRY_DAYS: i64 = 90;
/// Days a replaced or expired object version stays recoverable.
pub const NONCURRENT_DAYS: i64 = 30;
/// Days a template uploaded for CloudFormation stays; CloudFormation keeps its own copy.
pub const TEMPLATE_EXPIRY_DAYS: i64 = 7;

// Logical ids, read by xtask through the outputs.
const BUCKET: &str = "AssetBucket";
const BUCKET_POLICY: &str = "AssetBucketPolicy";
const OIDC: &str = "GitHubOidcProvider";
const DEPLOY_ROLE: &str = "DeployRole";
const EXECUTION_ROLE: &str = "CloudFormationExecutionRole";

/// Output keys.
pub const OUTPUT_VERSION: &str = "BootstrapVersion";
pub const OUTPUT_STAGE: &str = "Stage";
pub const OUTPUT_BUCKET: &str = "AssetBucketName";
pub const OUTPUT_DEPLOY_ROLE: &str = "DeployRoleArn";
pub const OUTPUT_EXECUTION_ROLE: &str = "ExecutionRoleArn";

/// The synthesized bootstrap stack.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub name: String,
    pub template: Template,
    /// Compact JSON with sorted keys, as the service stacks are rendered.
    pub body: String,
    /// Resources the template leaves out on this stage, with why (the local emulator's gaps).
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BootstrapError {
    #[error("environments/{stage}.yaml has no `repository: owner/name`; the deploy role trusts only that GitHub repository's workflows")]
    NoRepository { stage: String },
    #[error("environments/{stage}.yaml has no account; bootstrap needs the account its roles and bucket live in")]
    NoAccount { stage: String },
    #[error("bootstrap template: {0}")]
    Template(String),
}

/// `AWS::IAM::OIDCProvider`: not among the generated L1 types yet (`RESOURCE_TYPES` in
/// xtask/src/codegen). Replace with `cfn::iam::oidc_provider::CfnOidcProvider` once it is added
/// and regenerated; the fields and serialized names are the schema's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct CfnOidcProvider {
    #[serde(rename = "ClientIdList", skip_serializing_if = "Option::is_none")]
    client_id_list: Option<Vec<Val<String>>>,
    #[serde(rename = "Tags", skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<crate::cfn::iam::role::Tag>>,
    #[serde(rename = "ThumbprintList", skip_serializing_if = "Option::is_none")]
    thumbprint_list: Option<Vec<Val<String>>>,
    #[serde(rename = "Url", skip_serializing_if = "Option::is_none")]
    url: Option<Val<String>>,
}

impl CfnResource for CfnOidcProvider {
    const TYPE: &'static str = "AWS::IAM::OIDCProvider";
    const REQUIRED: &'static [&'static str] = &[];
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}

/// `aws`, `aws-cn` or `aws-us-gov`, from the region: role ARNs are printed before any AWS call.
pub fn partition(stage: &Stage) -> &'static str {
    let r = stage.region.0.as_str();
    if r.starts_with("cn-") {
        "aws-cn"
    } else if r.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The role CI assumes through OIDC. Fixed names, so `release role` can print the ARN before
/// the workflow has any credentials to read the stack with.
pub fn deploy_role_name(stage: &Stage) -> String {
    format!("serverless-platform-deploy-{}", stage.name)
}

/// The role CloudFormation assumes to create the stage's resources.
pub fn execution_role_name(stage: &Stage) -> String {
    format!("serverless-platform-cfn-exec-{}", stage.name)
}

fn role_arn(stage: &Stage, name: String) -> Option<String> {
    let account = stage.account.as_ref()?;
    Some(format!(
        "arn:{}:iam::{}:role/{name}",
        partition(stage),
        account.0
    ))
}

/// The deploy role's ARN; `None` on the local stage (no account, no OIDC).
pub fn deploy_role_arn(stage: &Stage) -> Option<String> {
    role_arn(stage, deploy_role_name(stage))
}

/// The execution role's ARN, which deploy passes as `RoleArn` on AWS stages; `None` locally.
pub fn execution_role_arn(stage: &Stage) -> Option<String> {
    role_arn(stage, execution_role_name(stage))
}

/// The stack names the stage deploys (`<service>-<stage>`), the deploy role's only targets.
pub fn stack_names(stage: &Stage) -> Vec<String> {
    crate::services::stacks(stage)
        .iter()
        .map(|s| s.name())
        .collect()
}

/// The `sub` claims the deploy role accepts: this repository, on `main` for dev and on version
/// tags (`v*`, what release.yml triggers on) for every other stage; plus the stage's GitHub
/// environment when its deploy job declares one, because GitHub then puts the environment in
/// `sub` instead of the ref (the environment's own rules must then limit it to tags).
pub fn trusted_subjects(stage: &Stage) -> Result<Vec<String>, BootstrapError> {
    let repo = stage
        .repository
        .as_ref()
        .ok_or_else(|| BootstrapError::NoRepository {
            stage: stage.name.to_string(),
        })?;
    let r#ref = if stage.name == "dev" {
        "refs/heads/main"
    } else {
        "refs/tags/v*"
    };
    let mut subjects = vec![format!("repo:{}:ref:{ref}", repo.name)];
    if let Some(env) = &repo.environment {
        subjects.push(format!("repo:{}:environment:{env}", repo.name));
    }
    Ok(subjects)
}

/// The bootstrap stack of `stage`.
pub fn synth(stage: &Stage) -> Result<Bootstrap, BootstrapError> {
    // The emulator's shape follows where the stage deploys, not its name, so tests can
    // bootstrap a uniquely named copy of the local stage beside the real one.
    let local = stage.aws_endpoint().is_some();
    if !local && stage.account.is_none() {
        return Err(BootstrapError::NoAccount {
            stage: stage.name.to_string(),
        });
    }
    let mut t = Template {
        description: format!(
            "serverless-platform bootstrap v{VERSION}: asset bucket, GitHub OIDC deploy role and CloudFormation execution role (stage {})",
            stage.name
        ),
        ..Template::default()
    };
    let mut skipped = Vec::new();
    let err = |e: crate::cfn::DuplicateId| BootstrapError::Template(e.to_string());

    asset_bucket(stage, &mut t).map_err(err)?;
    if local {
        // moto's CloudFormation skips AWS::S3::BucketPolicy with a warning and still reports
        // CREATE_COMPLETE; leaving it out says so instead of pretending the policy exists.
        skipped.push((
            BUCKET_POLICY.to_string(),
            "the emulator's CloudFormation does not implement AWS::S3::BucketPolicy".to_string(),
        ));
    } else {
        bucket_policy(&mut t).map_err(err)?;
    }

    execution_role(stage, &mut t).map_err(err)?;

    if local {
        // No workflow federates into the emulator, and moto's CloudFormation has no
        // AWS::IAM::OIDCProvider: neither the provider nor the role that trusts it exists locally.
        skipped.push((
            OIDC.to_string(),
            "the emulator's CloudFormation does not implement AWS::IAM::OIDCProvider".to_string(),
        ));
        skipped.push((
            DEPLOY_ROLE.to_string(),
            "it trusts only GitHub's OIDC provider, which the local stage has not".to_string(),
        ));
    } else {
        let provider: Val<String> = match stage
            .repository
            .as_ref()
            .and_then(|r| r.oidc_provider_arn.clone())
        {
            Some(arn) => Val::Lit(arn),
            None => {
                t.add(
                    OIDC,
                    CfnOidcProvider {
                        url: Some(format!("https://{GITHUB_OIDC_HOST}").into()),
                        client_id_list: Some(vec![GITHUB_AUDIENCE.into()]),
                        // IAM no longer checks GitHub's thumbprints (it trusts its CA
                        // library for this host), but the property is still validated; these
                        // are GitHub's published intermediates.
                        thumbprint_list: Some(vec![
                            "6938fd4d98bab03faadb97b34396831e3780aea1".into(),
                            "1c58a3a8518e8759bf075b76b750d4f2df264fcd".into(),
                        ]),
                        tags: Some(role_tags(stage)),
                    },
                )
                .map_err(err)?;
                r#ref(OIDC).into()
            }
        };
        deploy_role(stage, &mut t, provider)?;
        t.outputs.insert(
            OUTPUT_DEPLOY_ROLE.into(),
            Output {
                value: get_att(DEPLOY_ROLE, "Arn").into(),
                description: "the role CI assumes through GitHub's OIDC provider".into(),
            },
        );
    }

    t.outputs.insert(
        OUTPUT_VERSION.into(),
        Output {
            value: VERSION.to_string().into(),
            description: "the bootstrap template's version; deploy requires at least the one in infra/src/bootstrap.rs".into(),
        },
    );
    t.outputs.insert(
        OUTPUT_STAGE.into(),
        Output {
            value: stage.name.to_string().into(),
            description: "the stage whose roles this bootstrap holds".into(),
        },
    );
    t.outputs.insert(
        OUTPUT_BUCKET.into(),
        Output {
            value: r#ref(BUCKET).into(),
            description: "function zips and large templates".into(),
        },
    );
    t.outputs.insert(
        OUTPUT_EXECUTION_ROLE.into(),
        Output {
            value: get_att(EXECUTION_ROLE, "Arn").into(),
            description: "the role CloudFormation assumes to create the stage's stacks".into(),
        },
    );
    let body = t.render();
    Ok(Bootstrap {
        name: STACK_NAME.into(),
        template: t,
        body,
        skipped,
    })
}

fn bucket_tags(stage: &Stage) -> Vec<BucketTag> {
    stage
        .tags
        .iter()
        .map(|(k, v)| BucketTag {
            key: Some(k.into()),
            value: Some(v.into()),
        })
        .collect()
}

fn role_tags(stage: &Stage) -> Vec<crate::cfn::iam::role::Tag> {
    stage
        .tags
        .iter()
        .map(|(k, v)| crate::cfn::iam::role::Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        })
        .collect()
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Lifecycle of the asset bucket. Why expiring `assets/` is safe:
/// - Lambda copies a zip when a function is created or its code changes; the running function
///   never reads the bucket again.
/// - deploy uploads every zip it deploys whose key is missing (HeadObject), so an expired zip
///   that is deployed again is simply uploaded again.
/// - what remains is CloudFormation rolling a failed update back to the zip the stack ran
///   before, which must still be there: deploy refreshes (copies onto itself) the keys the
///   stacks currently reference before it updates them, so those are never older than the
///   deploy, and only zips no deployed stack names age out.
/// - the bucket is versioned, so an expired zip becomes a noncurrent version and can still be
///   restored (delete the delete marker) for [`NONCURRENT_DAYS`] days.
pub fn asset_rules() -> Vec<Rule> {
    vec![
        Rule {
            id: Some("assets-unreferenced".into()),
            status: Some("Enabled".into()),
            prefix: Some("assets/".into()),
            expiration_in_days: Some(ASSET_EXPIRY_DAYS.into()),
            ..Rule::default()
        },
        Rule {
            // CloudFormation reads a TemplateURL once, during the call, and keeps its own copy.
            id: Some("templates".into()),
            status: Some("Enabled".into()),
            prefix: Some("templates/".into()),
            expiration_in_days: Some(TEMPLATE_EXPIRY_DAYS.into()),
            ..Rule::default()
        },
        Rule {
            id: Some("noncurrent-versions".into()),
            status: Some("Enabled".into()),
            noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
                noncurrent_days: Some(NONCURRENT_DAYS.into()),
                newer_noncurrent_versions: None,
            }),
            expired_object_delete_marker: Some(true.into()),
            abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
                days_after_initiation: Some(1.into()),
            }),
            ..Rule::default()
        },
    ]
}

fn asset_bucket(stage: &Stage, t: &mut Template) -> Result<(), crate::cfn::DuplicateId> {
    let entry = t.add(
        BUCKET,
        CfnBucket {
            bucket_name: Some(stage.asset_bucket().into()),
            bucket_encryption: Some(BucketEncryption {
                server_side_encryption_configuration: Some(vec![ServerSideEncryptionRule {
                    server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        sse_algorithm: Some("AES256".into()),
                        kms_master_key_id: None,
                    }),
                    ..ServerSideEncryptionRule::default()
                }]),
            }),
            versioning_configuration: Some(VersioningConfiguration {
                status: Some("Enabled".into()),
            }),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(true.into()),
                block_public_policy: Some(true.into()),
                ignore_public_acls: Some(true.into()),
                restrict_public_buckets: Some(true.into()),
            }),
            ownership_controls: Some(OwnershipControls {
                rules: Some(vec![OwnershipControlsRule {
                    object_ownership: Some("BucketOwnerEnforced".into()),
                }]),
            }),
            lifecycle_configuration: Some(LifecycleConfiguration {
                rules: Some(asset_rules()),
                ..LifecycleConfiguration::default()
            }),
            tags: non_empty(bucket_tags(stage)),
            ..CfnBucket::default()
        },
    )?;
    // The zips of every deployed function live here: deleting the bootstrap stack must not
    // take them (and the rollback targets) with it.
    entry.deletion_policy = Some("Retain");
    entry.metadata.insert(
        "checkov".into(),
        json!({"skip": [
            {"id": "CKV_AWS_18", "comment": "content-addressed build artifacts written only by the deploy role; CloudTrail records access, server access logs would add a second bucket for no reader"},
            {"id": "CKV_AWS_144", "comment": "every zip and template is rebuilt from the tagged source; cross-region replication would copy artifacts, not data"},
            {"id": "CKV_AWS_145", "comment": "SSE-S3: Lambda and CloudFormation read the zips with the execution role's s3:GetObject alone; a KMS key would need grants for both services and adds no protection for public build artifacts"}
        ]}),
    );
    Ok(())
}

fn bucket_policy(t: &mut Template) -> Result<(), crate::cfn::DuplicateId> {
    t.add(
        BUCKET_POLICY,
        CfnBucketPolicy {
            bucket: Some(r#ref(BUCKET).into()),
            policy_document: Some(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [
                        get_att(BUCKET, "Arn").to_json(),
                        sub(format!("${{{BUCKET}.Arn}}/*")).to_json(),
                    ],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                }]
            })),
        },
    )?;
    Ok(())
}

fn arn(service: &str, rest: &str) -> Value {
    sub(format!(
        "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}"
    ))
    .to_json()
}

fn global_arn(service: &str, rest: &str) -> Value {
    sub(format!(
        "arn:${{AWS::Partition}}:{service}::${{AWS::AccountId}}:{rest}"
    ))
    .to_json()
}

fn asset_objects(prefix: &str) -> Value {
    sub(format!("${{{BUCKET}.Arn}}/{prefix}*")).to_json()
}

/// Per service, the two ways its resources are named: by the constructs
/// (`<service>-<name>-<stage>`, `Stack::physical_name`) and by CloudFormation when a construct
/// leaves the name out (`<stack>-<LogicalId>-<suffix>`, the stack being `<service>-<stage>`).
fn name_patterns(stage: &Stage) -> Vec<String> {
    crate::services::stacks(stage)
        .iter()
        .flat_map(|s| {
            [
                format!("{}-*-{}", s.service(), stage.name),
                format!("{}-*", s.name()),
            ]
        })
        .collect()
}

fn each(patterns: &[String], f: impl Fn(&str) -> Value) -> Vec<Value> {
    patterns.iter().map(|p| f(p)).collect()
}

/// What CloudFormation may do while it creates the stage's stacks.
///
/// The scoping that matters is the resource: every statement names the stage's own resources
/// by the patterns of [`name_patterns`], so this role cannot touch another stage's (or anything
/// else's) functions, queues, topics, buckets, state machines, alarms, rules, databases or roles.
/// Within those resources the actions are the service's (`lambda:*` on the stage's functions):
/// CloudFormation's resource handlers call read, tag and configuration APIs that grow with
/// each resource property, and a missing one fails a production deploy halfway. IAM is listed
/// action by action, and `iam:PassRole` only hands the stage's roles to the services the
/// constructs create them for. Statements on `*` are the APIs that have no resource-level
/// permissions (EC2 and RDS descriptions, CloudWatch Logs deliveries, Lambda's event source
/// mappings by function condition).
pub fn execution_policy(stage: &Stage) -> Value {
    let names = name_patterns(stage);
    let mut stmts = vec![
        json!({
            "Sid": "StageFunctions",
            "Effect": "Allow",
            "Action": "lambda:*",
            "Resource": each(&names, |n| arn("lambda", &format!("function:{n}"))),
        }),
        json!({
            // Lambda authorizes event source mappings by the function they invoke
            "Sid": "StageEventSourceMappings",
            "Effect": "Allow",
            "Action": [
                "lambda:CreateEventSourceMapping",
                "lambda:GetEventSourceMapping",
                "lambda:UpdateEventSourceMapping",
                "lambda:DeleteEventSourceMapping",
                "lambda:ListEventSourceMappings",
                "lambda:TagResource",
                "lambda:ListTags"
            ],
            "Resource": "*",
            "Condition": {"ArnLike": {"lambda:FunctionArn":
                each(&names, |n| arn("lambda", &format!("function:{n}")))}}
        }),
        json!({
            "Sid": "FunctionCode",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": asset_objects("assets/"),
        }),
        json!({
            "Sid": "StageRoles",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:ListRoleTags"
            ],
            "Resource": each(&names, |n| global_arn("iam", &format!("role/{n}"))),
        }),
        json!({
            "Sid": "PassStageRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": each(&names, |n| global_arn("iam", &format!("role/{n}"))),
            "Condition": {"StringEquals": {"iam:PassedToService": [
                "lambda.amazonaws.com",
                "states.amazonaws.com",
                "events.amazonaws.com"
            ]}}
        }),
        json!({
            "Sid": "StageLogGroups",
            "Effect": "Allow",
            "Action": "logs:*",
            "Resource": names.iter().flat_map(|n| {
                ["/aws/lambda/", "/aws/apigateway/", "/aws/vendedlogs/states/"]
                    .into_iter()
                    .flat_map(move |p| [
                        arn("logs", &format!("log-group:{p}{n}")),
                        arn("logs", &format!("log-group:{p}{n}:*")),
                    ])
            }).collect::<Vec<_>>(),
        }),
        json!({
            // Step Functions and HTTP API logging are set up through log deliveries and
            // resource policies, which IAM authorizes only on "*"
            "Sid": "LogDeliveries",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups"
            ],
            "Resource": "*",
        }),
        json!({
            "Sid": "StageQueues",
            "Effect": "Allow",
            "Action": "sqs:*",
            "Resource": each(&names, |n| arn("sqs", n)),
        }),
        json!({
            "Sid": "StageTopics",
            "Effect": "Allow",
            "Action": "sns:*",
            "Resource": names.iter().flat_map(|n| [arn("sns", n), arn("sns", &format!("{n}:*"))]).collect::<Vec<_>>(),
        }),
        json!({
            // bucket configuration only: no object in the stage's buckets is readable here
            "Sid": "StageBuckets",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": each(&names, |n| sub(format!("arn:${{AWS::Partition}}:s3:::{n}-${{AWS::AccountId}}")).to_json())
                .into_iter()
                .chain(each(&names, |n| sub(format!("arn:${{AWS::Partition}}:s3:::{n}")).to_json()))
                .collect::<Vec<_>>(),
        }),
        json!({
            "Sid": "StageStateMachines",
            "Effect": "Allow",
            "Action": "states:*",
            "Resource": each(&names, |n| arn("states", &format!("stateMachine:{n}"))),
        }),
        json!({
            "Sid": "StageRules",
            "Effect": "Allow",
            "Action": "events:*",
            "Resource": each(&names, |n| arn("events", &format!("rule/{n}"))),
        }),
        json!({
            "Sid": "StageAlarms",
            "Effect": "Allow",
            "Action": "cloudwatch:*",
            "Resource": each(&names, |n| arn("cloudwatch", &format!("alarm:{n}"))),
        }),
        json!({
            // HTTP API ids are random: IAM has no name to scope them by
            "Sid": "HttpApis",
            "Effect": "Allow",
            "Action": [
                "apigateway:GET",
                "apigateway:POST",
                "apigateway:PUT",
                "apigateway:PATCH",
                "apigateway:DELETE"
            ],
            "Resource": [
                sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/apis").to_json(),
                sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/apis/*").to_json(),
                sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/tags/*").to_json()
            ],
        }),
        json!({
            // RDS lowercases the names CloudFormation generates; its clusters and instances
            // also read the default parameter and option groups
            "Sid": "StageDatabases",
            "Effect": "Allow",
            "Action": "rds:*",
            "Resource": names.iter().flat_map(|n| {
                let n = n.to_lowercase();
                ["cluster", "db", "subgrp"].into_iter().map(move |kind| arn("rds", &format!("{kind}:{n}")))
            }).collect::<Vec<_>>(),
        }),
        json!({
            "Sid": "DatabaseDefaults",
            "Effect": "Allow",
            "Action": [
                "rds:CreateDBCluster",
                "rds:CreateDBInstance",
                "rds:ModifyDBCluster",
                "rds:ModifyDBInstance",
                "rds:DescribeDBClusterParameterGroups",
                "rds:DescribeDBParameterGroups",
                "rds:DescribeOptionGroups",
                "rds:DescribeDBEngineVersions",
                "rds:DescribeOrderableDBInstanceOptions"
            ],
            "Resource": [
                arn("rds", "cluster-pg:default.*"),
                arn("rds", "pg:default.*"),
                arn("rds", "og:default:*")
            ],
        }),
        json!({
            // ManageMasterUserPassword: RDS creates the login secret with the caller's rights
            "Sid": "DatabaseLoginSecrets",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:CreateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:DeleteSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:RotateSecret"
            ],
            "Resource": arn("secretsmanager", "secret:rds!*"),
        }),
        json!({
            "Sid": "DatabaseLoginSecretKey",
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService":
                sub("secretsmanager.${AWS::Region}.amazonaws.com").to_json()}}
        }),
        json!({
            "Sid": "RdsServiceLinkedRole",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": global_arn("iam", "role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS"),
            "Condition": {"StringEquals": {"iam:AWSServiceName": "rds.amazonaws.com"}}
        }),
        json!({
            // functions and databases in the stage's VPC: Lambda and RDS validate the subnets
            // and security groups with the caller's rights; EC2 descriptions have no resources
            "Sid": "VpcDescriptions",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeAvailabilityZones"
            ],
            "Resource": "*",
        }),
    ];
    // deterministic order for snapshots and diffs
    stmts.sort_by(|a, b| a["Sid"].as_str().cmp(&b["Sid"].as_str()));
    json!({"Version": "2012-10-17", "Statement": stmts})
}

fn execution_role(stage: &Stage, t: &mut Template) -> Result<(), crate::cfn::DuplicateId> {
    let entry = t.add(
        EXECUTION_ROLE,
        CfnRole {
            role_name: Some(execution_role_name(stage).into()),
            description: Some(
                format!(
                    "CloudFormation creates the {} stage's stacks with this role",
                    stage.name
                )
                .into(),
            ),
            assume_role_policy_document: Some(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudformation.amazonaws.com"},
                    "Action": "sts:AssumeRole"
                }]
            })),
            policies: Some(vec![Policy {
                policy_name: Some("create-stage-resources".into()),
                policy_document: Some(execution_policy(stage)),
            }]),
            tags: non_empty(role_tags(stage)),
            ..CfnRole::default()
        },
    )?;
    entry.metadata.insert(
        "checkov".into(),
        json!({"skip": [
            {"id": "CKV_AWS_107", "comment": "no credentials are exposed: the only \"*\" statements are descriptions, log deliveries and KMS through Secrets Manager"},
            {"id": "CKV_AWS_108", "comment": "reads only the asset bucket's zips and the stage's own resources; \"*\" is limited to descriptions"},
            {"id": "CKV_AWS_109", "comment": "logs:PutResourcePolicy is how Step Functions and HTTP API logging are wired; IAM offers no resource for it"},
            {"id": "CKV_AWS_110", "comment": "CloudFormation must create the stage's function roles; iam:* is limited to roles named after the stage's stacks and PassRole to lambda, states and events"},
            {"id": "CKV_AWS_111", "comment": "\"*\" write actions are the ones IAM cannot scope (log deliveries, event source mappings, which are conditioned on the stage's functions)"}
        ]}),
    );
    Ok(())
}

/// What CI may do with the deploy role: change sets on the stage's stacks only, executed by
/// CloudFormation as the execution role; the asset bucket; reading the bootstrap stack; and
/// invoking the stage's functions for `release smoke`.
pub fn deploy_policy(stage: &Stage) -> Value {
    let stacks = stack_names(stage);
    let mut stack_arns: Vec<Value> = stacks
        .iter()
        .map(|s| arn("cloudformation", &format!("stack/{s}/*")))
        .collect();
    // deploy names its change sets `xtask-<time>` (xtask/src/deploy/stack.rs)
    stack_arns.push(arn("cloudformation", "changeSet/xtask-*/*"));
    let exec_arn = get_att(EXECUTION_ROLE, "Arn").to_json();
    let functions: Vec<Value> = name_patterns(stage)
        .iter()
        .map(|n| arn("lambda", &format!("function:{n}")))
        .collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                // creating or changing a stack is allowed only when CloudFormation acts as the
                // execution role: the deploy role's own rights never reach the resources
                "Sid": "StageStacksAsExecutionRole",
                "Effect": "Allow",
                "Action": [
                    "cloudformation:CreateChangeSet",
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack"
                ],
                "Resource": stacks.iter().map(|s| arn("cloudformation", &format!("stack/{s}/*"))).collect::<Vec<_>>(),
                "Condition": {"StringEquals": {"cloudformation:RoleArn": exec_arn}}
            },
            {
                "Sid": "StageStacks",
                "Effect": "Allow",
                "Action": [
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteChangeSet",
                    "cloudformation:ListChangeSets",
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStackResource",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:ListStackResources",
                    "cloudformation:GetTemplate",
                    "cloudformation:GetTemplateSummary"
                ],
                "Resource": stack_arns,
            },
            {
                "Sid": "BootstrapVersion",
                "Effect": "Allow",
                "Action": "cloudformation:DescribeStacks",
                "Resource": arn("cloudformation", &format!("stack/{STACK_NAME}/*")),
            },
            {
                "Sid": "PassExecutionRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": exec_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
            },
            {
                "Sid": "AssetBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": get_att(BUCKET, "Arn").to_json(),
            },
            {
                "Sid": "Assets",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [asset_objects("assets/"), asset_objects("templates/")],
            },
            {
                "Sid": "SmokeTest",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                "Resource": functions,
            },
            {
                // `deploy --hotswap` records what it changed; the next full deploy prunes it
                "Sid": "HotswapRecords",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": asset_objects("hotswap/"),
            },
            {
                "Sid": "StageDrift",
                "Effect": "Allow",
                "Action": [
                    "cloudformation:DetectStackDrift",
                    "cloudformation:DetectStackResourceDrift",
                    "cloudformation:DescribeStackDriftDetectionStatus",
                    "cloudformation:DescribeStackResourceDrifts"
                ],
                "Resource": stacks.iter().map(|s| arn("cloudformation", &format!("stack/{s}/*"))).collect::<Vec<_>>(),
            },
            drift_reads(stage),
            {
                // drift detection reads each resource with the caller's rights; these have no
                // stage name to scope by (random ids), and every action here only reads
                "Sid": "DriftReadsByRandomId",
                "Effect": "Allow",
                "Action": [
                    "lambda:GetEventSourceMapping",
                    "lambda:GetLayerVersion",
                    "logs:DescribeLogGroups",
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:GetKeyRotationStatus",
                    "apigateway:GET"
                ],
                "Resource": "*",
            }
        ]
    })
}

/// The reads CloudFormation makes with the caller's rights while it detects drift
/// (`cargo xtask drift`), on the stage's own resources only.
fn drift_reads(stage: &Stage) -> Value {
    let names = name_patterns(stage);
    let mut resources = Vec::new();
    for n in &names {
        resources.push(arn("lambda", &format!("function:{n}")));
        resources.push(arn("sqs", n));
        resources.push(arn("sns", n));
        resources.push(arn("states", &format!("stateMachine:{n}")));
        resources.push(arn("events", &format!("rule/{n}")));
        resources.push(arn("cloudwatch", &format!("alarm:{n}")));
        resources.push(global_arn("iam", &format!("role/{n}")));
        resources.push(
            sub(format!(
                "arn:${{AWS::Partition}}:s3:::{n}-${{AWS::AccountId}}"
            ))
            .to_json(),
        );
        resources.push(sub(format!("arn:${{AWS::Partition}}:s3:::{n}")).to_json());
    }
    json!({
        "Sid": "DriftReads",
        "Effect": "Allow",
        "Action": [
            "lambda:GetFunction",
            "lambda:ListTags",
            "sqs:GetQueueAttributes",
            "sqs:ListQueueTags",
            "sns:GetTopicAttributes",
            "sns:ListTagsForResource",
            "states:DescribeStateMachine",
            "states:ListTagsForResource",
            "events:DescribeRule",
            "events:ListTargetsByRule",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "s3:GetBucket*",
            "s3:GetEncryptionConfiguration",
            "s3:GetLifecycleConfiguration"
        ],
        "Resource": resources,
    })
}

fn deploy_role(
    stage: &Stage,
    t: &mut Template,
    provider: Val<String>,
) -> Result<(), BootstrapError> {
    let subjects = trusted_subjects(stage)?;
    let entry = t
        .add(
            DEPLOY_ROLE,
            CfnRole {
                role_name: Some(deploy_role_name(stage).into()),
                description: Some(
                    format!(
                        "GitHub Actions of {} deploy the {} stage with this role",
                        stage.repository.as_ref().map_or("", |r| r.name.as_str()),
                        stage.name
                    )
                    .into(),
                ),
                // a deploy waits for CloudFormation; a database create outlasts an hour
                max_session_duration: Some(7200.into()),
                assume_role_policy_document: Some(json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Federated": provider.to_json()},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {format!("{GITHUB_OIDC_HOST}:aud"): GITHUB_AUDIENCE},
                            "StringLike": {format!("{GITHUB_OIDC_HOST}:sub"): subjects}
                        }
                    }]
                })),
                policies: Some(vec![Policy {
                    policy_name: Some("deploy-stage".into()),
                    policy_document: Some(deploy_policy(stage)),
                }]),
                tags: non_empty(role_tags(stage)),
                ..CfnRole::default()
            },
        )
        .map_err(|e| BootstrapError::Template(e.to_string()))?;
    entry.metadata.insert(
        "checkov".into(),
        json!({"skip": [
            {"id": "CKV_AWS_111", "comment": "no \"*\" resource: every write is on the stage's stacks (as the execution role) or the asset bucket's prefixes"}
        ]}),
    );
    Ok(())
}

/// The outputs of a deployed bootstrap stack, as `check` reads them.
pub fn version_of(outputs: &BTreeMap<String, String>) -> Option<u32> {
    outputs.get(OUTPUT_VERSION)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage;

    /// A shipped AWS stage with its account replaced and `repository` set from YAML (`""`: none).
    fn aws_stage(name: &str, repository: &str) -> Stage {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut s = stage::load(&root, name).unwrap();
        s.account = Some(stage::AccountId("123456789012".into()));
        s.region = stage::Region("us-east-1".into());
        s.repository =
            (!repository.is_empty()).then(|| serde_yaml_ng::from_str(repository).unwrap());
        s
    }

    fn resource(b: &Bootstrap, id: &str) -> Value {
        b.template.to_json()["Resources"][id]["Properties"].clone()
    }

    fn trust_condition(b: &Bootstrap) -> Value {
        resource(b, DEPLOY_ROLE)["AssumeRolePolicyDocument"]["Statement"][0]["Condition"].clone()
    }

    fn statement(doc: &Value, sid: &str) -> Value {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
            .clone()
    }

    #[test]
    fn dev_trusts_only_main_of_the_repository() {
        let b = synth(&aws_stage("dev", "acme/platform")).unwrap();
        assert_eq!(
            trust_condition(&b),
            json!({
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": ["repo:acme/platform:ref:refs/heads/main"]}
            })
        );
        let role = resource(&b, DEPLOY_ROLE);
        let principal = &role["AssumeRolePolicyDocument"]["Statement"][0];
        assert_eq!(principal["Principal"], json!({"Federated": {"Ref": OIDC}}));
        assert_eq!(principal["Action"], "sts:AssumeRoleWithWebIdentity");
    }

    #[test]
    fn qa_and_prod_trust_version_tags_and_their_github_environment() {
        for (name, env) in [("qa", "qa"), ("prod", "production")] {
            let b = synth(&aws_stage(
                name,
                &format!("{{name: acme/platform, environment: {env}}}"),
            ))
            .unwrap();
            assert_eq!(
                trust_condition(&b),
                json!({
                    "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                    "StringLike": {"token.actions.githubusercontent.com:sub": [
                        "repo:acme/platform:ref:refs/tags/v*",
                        format!("repo:acme/platform:environment:{env}")
                    ]}
                }),
                "{name}"
            );
        }
        let b = synth(&aws_stage("prod", "acme/platform")).unwrap();
        assert_eq!(
            trust_condition(&b)["StringLike"]["token.actions.githubusercontent.com:sub"],
            json!(["repo:acme/platform:ref:refs/tags/v*"])
        );
    }

    #[test]
    fn an_existing_oidc_provider_is_referenced_not_created() {
        let arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
        let b = synth(&aws_stage(
            "qa",
            &format!("{{name: acme/platform, oidc_provider_arn: \"{arn}\"}}"),
        ))
        .unwrap();
        assert!(!b.template.resources.contains_key(OIDC));
        assert_eq!(
            resource(&b, DEPLOY_ROLE)["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
            json!({"Federated": arn})
        );
        let created = synth(&aws_stage("qa", "acme/platform")).unwrap();
        let p = resource(&created, OIDC);
        assert_eq!(p["Url"], "https://token.actions.githubusercontent.com");
        assert_eq!(p["ClientIdList"], json!(["sts.amazonaws.com"]));
    }

    #[test]
    fn an_aws_stage_without_a_repository_is_refused() {
        let e = synth(&aws_stage("qa", "")).unwrap_err();
        assert_eq!(e, BootstrapError::NoRepository { stage: "qa".into() });
        assert!(e.to_string().contains("environments/qa.yaml"), "{e}");
    }

    #[test]
    fn the_deploy_role_passes_only_the_execution_role_to_cloudformation() {
        let b = synth(&aws_stage("qa", "acme/platform")).unwrap();
        let role = resource(&b, DEPLOY_ROLE);
        let policy = &role["Policies"][0]["PolicyDocument"];
        let pass: Vec<Value> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"].to_string().contains("iam:PassRole"))
            .cloned()
            .collect();
        assert_eq!(pass.len(), 1, "{pass:?}");
        assert_eq!(
            pass[0]["Resource"],
            json!({"Fn::GetAtt": [EXECUTION_ROLE, "Arn"]})
        );
        assert_eq!(
            pass[0]["Condition"],
            json!({"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}})
        );
        assert_eq!(
            resource(&b, EXECUTION_ROLE)["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
            json!({"Service": "cloudformation.amazonaws.com"})
        );
    }

    #[test]
    fn cloudformation_rights_reach_only_the_stages_stacks() {
        let stage = aws_stage("qa", "acme/platform");
        let b = synth(&stage).unwrap();
        let role = resource(&b, DEPLOY_ROLE);
        let policy = &role["Policies"][0]["PolicyDocument"];
        let expected: Vec<Value> = crate::services::SERVICES
            .iter()
            .map(|s| json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{s}-qa/*")}))
            .collect();
        let create = statement(policy, "StageStacksAsExecutionRole");
        assert_eq!(create["Resource"], json!(expected));
        assert_eq!(
            create["Condition"],
            json!({"StringEquals": {"cloudformation:RoleArn": {"Fn::GetAtt": [EXECUTION_ROLE, "Arn"]}}})
        );
        let mut rest = expected.clone();
        rest.push(json!({"Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:changeSet/xtask-*/*"}));
        assert_eq!(statement(policy, "StageStacks")["Resource"], json!(rest));
        // every cloudformation action of the role sits in one of the scoped statements
        for s in policy["Statement"].as_array().unwrap() {
            if s["Action"].to_string().contains("cloudformation:") {
                assert_ne!(s["Resource"], "*", "{s}");
            }
        }
        assert_eq!(
            stack_names(&stage),
            crate::services::SERVICES
                .iter()
                .map(|s| format!("{s}-qa"))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_deploy_role_may_detect_drift_and_prune_hotswap_records_but_only_read() {
        let b = synth(&aws_stage("prod", "acme/platform")).unwrap();
        let role = resource(&b, DEPLOY_ROLE);
        let policy = &role["Policies"][0]["PolicyDocument"];
        let drift = statement(policy, "StageDrift");
        assert!(drift["Action"]
            .to_string()
            .contains("cloudformation:DetectStackDrift"));
        assert!(drift["Resource"]
            .to_string()
            .contains("stack/upload-processor-prod/*"));
        // every read of drift detection is a Get/List/Describe, never a write
        for sid in ["DriftReads", "DriftReadsByRandomId"] {
            for action in statement(policy, sid)["Action"].as_array().unwrap() {
                let verb = action.as_str().unwrap().split(':').nth(1).unwrap();
                assert!(
                    ["Get", "List", "Describe", "GET"]
                        .iter()
                        .any(|p| verb.starts_with(p)),
                    "{sid}: {action}"
                );
            }
        }
        let reads = statement(policy, "DriftReads")["Resource"].to_string();
        assert!(reads.contains("function:webhook-runner-*-prod"), "{reads}");
        assert!(!reads.contains("-qa"), "{reads}");
        let hotswap = statement(policy, "HotswapRecords");
        assert!(
            hotswap["Resource"].to_string().contains("/hotswap/*"),
            "{hotswap}"
        );
    }

    #[test]
    fn the_execution_role_has_no_unscoped_writes_beyond_the_listed_ones() {
        let b = synth(&aws_stage("prod", "acme/platform")).unwrap();
        let role = resource(&b, EXECUTION_ROLE);
        let policy = &role["Policies"][0]["PolicyDocument"];
        let star: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Resource"] == "*")
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(
            star,
            [
                "DatabaseLoginSecretKey",
                "LogDeliveries",
                "StageEventSourceMappings",
                "VpcDescriptions"
            ]
        );
        for s in policy["Statement"].as_array().unwrap() {
            assert_ne!(s["Action"], "*", "{s}");
            if s["Action"].to_string().contains("iam:") {
                assert!(s["Resource"].to_string().contains("role/"), "{s}");
            }
        }
        // the stage's functions, not another stage's
        let functions = statement(policy, "StageFunctions")["Resource"].to_string();
        assert!(
            functions.contains("function:mips-cache-*-prod"),
            "{functions}"
        );
        assert!(
            functions.contains("function:mips-cache-prod-*"),
            "{functions}"
        );
        assert!(!functions.contains("-qa"), "{functions}");
    }

    #[test]
    fn the_asset_bucket_is_private_versioned_encrypted_tls_only_and_expires_safely() {
        let stage = aws_stage("qa", "acme/platform");
        let b = synth(&stage).unwrap();
        let bucket = resource(&b, BUCKET);
        assert_eq!(
            bucket["BucketName"],
            "serverless-assets-123456789012-us-east-1"
        );
        assert_eq!(bucket["BucketName"], stage.asset_bucket());
        assert_eq!(
            bucket["VersioningConfiguration"],
            json!({"Status": "Enabled"})
        );
        assert_eq!(
            bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                ["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
            "AES256"
        );
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"],
            json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
        );
        let rules = bucket["LifecycleConfiguration"]["Rules"]
            .as_array()
            .unwrap();
        let by_prefix = |p: &str| rules.iter().find(|r| r["Prefix"] == p).unwrap().clone();
        assert_eq!(by_prefix("assets/")["ExpirationInDays"], ASSET_EXPIRY_DAYS);
        assert_eq!(
            by_prefix("templates/")["ExpirationInDays"],
            TEMPLATE_EXPIRY_DAYS
        );
        let versions = rules.iter().find(|r| r.get("Prefix").is_none()).unwrap();
        assert_eq!(
            versions["NoncurrentVersionExpiration"]["NoncurrentDays"],
            NONCURRENT_DAYS
        );
        // no rule may expire the whole bucket's current objects
        assert!(rules
            .iter()
            .all(|r| r.get("ExpirationInDays").is_none() || r.get("Prefix").is_some()));
        let json = b.template.to_json();
        assert_eq!(json["Resources"][BUCKET]["DeletionPolicy"], "Retain");
        let bucket_policy = resource(&b, BUCKET_POLICY);
        let deny = &bucket_policy["PolicyDocument"]["Statement"][0];
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(
            deny["Condition"],
            json!({"Bool": {"aws:SecureTransport": "false"}})
        );
    }

    #[test]
    fn the_version_and_role_arns_are_outputs() {
        let b = synth(&aws_stage("dev", "acme/platform")).unwrap();
        let outputs = &b.template.to_json()["Outputs"];
        assert_eq!(outputs[OUTPUT_VERSION]["Value"], VERSION.to_string());
        assert_eq!(outputs[OUTPUT_STAGE]["Value"], "dev");
        assert_eq!(
            outputs[OUTPUT_DEPLOY_ROLE]["Value"],
            json!({"Fn::GetAtt": [DEPLOY_ROLE, "Arn"]})
        );
        assert_eq!(
            outputs[OUTPUT_EXECUTION_ROLE]["Value"],
            json!({"Fn::GetAtt": [EXECUTION_ROLE, "Arn"]})
        );
        let stage = aws_stage("dev", "acme/platform");
        assert_eq!(
            deploy_role_arn(&stage).unwrap(),
            "arn:aws:iam::123456789012:role/serverless-platform-deploy-dev"
        );
        assert_eq!(
            resource(&b, DEPLOY_ROLE)["RoleName"],
            deploy_role_name(&stage)
        );
        let map = BTreeMap::from([(OUTPUT_VERSION.to_string(), "1".to_string())]);
        assert_eq!(version_of(&map), Some(1));
    }

    #[test]
    fn the_local_stage_says_what_the_emulator_cannot_hold() {
        let stage = stage::parse("local", "local.yaml", "").unwrap();
        let b = synth(&stage).unwrap();
        let skipped: Vec<&str> = b.skipped.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(skipped, [BUCKET_POLICY, OIDC, DEPLOY_ROLE]);
        for id in skipped {
            assert!(!b.template.resources.contains_key(id), "{id}");
        }
        assert!(b.template.resources.contains_key(BUCKET));
        assert!(b.template.resources.contains_key(EXECUTION_ROLE));
        assert_eq!(deploy_role_arn(&stage), None);
    }

    #[test]
    fn the_shipped_stage_files_bootstrap() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for s in stage::load_all(&root).unwrap() {
            let b = synth(&s).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(b.body, synth(&s).unwrap().body, "deterministic");
        }
    }
}
