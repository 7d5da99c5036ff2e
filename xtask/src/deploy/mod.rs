//! `cargo xtask deploy --stage S [--service S] [--yes] [--confirm prod] [--hotswap]`:
//! synth with checks → build what changed → asset bucket → upload → per stack a plan →
//! review → confirm → execute (stacks in parallel, bounded) → outputs.

mod assets;
pub mod confirm;
mod hotswap;
pub mod stack;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use indicatif::MultiProgress;
use infra::stage::Stage;
use tokio::sync::Semaphore;

use crate::{aws, build, local, project_root, ui};
use stack::{Input, Method, Plan};

pub struct Args {
    pub service: Option<String>,
    pub yes: bool,
    pub confirm: Option<String>,
    pub hotswap: bool,
    /// `None`: change sets on AWS, direct on the local stage.
    pub method: Option<Method>,
}

/// At most this many stacks deploy at once.
const PARALLEL: usize = 4;

/// What a deploy did.
pub struct Summary {
    /// Stacks deployed or already up to date.
    pub stacks: Vec<String>,
    pub changed: usize,
}

pub async fn run(stage: Stage, args: Args) -> Result<Summary> {
    let started = Instant::now();
    if args.hotswap && stage.name == "prod" {
        bail!("--hotswap is refused for prod: production changes go through CloudFormation only");
    }
    confirm::check_up_front(&stage.name, args.yes, args.confirm.as_deref())?;
    let stacks = infra::synth_stage(&stage, args.service.as_deref())?;
    if stacks.is_empty() {
        bail!(
            "no service `{}`; known: {}",
            args.service.unwrap_or_default(),
            infra::services::SERVICES.join(", ")
        );
    }
    let (stacks, missing): (Vec<_>, Vec<_>) = stacks
        .into_iter()
        .partition(|s| s.functions.iter().all(|f| build::has_code(&f.binary)));
    for s in &missing {
        let msg = format!(
            "{}: its function code has not landed yet (no crate under functions/ declares {})",
            s.name,
            s.functions
                .iter()
                .map(|f| f.binary.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if args.service.is_some() {
            bail!(msg);
        }
        ui::warn(format!("{msg}; not deployed"));
    }
    if stage.is_local() {
        local::up(&stage).await?;
    }
    let binaries: Vec<String> = stacks
        .iter()
        .flat_map(|s| s.functions.iter().map(|f| f.binary.clone()))
        .collect();
    // Credentials are checked before the build: a missing login should cost a second, not a build.
    let clients = aws::Clients::connect(&stage).await?;
    if stage.is_local() {
        crate::bootstrap::ensure_local(&stage).await?;
    } else {
        crate::bootstrap::check(&stage, &clients.cfn).await?;
    }
    let assets = build::build(&binaries)?;
    let bucket = assets::bootstrap(&clients.s3, &stage).await?;
    let uploaded = assets::upload(&clients.s3, &bucket, &assets).await?;
    if uploaded > 0 {
        ui::ok(format!(
            "uploaded {uploaded} zip(s) to s3://{bucket}/assets/"
        ));
    }

    let mut inputs = Vec::new();
    for s in &stacks {
        let parameters: BTreeMap<String, String> = s
            .functions
            .iter()
            .map(|f| (f.code_parameter.clone(), assets[&f.binary].key()))
            .collect();
        let template_url = if s.body.len() > infra::checks::INLINE_TEMPLATE_LIMIT {
            Some(assets::upload_template(&clients.s3, &stage, &bucket, &s.name, &s.body).await?)
        } else {
            None
        };
        inputs.push(Input {
            name: s.name.clone(),
            body: s.body.clone(),
            template_url,
            parameters,
            role_arn: infra::bootstrap::execution_role_arn(&stage),
        });
    }
    // the bucket's lifecycle expires old objects under assets/: the zips the deployed stacks
    // still run are renewed before that, whether or not this deploy changes them
    let mut running = Vec::new();
    for input in &inputs {
        if let Some(d) = crate::deployed::describe(&clients.cfn, &input.name).await? {
            running.extend(
                d.parameters
                    .into_values()
                    .filter(|v| v.starts_with("assets/")),
            );
        }
    }
    assets::refresh(&clients.s3, &bucket, &running).await?;
    let method = args.method.unwrap_or(if stage.is_local() {
        Method::Direct
    } else {
        Method::ChangeSet
    });
    for input in &inputs {
        stack::delete_failed_create(&clients.cfn, &input.name, |what| {
            confirm::confirm(&stage.name, args.yes, args.confirm.as_deref(), what)
        })
        .await?;
    }
    let mut plans = Vec::new();
    for input in &inputs {
        plans.push(stack::plan(&clients.cfn, input, method).await?);
    }

    let mut hotswapped = Vec::new();
    if args.hotswap {
        let mut remaining_inputs = Vec::new();
        let mut remaining_plans = Vec::new();
        for (input, plan) in inputs.into_iter().zip(plans) {
            if matches!(plan, Plan::NoChanges) {
                remaining_inputs.push(input);
                remaining_plans.push(plan);
                continue;
            }
            match hotswap::try_hotswap(&clients, &stage, &bucket, &input).await? {
                hotswap::Outcome::Done(what) => {
                    ui::ok(format!("{}: hotswapped {what}", input.name));
                    hotswapped.push(input.name);
                }
                hotswap::Outcome::NotPossible(why) => {
                    ui::warn(format!(
                        "{}: cannot hotswap ({why}); deploying through CloudFormation",
                        input.name
                    ));
                    remaining_inputs.push(input);
                    remaining_plans.push(plan);
                }
            }
        }
        inputs = remaining_inputs;
        plans = remaining_plans;
    }

    let changed: Vec<usize> = (0..plans.len())
        .filter(|i| !matches!(plans[*i], Plan::NoChanges))
        .collect();
    let mut outputs = read_outputs(&stage);
    if changed.is_empty() {
        for input in &inputs {
            if let Some(d) = crate::deployed::describe(&clients.cfn, &input.name).await? {
                outputs.insert(input.name.clone(), d.outputs);
            }
        }
        let wired = local_wiring(&stage, &mut outputs).await;
        write_outputs(&stage, &outputs)?;
        wired?;
        if hotswapped.is_empty() {
            ui::ok(format!(
                "no changes ({} stack(s) up to date) in {:.2?}",
                inputs.len(),
                started.elapsed()
            ));
        } else {
            ui::ok(format!(
                "hotswapped {} stack(s), {} up to date, in {:.2?}; CloudFormation still holds the previous code keys until the next full deploy",
                hotswapped.len(),
                inputs.len(),
                started.elapsed()
            ));
        }
        let mut stacks: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
        stacks.extend(hotswapped.iter().cloned());
        return Ok(Summary { stacks, changed: 0 });
    }
    for &i in &changed {
        print_plan(&inputs[i].name, &plans[i]);
    }
    confirm::confirm(
        &stage.name,
        args.yes,
        args.confirm.as_deref(),
        &format!("deploy {} stack(s) to {}", changed.len(), stage.name),
    )?;

    let multi = MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let limit = Arc::new(Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    let mut plans: Vec<Option<Plan>> = plans.into_iter().map(Some).collect();
    let inputs = Arc::new(inputs);
    for &i in &changed {
        let cfn = clients.cfn.clone();
        let inputs = inputs.clone();
        let plan = plans[i].take().expect("each plan runs once");
        let limit = limit.clone();
        let pb = multi.add(ui::spinner(format!("{}: waiting", inputs[i].name)));
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore open");
            let t = Instant::now();
            let r = stack::execute(&cfn, &inputs[i], &plan, &pb).await;
            pb.finish_and_clear();
            (inputs[i].name.clone(), t.elapsed(), r)
        });
    }
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (name, elapsed, result) = joined?;
        match result {
            Ok(out) => {
                ui::ok(format!("{name} deployed in {elapsed:.1?}"));
                outputs.insert(name, out);
            }
            Err(e) => {
                eprintln!("{} {e:#}", ui::red("failed:"));
                failed.push(name);
            }
        }
    }
    let unchanged: Vec<String> = inputs
        .iter()
        .map(|i| i.name.clone())
        .filter(|n| !outputs.contains_key(n))
        .collect();
    for name in unchanged {
        if let Some(d) = crate::deployed::describe(&clients.cfn, &name).await? {
            outputs.insert(name, d.outputs);
        }
    }
    let wired = local_wiring(&stage, &mut outputs).await;
    write_outputs(&stage, &outputs)?;
    print_outputs(&outputs);
    wired?;
    if !failed.is_empty() {
        bail!(
            "{} of {} stack(s) failed: {}",
            failed.len(),
            changed.len(),
            failed.join(", ")
        );
    }
    ui::ok(format!(
        "deployed to {} in {:.1?}; outputs in target/outputs/{}.json",
        stage.name,
        started.elapsed(),
        stage.name
    ));
    let mut stacks: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    stacks.extend(hotswapped.iter().cloned());
    Ok(Summary {
        stacks,
        changed: changed.len(),
    })
}

