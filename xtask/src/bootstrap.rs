//! `cargo xtask bootstrap --stage S`: the per-account, per-region stack every deploy needs
//! (asset bucket, GitHub OIDC deploy role, CloudFormation execution role; infra/src/bootstrap.rs),
//! and the preflight `check` deploy runs before touching an AWS stage.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{ChangeSetType, ResourceToImport, StackStatus};
use infra::bootstrap::{self as boot, Bootstrap};
use infra::stage::Stage;

use crate::deploy::confirm;
use crate::deploy::stack::{self, Input, Method, Plan};
use crate::{aws, deployed, ui};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub stage: String,
    /// Apply without asking (prod also needs --confirm prod).
    #[arg(long)]
    pub yes: bool,
    /// The stage's name, required with --yes for prod.
    #[arg(long)]
    pub confirm: Option<String>,
    /// Only write target/cfn/<stage>/serverless-bootstrap.template.json (for cfn-lint, checkov).
    #[arg(long)]
    pub synth: bool,
}

impl Args {
    pub async fn run(self) -> Result<i32> {
        if self.synth {
            let stage = crate::synth::load_stage(&self.stage)?;
            println!("{}", write(&stage)?.display());
            return Ok(0);
        }
        confirm::check_up_front(&self.stage, self.yes, self.confirm.as_deref())?;
        let stage = crate::synth::load_stage(&self.stage)?;
        let b = boot::synth(&stage)?;
        if stage.is_local() {
            crate::local::up(&stage).await?;
        }
        if let (Some(pinned), Some(ours)) = (&stage.deploy_role_arn, boot::deploy_role_arn(&stage))
        {
            if *pinned != ours {
                ui::warn(format!(
                    "environments/{}.yaml names deploy_role_arn {pinned}, but the bootstrap deploy role is {ours}",
                    stage.name
                ));
            }
        }
        let clients = aws::Clients::connect(&stage).await?;
        let outputs = apply(&stage, &clients, &b, boot::STACK_NAME, |what| {
            confirm::confirm(&stage.name, self.yes, self.confirm.as_deref(), what)
        })
        .await?;
        // what deploy's preflight will require, verified on what was just deployed
        check(&stage, &clients.cfn).await?;
        print_outputs(&outputs);
        Ok(0)
    }
}

