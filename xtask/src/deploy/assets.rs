//! The stage's asset bucket: bootstrapped on first use, function and layer zips uploaded under
//! content-addressed keys (skipped when present), large templates uploaded for CloudFormation.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use infra::stage::Stage;
use sha2::{Digest, Sha256};

use crate::build::{hex, Asset};
use crate::{aws, project_root, ui};

pub async fn bootstrap(s3: &aws_sdk_s3::Client, stage: &Stage) -> Result<String> {
    let bucket = stage.asset_bucket();
    if s3.head_bucket().bucket(&bucket).send().await.is_ok() {
        return Ok(bucket);
    }
    ui::step(format!("bootstrapping the asset bucket {bucket}"));
    let mut create = s3.create_bucket().bucket(&bucket);
    if stage.region.0 != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(stage.region.0.as_str()))
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| aws::explain("s3:CreateBucket", &bucket, e))?;
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws::explain("s3:PutPublicAccessBlock", &bucket, e))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .context("encryption rule")?,
        )
        .build();
    s3.put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .context("encryption")?,
        )
        .send()
        .await
        .map_err(|e| aws::explain("s3:PutBucketEncryption", &bucket, e))?;
    Ok(bucket)
}

/// Upload the zips (keyed by a name for messages) the bucket does not hold yet; returns how many
/// were uploaded.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    assets: &BTreeMap<String, Asset>,
) -> Result<usize> {
    let mut uploaded = 0;
    for (name, asset) in assets {
        let key = asset.key();
        if s3
            .head_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .is_ok()
        {
            continue;
        }
        // a layer is tens of MB: say what the wait is for
        ui::step(format!("uploading {name} ({} bytes) as {key}", asset.size));
        let body = ByteStream::from_path(project_root().join(&asset.path))
            .await
            .with_context(|| format!("reading {}", asset.path))?;
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .map_err(|e| aws::explain("s3:PutObject", &format!("{name} ({key})"), e))?;
        uploaded += 1;
    }
    Ok(uploaded)
}

/// Put a template CloudFormation cannot take inline; returns its URL.
pub async fn upload_template(
    s3: &aws_sdk_s3::Client,
    stage: &Stage,
    bucket: &str,
    stack: &str,
    body: &str,
) -> Result<String> {
    let key = format!(
        "templates/{stack}-{}.json",
        hex(&Sha256::digest(body.as_bytes()))
    );
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .map_err(|e| aws::explain("s3:PutObject", &key, e))?;
    Ok(match stage.aws_endpoint() {
        Some(endpoint) => emulator_template_url(&endpoint, bucket, &key),
        None => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", stage.region),
    })
}

/// The emulator's CloudFormation reads a path-style TemplateURL only when its host says
/// `localhost`; with `127.0.0.1` it takes the first label, `127`, for the bucket (NoSuchBucket).
fn emulator_template_url(endpoint: &str, bucket: &str, key: &str) -> String {
    let endpoint = endpoint.replacen("://127.0.0.1", "://localhost", 1);
    format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/'))
}

/// Objects under `assets/` expire by the bucket's lifecycle (90 days, see infra::bootstrap);
/// copying a key onto itself gives it a new modification time, so the zips that deployed stacks
/// still reference never expire. Only keys older than a week are copied: a deploy costs a
/// request per referenced zip, not a copy.
pub async fn refresh(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Result<()> {
    const RENEW_AFTER_SECS: i64 = 7 * 86_400;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    for key in keys {
        let Ok(head) = s3.head_object().bucket(bucket).key(key).send().await else {
            continue;
        };
        if now - head.last_modified().map_or(0, |t| t.secs()) < RENEW_AFTER_SECS {
            continue;
        }
        s3.copy_object()
            .bucket(bucket)
            .key(key)
            .copy_source(format!("{bucket}/{key}"))
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .send()
            .await
            .map_err(|e| aws::explain("s3:CopyObject", key, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod template_url_tests {
    #[test]
    fn the_emulator_gets_a_path_style_url_on_localhost() {
        assert_eq!(
            super::emulator_template_url("http://127.0.0.1:5000", "assets", "templates/a.json"),
            "http://localhost:5000/assets/templates/a.json"
        );
        assert_eq!(
            super::emulator_template_url("http://localhost:5000/", "b", "k"),
            "http://localhost:5000/b/k"
        );
    }
}
