//! `cargo xtask drift --stage S [--service N]`: CloudFormation drift detection on each deployed
//! stack of the stage (DetectStackDrift, polled with DescribeStackDriftDetectionStatus, read with
//! DescribeStackResourceDrifts), printed per resource and property.
//!
//! CloudFormation cannot see a function's code (`Code` is write-only in Lambda's resource
//! schema), which is what `deploy --hotswap` changes; so each function's CodeSha256 is also
//! compared with the stack's content-addressed code key. Differences that a hotswap recorded in
//! the asset bucket still explains (`deploy::hotswap::Record`) are named as expected drift.
//!
//! Exit 0 when every stack is in sync or drifted only where a hotswap changed it, 1 when one
//! drifted otherwise, 2 (an error) when detection could not complete for one.

mod report;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use aws_sdk_cloudformation::types::StackDriftDetectionStatus;
use aws_sdk_cloudformation::Client;
use infra::stage::Stage;

use crate::deploy::hotswap::{self, StackState};
use crate::{aws, ui};
pub use report::{exit_code, Difference, ResourceDrift, StackDrift, Status, Verdict};

/// A detection that takes longer is reported as failed (AWS: minutes for a large stack).
const DETECTION_LIMIT: Duration = Duration::from_secs(15 * 60);

/// The stack names of `--service`, or of every service.
fn stack_names(stage: &Stage, service: Option<&str>) -> Result<Vec<String>> {
    let known = infra::services::SERVICES;
    let services: Vec<&str> = match service {
        Some(s) if known.contains(&s) => vec![s],
        Some(s) => bail!("no service `{s}`; known: {}", known.join(", ")),
        None => known.to_vec(),
    };
    Ok(services
        .iter()
        .map(|s| format!("{s}-{}", stage.name))
        .collect())
}

pub async fn run(stage: Stage, service: Option<&str>) -> Result<i32> {
    let names = stack_names(&stage, service)?;
    let clients = aws::Clients::connect(&stage).await?;
    let mut deployed: Vec<(String, StackState)> = Vec::new();
    for name in names {
        match hotswap::stack_state(&clients.cfn, &name).await? {
            Some(state) => deployed.push((name, state)),
            None => println!("{name}: not deployed"),
        }
    }
    if deployed.is_empty() {
        ui::ok(format!(
            "no stack of {} is deployed: nothing to check",
            stage.name
        ));
        return Ok(0);
    }
    let poll = if stage.is_local() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let stacks: Vec<String> = deployed.iter().map(|(n, _)| n.clone()).collect();
    let detections = detect_all(&clients.cfn, &stacks, poll).await;
    let bucket = stage.asset_bucket();
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for ((name, state), detection) in deployed.iter().zip(detections) {
        let result = match detection {
            Ok(failure) => stack_drift(&clients, &bucket, name, state, failure).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(report) => {
                for line in report.render() {
                    println!("{line}");
                }
                reports.push(report);
            }
            Err(e) => {
                eprintln!("{} {name}: {e:#}", ui::red("error:"));
                errors.push(name.clone());
            }
        }
    }
    summarize(&stage, &reports, &errors)
}

/// The closing line, and the exit code or the error.
fn summarize(stage: &Stage, reports: &[StackDrift], errors: &[String]) -> Result<i32> {
    let named = |v: Verdict| -> Vec<&str> {
        reports
            .iter()
            .filter(|r| r.verdict() == v)
            .map(|r| r.stack.as_str())
            .collect()
    };
    let drifted = named(Verdict::Drifted);
    let expected = named(Verdict::ExpectedDrift);
    let incomplete: Vec<&str> = named(Verdict::Incomplete)
        .into_iter()
        .chain(errors.iter().map(String::as_str))
        .collect();
    if !incomplete.is_empty() {
        bail!(
            "drift detection did not complete for {}{}",
            incomplete.join(", "),
            if drifted.is_empty() {
                String::new()
            } else {
                format!("; drifted: {}", drifted.join(", "))
            }
        );
    }
    if !expected.is_empty() {
        ui::warn(format!(
            "drifted only where `deploy --hotswap` changed code or definitions: {}; a deploy without --hotswap brings them in line (`cargo xtask deploy --stage {}`), once the code differs from what the stack holds",
            expected.join(", "),
            stage.name
        ));
    }
    if drifted.is_empty() {
        ui::ok(format!(
            "{} stack(s) of {} checked: no unexpected drift",
            reports.len(),
            stage.name
        ));
    } else {
        ui::warn(format!(
            "drifted: {}; CloudFormation does not put drifted values back by itself: restore them, or make the template say them and deploy",
            drifted.join(", ")
        ));
    }
    Ok(exit_code(reports))
}

