//! `cargo xtask trigger SCHEDULE --stage S`: fire one schedule's targets with their input now.

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::json;

use crate::aws;
use crate::local::wiring::{self, Schedule, ScheduleTarget, TargetKind};

#[derive(clap::Args)]
pub struct Args {
    /// The schedule: `canvas-data-refresh`, its logical id (`RefreshSchedule`) or rule name.
    pub schedule: String,
    #[arg(long)]
    pub stage: String,
}

impl Args {
    pub async fn run(self) -> Result<i32> {
        let stage = crate::synth::load_stage(&self.stage)?;
        let clients = aws::Clients::connect(&stage).await?;
        let stacks = wiring::deployed_stacks(&stage, &clients.cfn).await?;
        if stacks.is_empty() {
            bail!(
                "no stack of stage `{0}` is deployed: deploy first (`cargo xtask deploy --stage {0}`)",
                stage.name
            );
        }
        let schedules = wiring::from_stacks(&stacks).schedules;
        let schedule = find(&schedules, &self.schedule, &stage.name)?;
        if !schedule.enabled {
            eprintln!(
                "note: {} is disabled on stage `{}`; firing it anyway",
                schedule.display_name(),
                stage.name
            );
        }
        for line in fire(schedule, &clients).await? {
            println!("{line}");
        }
        Ok(0)
    }
}

fn find<'a>(schedules: &'a [Schedule], name: &str, stage: &str) -> Result<&'a Schedule> {
    if let Some(s) = schedules.iter().find(|s| s.matches(name)) {
        return Ok(s);
    }
    let mut known: Vec<String> = schedules.iter().map(Schedule::display_name).collect();
    known.sort();
    if known.is_empty() {
        bail!(
            "no schedule named `{name}`: the deployed stacks of stage `{stage}` have no schedules"
        );
    }
    bail!(
        "no schedule named `{name}` on stage `{stage}`; known: {}",
        known.join(", ")
    )
}

/// Fire every target of `schedule` once, as EventBridge does; returns one line per target.
/// Every target is tried; when one fails, the error names it and what the others did.
pub async fn fire(schedule: &Schedule, clients: &aws::Clients) -> Result<Vec<String>> {
    if schedule.targets.is_empty() {
        bail!("{} has no targets", schedule.display_name());
    }
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for target in &schedule.targets {
        match fire_target(schedule, target, clients).await {
            Ok(line) => lines.push(line),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if failures.is_empty() {
        return Ok(lines);
    }
    let mut message = format!(
        "firing {} failed: {}",
        schedule.display_name(),
        failures.join("; ")
    );
    if !lines.is_empty() {
        message.push_str(&format!(" (fired: {})", lines.join("; ")));
    }
    Err(anyhow!(message))
}

async fn fire_target(
    schedule: &Schedule,
    target: &ScheduleTarget,
    clients: &aws::Clients,
) -> Result<String> {
    match &target.kind {
        TargetKind::Function(function) => {
            let payload = match &target.input {
                Some(input) => input.clone(),
                None => scheduled_event(schedule, &function_arn(function, clients).await?, clients),
            };
            let out = clients
                .lambda
                .invoke()
                .function_name(function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload))
                .send()
                .await
                .map_err(|e| aws::explain("lambda:Invoke", function, e))?;
            Ok(format!(
                "{function}: Lambda accepted the event ({})",
                out.status_code()
            ))
        }
        TargetKind::StateMachine(arn) => {
            // EventBridge sends a target without constant input its scheduled event
            let input = match &target.input {
                Some(input) => input.clone(),
                None => scheduled_event(schedule, arn, clients),
            };
            let out = clients
                .sfn
                .start_execution()
                .state_machine_arn(arn)
                .name(execution_name())
                .input(input)
                .send()
                .await
                .map_err(|e| aws::explain("states:StartExecution", arn, e))?;
            Ok(out.execution_arn().to_string())
        }
        TargetKind::Other(what) => bail!(
            "target {what} of {} is neither a function nor a state machine; trigger fires only those",
            schedule.display_name()
        ),
    }
}

/// The function's ARN, for the account of its scheduled event: the stage may leave the account
/// unpinned.
async fn function_arn(function: &str, clients: &aws::Clients) -> Result<String> {
    let config = clients
        .lambda
        .get_function()
        .function_name(function)
        .send()
        .await
        .map_err(|e| aws::explain("lambda:GetFunction", function, e))?;
    config
        .configuration()
        .and_then(|c| c.function_arn())
        .map(str::to_string)
        .with_context(|| format!("lambda:GetFunction {function} returned no function ARN"))
}

/// EventBridge's scheduled event; the account is the target's (from its ARN), as the rule's.
fn scheduled_event(schedule: &Schedule, target_arn: &str, clients: &aws::Clients) -> String {
    let account = target_arn.split(':').nth(4).unwrap_or_default();
    let region = clients
        .lambda
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{account}:rule/{}", schedule.rule)],
        "detail": {},
    })
    .to_string()
}

