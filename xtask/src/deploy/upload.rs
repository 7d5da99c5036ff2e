//! Phase 2: the zips every stack needs (built here, or verified from `--artifacts`) go to
//! `assets/<sha256>.zip` in the stage's asset bucket; each stack gets its parameters (zip keys)
//! and, when too large to send inline, its template's URL. Nothing in CloudFormation changes yet.

use anyhow::Result;
use infra::stage::Stage;

use super::assets;
use super::stack_deploy::StackDeploy;
use super::zips::{self, Source};
use crate::{aws, ui};

/// Returns the asset bucket's name.
pub async fn run(
    stage: &Stage,
    clients: &aws::Clients,
    source: &Source,
    stacks: &mut [StackDeploy],
) -> Result<String> {
    let needed = zips::obtain(source, stacks.iter().flat_map(|s| s.zips.iter()))?;
    let bucket = assets::bootstrap(&clients.s3, stage).await?;
    let uploaded = assets::upload(&clients.s3, &bucket, &needed).await?;
    if uploaded > 0 {
        ui::ok(format!(
            "uploaded {uploaded} zip(s) to s3://{bucket}/assets/"
        ));
    }
    for s in stacks.iter_mut() {
        s.input.parameters = zips::parameters(&s.zips, &needed)?;
        if s.input.body.len() > infra::checks::INLINE_TEMPLATE_LIMIT {
            s.input.template_url = Some(
                assets::upload_template(&clients.s3, stage, &bucket, &s.input.name, &s.input.body)
                    .await?,
            );
        }
    }
    // the bucket's lifecycle expires old objects under assets/: the zips the deployed stacks
    // still run are renewed before that, whether or not this deploy changes them
    let mut running = Vec::new();
    for s in stacks.iter() {
        if let Some(d) = crate::deployed::describe(&clients.cfn, s.name()).await? {
            running.extend(
                d.parameters
                    .into_values()
                    .filter(|v| v.starts_with("assets/")),
            );
        }
    }
    assets::refresh(&clients.s3, &bucket, &running).await?;
    Ok(bucket)
}