/// One stack from detection to report, as `run` checks each; `None` when it is not deployed.
#[cfg(test)]
pub(crate) async fn check(
    clients: &aws::Clients,
    bucket: &str,
    stack: &str,
) -> Result<Option<StackDrift>> {
    let Some(state) = hotswap::stack_state(&clients.cfn, stack).await? else {
        return Ok(None);
    };
    let detected = detect_all(
        &clients.cfn,
        &[stack.to_string()],
        Duration::from_millis(100),
    )
    .await;
    let failure = detected.into_iter().next().expect("one per stack")?;
    stack_drift(clients, bucket, stack, &state, failure)
        .await
        .map(Some)
}

/// Starts detection on every stack, then polls until each ends. Per stack: the reason when
/// detection failed for some of its resources (DETECTION_FAILED still has results for the
/// others), or the error when it could not run.
async fn detect_all(
    cfn: &Client,
    stacks: &[String],
    poll: Duration,
) -> Vec<Result<Option<String>>> {
    ui::step(format!("detecting drift of {}", stacks.join(", ")));
    let mut results: Vec<Option<Result<Option<String>>>> = stacks.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, String)> = Vec::new();
    for (i, stack) in stacks.iter().enumerate() {
        match cfn.detect_stack_drift().stack_name(stack).send().await {
            Ok(out) => pending.push((
                i,
                out.stack_drift_detection_id()
                    .unwrap_or_default()
                    .to_string(),
            )),
            Err(e) => {
                results[i] = Some(Err(aws::explain(
                    "cloudformation:DetectStackDrift",
                    stack,
                    e,
                )))
            }
        }
    }
    let pb = ui::spinner("drift detection running");
    let started = Instant::now();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (i, id) in pending {
            let stack = &stacks[i];
            let status = match cfn
                .describe_stack_drift_detection_status()
                .stack_drift_detection_id(&id)
                .send()
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    results[i] = Some(Err(aws::explain(
                        "cloudformation:DescribeStackDriftDetectionStatus",
                        stack,
                        e,
                    )));
                    continue;
                }
            };
            match status.detection_status() {
                Some(StackDriftDetectionStatus::DetectionInProgress) | None => still.push((i, id)),
                Some(done) => {
                    let failed = *done == StackDriftDetectionStatus::DetectionFailed;
                    pb.suspend(|| {
                        ui::ok(format!(
                            "{stack}: {} in {:.1?}",
                            done.as_str(),
                            started.elapsed()
                        ))
                    });
                    results[i] = Some(Ok(failed.then(|| {
                        status
                            .detection_status_reason()
                            .unwrap_or("(no reason given)")
                            .to_string()
                    })));
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if started.elapsed() > DETECTION_LIMIT {
            for (i, _) in &pending {
                results[*i] = Some(Err(anyhow!(
                    "drift detection still running after {DETECTION_LIMIT:?}; see the CloudFormation console"
                )));
            }
            break;
        }
        let waiting: Vec<&str> = pending.iter().map(|(i, _)| stacks[*i].as_str()).collect();
        pb.set_message(format!("drift detection running: {}", waiting.join(", ")));
        tokio::time::sleep(poll).await;
    }
    pb.finish_and_clear();
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow!("drift detection did not start"))))
        .collect()
}