/// Unique, sortable by time, and within Step Functions' name alphabet (no `:`).
fn execution_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "trigger-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &id[..8]
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::Value;

    use super::*;

    const EMULATOR: &str = "http://127.0.0.1:5000";

    type Invocations = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

    /// Lambda's Invoke and GetFunction, recording each invocation's function, type and payload.
    async fn fake_lambda() -> (String, Invocations) {
        let seen: Invocations = Arc::default();
        async fn invoke(
            State(seen): State<Invocations>,
            Path(name): Path<String>,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> StatusCode {
            let kind = headers
                .get("X-Amz-Invocation-Type")
                .map(|v| v.to_str().unwrap().to_string());
            let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.lock().unwrap().push((name, kind, payload));
            StatusCode::ACCEPTED
        }
        async fn get_function(Path(name): Path<String>) -> Json<Value> {
            Json(json!({"Configuration": {
                "FunctionName": name,
                "FunctionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
            }}))
        }
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route("/2015-03-31/functions/{name}", get(get_function))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    /// The emulator for everything but Lambda, which goes to `lambda`.
    async fn clients(lambda: &str) -> aws::Clients {
        let conf = support::emulator_config_at(EMULATOR).await;
        aws::Clients {
            cfn: aws_sdk_cloudformation::Client::new(&conf),
            s3: aws_sdk_s3::Client::new(&conf),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&conf)
                    .endpoint_url(lambda)
                    .build(),
            ),
            sfn: aws_sdk_sfn::Client::new(&conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
            sqs: aws_sdk_sqs::Client::new(&conf),
        }
    }

    fn schedule(targets: Vec<ScheduleTarget>) -> Schedule {
        Schedule {
            service: "canvas-data".into(),
            logical: "RefreshSchedule".into(),
            rule: "canvas-data-local-RefreshSchedule-1A2B".into(),
            expression: "rate(3 hours)".into(),
            enabled: true,
            targets,
        }
    }

    fn function(name: &str, input: Option<&str>) -> ScheduleTarget {
        ScheduleTarget {
            kind: TargetKind::Function(name.into()),
            input: input.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn a_function_target_is_invoked_asynchronously_with_its_constant_input() {
        let (url, seen) = fake_lambda().await;
        let s = schedule(vec![function(
            "canvas-data-list-tables",
            Some(r#"{"mode":"refresh"}"#),
        )]);
        let lines = fire(&s, &clients(&url).await).await.unwrap();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("canvas-data-list-tables") && lines[0].contains("202"),
            "{lines:?}"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "canvas-data-list-tables");
        assert_eq!(seen[0].1.as_deref(), Some("Event"));
        assert_eq!(seen[0].2, json!({"mode": "refresh"}));
    }

    #[tokio::test]
    async fn without_input_a_function_gets_eventbridges_scheduled_event() {
        let (url, seen) = fake_lambda().await;
        let s = schedule(vec![function("canvas-data-list-tables", None)]);
        fire(&s, &clients(&url).await).await.unwrap();
        let e = seen.lock().unwrap()[0].2.clone();
        assert_eq!(e["version"], "0");
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(e["source"], "aws.events");
        assert_eq!(e["account"], "123456789012");
        assert_eq!(e["region"], "us-east-1");
        assert_eq!(
            e["resources"],
            json!([
                "arn:aws:events:us-east-1:123456789012:rule/canvas-data-local-RefreshSchedule-1A2B"
            ])
        );
        assert_eq!(e["detail"], json!({}));
        assert!(
            uuid::Uuid::parse_str(e["id"].as_str().unwrap()).is_ok(),
            "{e}"
        );
        let time = e["time"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z'),
            "{time}"
        );
    }

    #[tokio::test]
    async fn another_target_kind_is_an_error_naming_it_after_the_others_fired() {
        let (url, seen) = fake_lambda().await;
        let s = schedule(vec![
            ScheduleTarget {
                kind: TargetKind::Other("arn:aws:sns:us-east-1:123456789012:alerts".into()),
                input: None,
            },
            function("canvas-data-list-tables", Some("{}")),
        ]);
        let e = format!("{:#}", fire(&s, &clients(&url).await).await.unwrap_err());
        assert!(
            e.contains("arn:aws:sns:us-east-1:123456789012:alerts"),
            "{e}"
        );
        assert!(e.contains("fired: canvas-data-list-tables"), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_state_machine_target_starts_an_execution_with_its_input_on_the_emulator() {
        if tokio::net::TcpStream::connect("127.0.0.1:5000")
            .await
            .is_err()
        {
            panic!(
                "the AWS emulator is not running at {EMULATOR}: run `cargo xtask local up` first"
            );
        }
        let clients = clients("http://127.0.0.1:9").await;
        let name = format!(
            "xtask-trigger-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let definition =
            json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
        let machine = clients
            .sfn
            .create_state_machine()
            .name(&name)
            .definition(definition.to_string())
            .role_arn("arn:aws:iam::123456789012:role/xtask-trigger-test")
            .send()
            .await
            .unwrap()
            .state_machine_arn;
        let s = schedule(vec![
            ScheduleTarget {
                kind: TargetKind::StateMachine(machine.clone()),
                input: Some(r#"{"tables":"all"}"#.into()),
            },
            ScheduleTarget {
                kind: TargetKind::StateMachine(machine.clone()),
                input: None,
            },
        ]);
        let lines = fire(&s, &clients).await.unwrap();
        assert_eq!(lines.len(), 2);
        let mut inputs = Vec::new();
        for arn in &lines {
            let e = clients
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap();
            assert_eq!(e.state_machine_arn(), machine);
            assert!(e.name().unwrap().starts_with("trigger-"), "{:?}", e.name());
            inputs.push(serde_json::from_str::<Value>(e.input().unwrap()).unwrap());
        }
        assert_eq!(inputs[0], json!({"tables": "all"}));
        assert_eq!(inputs[1]["detail-type"], "Scheduled Event", "{}", inputs[1]);
        assert_eq!(inputs[1]["account"], "123456789012");
        clients
            .sfn
            .delete_state_machine()
            .state_machine_arn(&machine)
            .send()
            .await
            .unwrap();
    }

    #[test]
    fn an_unknown_schedule_lists_the_known_ones_and_the_stage() {
        let mut other = schedule(vec![]);
        other.service = "skill-sync".into();
        other.logical = "SyncSchedule".into();
        let schedules = [schedule(vec![]), other];
        assert_eq!(
            find(&schedules, "canvas-data-refresh", "dev")
                .unwrap()
                .logical,
            "RefreshSchedule"
        );
        let e = find(&schedules, "nightly", "dev").unwrap_err().to_string();
        assert!(
            e.contains("`nightly`")
                && e.contains("`dev`")
                && e.contains("canvas-data-refresh, skill-sync-sync"),
            "{e}"
        );
        let e = find(&[], "nightly", "qa").unwrap_err().to_string();
        assert!(e.contains("no schedules") && e.contains("`qa`"), "{e}");
    }

    #[test]
    fn execution_names_fit_step_functions_rules() {
        let a = execution_name();
        assert!(a.len() <= 80 && a.starts_with("trigger-"), "{a}");
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
        assert_ne!(a, execution_name());
    }
}