/// The local runtime re-reads what was deployed: APIs get their localhost URL (written as each
/// stack's `ApiUrl` output, where AWS would have the execute-api one), queues their pollers. A
/// runtime that could not load the wiring fails the deploy (after the outputs are written without
/// stale URLs): the stacks are there, but nothing would answer on the API ports.
async fn local_wiring(
    stage: &Stage,
    outputs: &mut BTreeMap<String, BTreeMap<String, String>>,
) -> Result<()> {
    if !stage.is_local() {
        return Ok(());
    }
    for values in outputs.values_mut() {
        values.remove("ApiUrl");
    }
    let r = crate::local::runtime::request_reload(stage).await.map_err(|e| {
        anyhow::anyhow!(
            "the stacks are deployed, but the local runtime did not load their wiring (APIs, queues): {e:#}\n  fix: `cargo xtask local up`, then deploy again"
        )
    })?;
    for api in &r.apis {
        outputs
            .entry(format!("{}-{}", api.service, stage.name))
            .or_default()
            .insert("ApiUrl".into(), api.url.clone());
    }
    for q in &r.queues {
        ui::ok(format!("polling {q}"));
    }
    Ok(())
}

fn print_plan(stack: &str, plan: &Plan) {
    let (verb, changes) = match plan {
        Plan::NoChanges => return,
        Plan::Create { changes, .. } => ("create", changes),
        Plan::Update { changes, .. } => ("update", changes),
    };
    println!(
        "\n{} ({verb}, {} change(s))",
        ui::bold(stack),
        changes.len()
    );
    println!(
        "  {:<8} {:<40} {:<36} replacement",
        "action", "resource", "type"
    );
    for c in changes {
        println!(
            "  {:<8} {:<40} {:<36} {}",
            c.action, c.logical_id, c.type_name, c.replacement
        );
    }
}

fn outputs_path(stage: &Stage) -> std::path::PathBuf {
    project_root()
        .join("target/outputs")
        .join(format!("{}.json", stage.name))
}

pub fn read_outputs(stage: &Stage) -> BTreeMap<String, BTreeMap<String, String>> {
    std::fs::read_to_string(outputs_path(stage))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_outputs(
    stage: &Stage,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<()> {
    let path = outputs_path(stage);
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    std::fs::write(path, serde_json::to_string_pretty(outputs)? + "\n")?;
    Ok(())
}

fn print_outputs(outputs: &BTreeMap<String, BTreeMap<String, String>>) {
    for (stack, values) in outputs {
        for (k, v) in values {
            println!("  {stack}.{k} = {v}");
        }
    }
}