/// One stack's report: CloudFormation's answer, the resources it left out, the code check,
/// and the hotswap record.
async fn stack_drift(
    clients: &aws::Clients,
    bucket: &str,
    stack: &str,
    state: &StackState,
    failure: Option<String>,
) -> Result<StackDrift> {
    let mut report = StackDrift {
        stack: stack.to_string(),
        resources: resource_drifts(&clients.cfn, stack).await?,
        failure,
        ..StackDrift::default()
    };
    let all = stack_resources(&clients.cfn, stack).await?;
    for (logical_id, (_, type_name)) in &all {
        if !report.resources.iter().any(|r| &r.logical_id == logical_id) {
            report
                .left_out
                .insert(logical_id.clone(), type_name.clone());
        }
    }
    check_code(clients, state, &all, &mut report).await;
    match hotswap::read_record(&clients.s3, bucket, stack).await {
        Ok(Some(record)) => report.explain(&record.holding(state)),
        Ok(None) => {}
        Err(e) => report.notes.push(format!(
            "the hotswap record is unreadable, so no drift is taken as expected: {e:#}"
        )),
    }
    Ok(report)
}

async fn resource_drifts(cfn: &Client, stack: &str) -> Result<Vec<ResourceDrift>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = cfn
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws::explain("cloudformation:DescribeStackResourceDrifts", stack, e))?;
        for d in page.stack_resource_drifts() {
            out.push(ResourceDrift {
                logical_id: d.logical_resource_id().unwrap_or_default().to_string(),
                physical_id: d.physical_resource_id().map(str::to_string),
                type_name: d.resource_type().unwrap_or_default().to_string(),
                status: Status::from_aws(
                    d.stack_resource_drift_status()
                        .map(|s| s.as_str())
                        .unwrap_or_default(),
                ),
                reason: d.drift_status_reason().map(str::to_string),
                differences: d
                    .property_differences()
                    .iter()
                    .map(|p| {
                        Difference::new(
                            p.property_path().unwrap_or_default(),
                            p.expected_value().unwrap_or_default(),
                            p.actual_value().unwrap_or_default(),
                            p.difference_type().map(|t| t.as_str()).unwrap_or_default(),
                        )
                    })
                    .collect(),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    Ok(out)
}

/// Logical id → (physical id, type) of every resource of the stack.
async fn stack_resources(cfn: &Client, stack: &str) -> Result<BTreeMap<String, (String, String)>> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws::explain("cloudformation:ListStackResources", stack, e))?;
        for r in page.stack_resource_summaries() {
            // the emulator lists resources it does not model with an empty id
            if let Some(id) = r.logical_resource_id().filter(|id| !id.is_empty()) {
                out.insert(
                    id.to_string(),
                    (
                        r.physical_resource_id().unwrap_or_default().to_string(),
                        r.resource_type().unwrap_or_default().to_string(),
                    ),
                );
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Each function's CodeSha256 against the zip its code key names.
async fn check_code(
    clients: &aws::Clients,
    state: &StackState,
    resources: &BTreeMap<String, (String, String)>,
    report: &mut StackDrift,
) {
    let Some(template) = state.template["Resources"].as_object() else {
        return;
    };
    for (logical_id, resource) in template {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let Some(expected) = report::expected_code_sha256(resource, &state.parameters) else {
            continue;
        };
        let Some((physical, _)) = resources.get(logical_id).filter(|(p, _)| !p.is_empty()) else {
            continue;
        };
        let got = clients
            .lambda
            .get_function_configuration()
            .function_name(physical)
            .send()
            .await;
        match got {
            Ok(c) => {
                let actual = c.code_sha256().unwrap_or_default();
                if actual != expected {
                    report.add_code_drift(logical_id, physical, &expected, actual);
                }
            }
            // gone: CloudFormation reports it DELETED
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => report.notes.push(format!(
                "code of {physical} not compared: {}",
                aws::explain("lambda:GetFunctionConfiguration", physical, e)
            )),
        }
    }
}

impl crate::flags::Drift {
    /// Exit 0 when in sync (or drifted only by hotswaps), 1 when drifted.
    pub async fn run(self) -> Result<i32> {
        let stage = crate::synth::load_stage(&self.stage)?;
        run(stage, self.service.as_deref()).await
    }
}
