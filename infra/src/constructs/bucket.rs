//! S3 bucket: public access blocked, SSE-S3 encryption, owner-enforced objects, TLS-only policy,
//! retained on stack deletion; optional versioning and expiry.

use serde_json::json;

use super::{grant, pascal, some, Grantee, Stack};
use crate::cfn::s3::bucket::{
    BucketEncryption, CfnBucket, LifecycleConfiguration, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, Rule, ServerSideEncryptionByDefault, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use crate::cfn::s3::bucket_policy::CfnBucketPolicy;
use crate::cfn::{get_att, r#ref, sub, Val};

#[derive(Default)]
pub struct BucketProps {
    pub versioned: bool,
    /// Delete objects this many days after creation.
    pub expire_after_days: Option<u32>,
}

#[derive(Clone)]
pub struct Bucket {
    pub id: String,
}

impl Bucket {
    pub fn new(stack: &Stack, name: &str, props: BucketProps) -> Bucket {
        let id = format!("{}Bucket", pascal(name));
        let physical = format!("{}-${{AWS::AccountId}}", stack.physical_name(name));
        if physical.len() - "${AWS::AccountId}".len() + 12 > 63 {
            stack.error(format!(
                "bucket name `{physical}` would exceed S3's 63 characters; shorten `{name}`"
            ));
        }
        let rules = props.expire_after_days.map(|days| LifecycleConfiguration {
            rules: Some(vec![Rule {
                id: some(format!("expire-after-{days}-days")),
                status: some("Enabled"),
                expiration_in_days: some(days),
                ..Default::default()
            }]),
            ..Default::default()
        });
        stack.add(
            &id,
            CfnBucket {
                bucket_name: some(sub(physical)),
                public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                    block_public_acls: some(true),
                    block_public_policy: some(true),
                    ignore_public_acls: some(true),
                    restrict_public_buckets: some(true),
                }),
                bucket_encryption: Some(BucketEncryption {
                    server_side_encryption_configuration: Some(vec![ServerSideEncryptionRule {
                        server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                            sse_algorithm: some("AES256"),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                }),
                ownership_controls: Some(OwnershipControls {
                    rules: Some(vec![OwnershipControlsRule {
                        object_ownership: some("BucketOwnerEnforced"),
                    }]),
                }),
                versioning_configuration: props.versioned.then(|| VersioningConfiguration {
                    status: some("Enabled"),
                }),
                lifecycle_configuration: rules,
                ..Default::default()
            },
        );
        stack.with_resource(&id, |r| r.deletion_policy = Some("Retain"));
        let bucket = Bucket { id };
        stack.add(
            &format!("{}Policy", bucket.id),
            CfnBucketPolicy {
                bucket: some(r#ref(&bucket.id)),
                policy_document: Some(json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": { "AWS": "*" },
                        "Action": "s3:*",
                        "Resource": [bucket.arn().to_json(), bucket.objects_arn("").to_json()],
                        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
                    }]
                })),
            },
        );
        bucket
    }

    pub fn name(&self) -> Val<String> {
        r#ref(&self.id).into()
    }

    pub fn arn(&self) -> Val<String> {
        get_att(&self.id, "Arn").into()
    }

    /// Objects under `prefix` (empty for all).
    pub fn objects_arn(&self, prefix: &str) -> Val<String> {
        sub(format!("${{{}.Arn}}/{prefix}*", self.id)).into()
    }

    pub fn grant_read(&self, grantee: &dyn Grantee) {
        grant(grantee, &["s3:GetObject"], vec![self.objects_arn("")]);
        grant(grantee, &["s3:ListBucket"], vec![self.arn()]);
    }

    pub fn grant_write(&self, grantee: &dyn Grantee) {
        grant(
            grantee,
            &["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"],
            vec![self.objects_arn("")],
        );
    }

    pub fn grant_read_write(&self, grantee: &dyn Grantee) {
        self.grant_read(grantee);
        self.grant_write(grantee);
    }
}