/// Write the stage's bootstrap template beside its service stacks, where `cargo xtask lint`
/// (cfn-lint) and checkov read templates; returns the path.
pub fn write(stage: &Stage) -> Result<std::path::PathBuf> {
    let b = boot::synth(stage)?;
    let dir = crate::project_root()
        .join("target/cfn")
        .join(stage.name.as_str());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.template.json", b.name));
    std::fs::write(&path, &b.body).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn print_outputs(outputs: &BTreeMap<String, String>) {
    for key in [
        boot::OUTPUT_DEPLOY_ROLE,
        boot::OUTPUT_EXECUTION_ROLE,
        boot::OUTPUT_BUCKET,
        boot::OUTPUT_VERSION,
    ] {
        if let Some(v) = outputs.get(key) {
            println!("{key:<18} {v}");
        }
    }
}

fn fix(stage: &Stage) -> String {
    format!("cargo xtask bootstrap --stage {}", stage.name)
}

/// Deploy's preflight on an AWS stage: the bootstrap stack exists, belongs to this stage and is
/// at least [`boot::VERSION`]. Every failure names the stage and the command that fixes it.
pub async fn check(stage: &Stage, cfn: &aws_sdk_cloudformation::Client) -> Result<()> {
    check_named(stage, cfn, boot::STACK_NAME).await
}

async fn check_named(
    stage: &Stage,
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<()> {
    let where_ = format!(
        "account {}, {}",
        stage
            .account
            .as_ref()
            .map_or("of the emulator", |a| a.0.as_str()),
        stage.region
    );
    let Some(d) = deployed::describe(cfn, name).await? else {
        bail!(
            "stage `{}` is not bootstrapped: no stack {name} in {where_}\n  fix: {}",
            stage.name,
            fix(stage)
        );
    };
    let status = d.status.as_str();
    if !matches!(
        d.status,
        StackStatus::CreateComplete
            | StackStatus::UpdateComplete
            | StackStatus::UpdateRollbackComplete
    ) {
        bail!(
            "stage `{}`: the bootstrap stack {name} is {status}\n  fix: {} (after it settles)",
            stage.name,
            fix(stage)
        );
    }
    if let Some(other) = d.outputs.get(boot::OUTPUT_STAGE) {
        if other.as_str() != stage.name.as_str() {
            bail!(
                "stage `{}`: the bootstrap stack {name} in {where_} holds stage `{other}`'s roles; one account and region serve one stage (docs/bootstrap.md)",
                stage.name
            );
        }
    }
    match boot::version_of(&d.outputs) {
        Some(v) if v >= boot::VERSION => Ok(()),
        found => bail!(
            "stage `{}`: the bootstrap stack {name} is version {}, this deploy needs {}\n  fix: {}",
            stage.name,
            found.map_or("(none)".to_string(), |v| v.to_string()),
            boot::VERSION,
            fix(stage)
        ),
    }
}

/// For `deploy --stage local`: bootstrap the emulator when its bootstrap stack is missing or
/// old, without asking (the emulator is the developer's own).
pub async fn ensure_local(stage: &Stage) -> Result<()> {
    let clients = aws::Clients::new(stage).await;
    ensure_local_named(stage, &clients, boot::STACK_NAME).await
}

async fn ensure_local_named(stage: &Stage, clients: &aws::Clients, name: &str) -> Result<()> {
    if check_named(stage, &clients.cfn, name).await.is_ok() {
        return Ok(());
    }
    let b = boot::synth(stage)?;
    apply(stage, clients, &b, name, |_| Ok(())).await?;
    Ok(())
}

/// Create or update the bootstrap stack; returns its outputs.
async fn apply(
    stage: &Stage,
    clients: &aws::Clients,
    b: &Bootstrap,
    name: &str,
    approve: impl FnOnce(&str) -> Result<()>,
) -> Result<BTreeMap<String, String>> {
    for (id, why) in &b.skipped {
        ui::warn(format!("{name}: {id} is left out on this stage: {why}"));
    }
    let existing = deployed::describe(&clients.cfn, name).await?;
    if let Some(d) = &existing {
        if let Some(other) = d.outputs.get(boot::OUTPUT_STAGE) {
            if other.as_str() != stage.name.as_str() {
                bail!(
                    "{name} in this account and region already holds stage `{other}`'s roles; updating it for `{}` would delete them. One account and region serve one stage (docs/bootstrap.md)",
                    stage.name
                );
            }
        }
    }
    // a failed first create holds nothing; the plan below asks before anything is made
    stack::delete_failed_create(&clients.cfn, name, |_| Ok(())).await?;
    let local = stage.aws_endpoint().is_some();
    let bucket = stage.asset_bucket();
    let bucket_exists = clients
        .s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .is_ok();
    if deployed::describe(&clients.cfn, name).await?.is_none() && bucket_exists {
        if local {
            adopt_local_bucket(clients, &bucket).await?;
        } else {
            import_bucket(clients, b, name, &bucket).await?;
        }
    }
    let input = Input {
        name: name.to_string(),
        body: b.body.clone(),
        template_url: None,
        parameters: BTreeMap::new(),
        role_arn: None,
    };
    let method = if local {
        Method::Direct
    } else {
        Method::ChangeSet
    };
    let plan = stack::plan(&clients.cfn, &input, method).await?;
    let changes = match &plan {
        Plan::NoChanges => {
            ui::ok(format!("{name}: no changes (version {})", boot::VERSION));
            return Ok(deployed::describe(&clients.cfn, name)
                .await?
                .map(|d| d.outputs)
                .unwrap_or_default());
        }
        Plan::Create { changes, .. } | Plan::Update { changes, .. } => changes,
    };
    for c in changes {
        println!(
            "  {:<8} {:<32} {:<28} {}",
            c.action, c.logical_id, c.type_name, c.replacement
        );
    }
    approve(&format!(
        "{} {name} (bootstrap version {}) for stage {}",
        if matches!(plan, Plan::Create { .. }) {
            "create"
        } else {
            "update"
        },
        boot::VERSION,
        stage.name
    ))?;
    let pb = ui::spinner(format!("{name}: applying"));
    let r = stack::execute(&clients.cfn, &input, &plan, &pb).await;
    pb.finish_and_clear();
    let outputs = r?;
    ui::ok(format!("{name} is at bootstrap version {}", boot::VERSION));
    Ok(outputs)
}

/// Deploy created the asset bucket on first use before the bootstrap stack existed. On AWS the
/// bucket is imported into the stack (its zips are the rollback targets of deployed stacks), then
/// the stack update gives it versioning, the lifecycle rules and the TLS-only policy.
async fn import_bucket(
    clients: &aws::Clients,
    b: &Bootstrap,
    name: &str,
    bucket: &str,
) -> Result<()> {
    ui::step(format!(
        "{bucket} exists outside {name} (deploy created it before bootstrap): importing it"
    ));
    let mut doc = b.template.to_json();
    // an import may only add the imported resources: the bucket alone, retained
    let resources = doc["Resources"]
        .as_object_mut()
        .context("template resources")?;
    resources.retain(|id, _| id == "AssetBucket");
    doc.as_object_mut().context("template")?.remove("Outputs");
    let body = doc.to_string();
    let cs = format!(
        "xtask-import-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    clients
        .cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name(&cs)
        .change_set_type(ChangeSetType::Import)
        .template_body(&body)
        .resources_to_import(
            ResourceToImport::builder()
                .resource_type("AWS::S3::Bucket")
                .logical_resource_id("AssetBucket")
                .resource_identifier("BucketName", bucket)
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws::explain("cloudformation:CreateChangeSet (import)", name, e))?;
    loop {
        let d = clients
            .cfn
            .describe_change_set()
            .stack_name(name)
            .change_set_name(&cs)
            .send()
            .await
            .map_err(|e| aws::explain("cloudformation:DescribeChangeSet", name, e))?;
        match d.status().map(|s| s.as_str()).unwrap_or_default() {
            "CREATE_COMPLETE" => break,
            "FAILED" => bail!(
                "importing {bucket} into {name} failed: {}",
                d.status_reason().unwrap_or_default()
            ),
            _ => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
        }
    }
    clients
        .cfn
        .execute_change_set()
        .stack_name(name)
        .change_set_name(&cs)
        .send()
        .await
        .map_err(|e| aws::explain("cloudformation:ExecuteChangeSet (import)", name, e))?;
    loop {
        let d = deployed::describe(&clients.cfn, name).await?;
        let status = d.map(|d| d.status);
        match status.as_ref().map(|s| s.as_str()).unwrap_or("(gone)") {
            "IMPORT_COMPLETE" => return Ok(()),
            s if s.ends_with("_IN_PROGRESS") => {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await
            }
            s => bail!("importing {bucket} into {name} ended in {s}"),
        }
    }
}

/// The emulator's CloudFormation cannot import, and the local bucket holds only what the next
/// deploy uploads again (content-addressed zips, skipped only when present): it is emptied and
/// deleted so the stack can create it.
async fn adopt_local_bucket(clients: &aws::Clients, bucket: &str) -> Result<()> {
    ui::step(format!(
        "{bucket} exists outside the bootstrap stack on the emulator: recreating it (the next deploy uploads its zips again)"
    ));
    let mut token = None;
    loop {
        let page = clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| aws::explain("s3:ListObjectsV2", bucket, e))?;
        for o in page.contents() {
            if let Some(key) = o.key() {
                clients
                    .s3
                    .delete_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| aws::explain("s3:DeleteObject", key, e))?;
            }
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    clients
        .s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| aws::explain("s3:DeleteBucket", bucket, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the local stage under a unique name: its own bucket and roles on the emulator,
    /// beside the developer's.
    fn unique_local() -> Stage {
        let mut s = crate::synth::load_stage("local").unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        s.name =
            infra::stage::StageName::new(format!("bt{}{}", std::process::id(), nanos % 1_000_000));
        s
    }

    async fn emulator_clients(stage: &Stage) -> aws::Clients {
        let port = stage.local.as_ref().unwrap().emulator_port;
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            panic!(
                "the AWS emulator is not running on port {port}: run `cargo xtask local up` first"
            );
        }
        aws::Clients::new(stage).await
    }

    async fn cleanup(clients: &aws::Clients, name: &str, bucket: &str) {
        let _ = clients.cfn.delete_stack().stack_name(name).send().await;
        // the bucket is retained by the stack
        let _ = clients.s3.delete_bucket().bucket(bucket).send().await;
    }

    #[tokio::test]
    async fn bootstrapped_on_the_emulator_check_passes_and_an_older_version_names_the_fix() {
        let stage = unique_local();
        let clients = emulator_clients(&stage).await;
        let name = format!("serverless-bootstrap-{}", stage.name);
        let bucket = stage.asset_bucket();

        let missing = check_named(&stage, &clients.cfn, &name).await.unwrap_err();
        assert!(
            missing
                .to_string()
                .contains(&format!("cargo xtask bootstrap --stage {}", stage.name)),
            "{missing}"
        );

        let r = async {
            ensure_local_named(&stage, &clients, &name).await?;
            check_named(&stage, &clients.cfn, &name).await?;
            let d = deployed::describe(&clients.cfn, &name).await?.unwrap();
            assert_eq!(d.outputs[boot::OUTPUT_VERSION], boot::VERSION.to_string());
            assert_eq!(d.outputs[boot::OUTPUT_BUCKET], bucket);
            clients.s3.head_bucket().bucket(&bucket).send().await?;
            // idempotent: a second run finds nothing to do
            ensure_local_named(&stage, &clients, &name).await?;

            // the same stack as an older bootstrap left it
            let old = boot::synth(&stage)?.body.replace(
                &format!("\"Value\":\"{}\"", boot::VERSION),
                &format!("\"Value\":\"{}\"", boot::VERSION - 1),
            );
            assert_ne!(
                old,
                boot::synth(&stage)?.body,
                "the version output was replaced"
            );
            clients
                .cfn
                .update_stack()
                .stack_name(&name)
                .template_body(&old)
                .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
                .send()
                .await?;
            let mut outputs = BTreeMap::new();
            for _ in 0..100 {
                let d = deployed::describe(&clients.cfn, &name).await?.unwrap();
                if !d.status.as_str().ends_with("_IN_PROGRESS") {
                    outputs = d.outputs;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(
                outputs[boot::OUTPUT_VERSION],
                (boot::VERSION - 1).to_string()
            );
            let e = check_named(&stage, &clients.cfn, &name)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("stage `{}`", stage.name)), "{e}");
            assert!(
                e.contains(&format!(
                    "version {}, this deploy needs {}",
                    boot::VERSION - 1,
                    boot::VERSION
                )),
                "{e}"
            );
            assert!(
                e.contains(&format!(
                    "fix: cargo xtask bootstrap --stage {}",
                    stage.name
                )),
                "{e}"
            );

            // and ensure_local brings it up to date
            ensure_local_named(&stage, &clients, &name).await?;
            check_named(&stage, &clients.cfn, &name).await?;
            anyhow::Ok(())
        }
        .await;
        cleanup(&clients, &name, &bucket).await;
        r.unwrap();
    }
}
