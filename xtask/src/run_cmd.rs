//! `cargo xtask run STATE_MACHINE --stage S`: start an execution and follow its transitions.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType as T};
use infra::stage::Stage;
use serde_json::Value;

use crate::{aws, deployed, synth, ui};

#[derive(clap::Args)]
pub struct Args {
    /// The state machine: `canvas-data-refresh`, its logical id or its ARN.
    pub state_machine: String,
    #[arg(long)]
    pub stage: String,
    /// The execution's input: a file or inline JSON (default `{}`).
    #[arg(long)]
    pub input: Option<String>,
    /// Print the execution's ARN and return, rather than follow its transitions to the end.
    #[arg(long)]
    pub no_wait: bool,
    /// What `run` does by default (kept for scripts written when following was opt-in).
    #[arg(long, hide = true, conflicts_with = "no_wait")]
    pub follow: bool,
}

impl Args {
    pub async fn run(self) -> Result<i32> {
        let stage = synth::load_stage(&self.stage)?;
        let input = read_input(self.input.as_deref())?;
        let clients = aws::Clients::connect(&stage).await?;
        let arn = find(&clients, &stage, &self.state_machine).await?;
        let started = clients
            .sfn
            .start_execution()
            .state_machine_arn(&arn)
            .input(input)
            .send()
            .await
            .map_err(|e| aws::explain("states:StartExecution", &arn, e))?;
        let execution = started.execution_arn();
        println!("execution {execution}");
        if self.no_wait {
            if !stage.is_local() {
                println!("console   {}", console_url(&stage.region.0, execution));
            }
            return Ok(0);
        }
        // the emulator is next door; AWS's GetExecutionHistory has a small rate budget
        let every = Duration::from_millis(if stage.is_local() { 500 } else { 2000 });
        follow(&clients.sfn, execution, every).await
    }
}

/// `--input`: a file when one exists at that path, inline JSON otherwise.
fn read_input(input: Option<&str>) -> Result<String> {
    let Some(input) = input else {
        return Ok("{}".into());
    };
    let (text, origin) = if Path::new(input).is_file() {
        let text = std::fs::read_to_string(input).with_context(|| format!("reading {input}"))?;
        (text, format!("the file {input}"))
    } else {
        (input.to_string(), "--input".to_string())
    };
    if let Err(e) = serde_json::from_str::<Value>(&text) {
        bail!("{origin} is not JSON ({e}); pass a JSON document or the path of a file holding one");
    }
    Ok(text)
}

fn console_url(region: &str, execution: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution}"
    )
}

/// The state machine's ARN from its name, short name, a stack's logical id or its ARN.
async fn find(clients: &aws::Clients, stage: &Stage, query: &str) -> Result<String> {
    if query.starts_with("arn:") {
        return Ok(query.to_string());
    }
    let mut machines = Vec::new();
    let mut pages = clients.sfn.list_state_machines().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws::explain("states:ListStateMachines", "", e))?;
        for m in page.state_machines() {
            machines.push((m.name().to_string(), m.state_machine_arn().to_string()));
        }
    }
    let mut logical = Vec::new();
    for stack in infra::synth_stage(stage, None)? {
        let ids = deployed::physical_ids(&clients.cfn, &stack.name).await?;
        for (id, physical) in ids.into_iter().flatten() {
            logical.push((format!("{}/{id}", stack.name), id, physical));
        }
    }
    pick(query, &stage.name, &machines, &logical)
}

/// Which of `machines` (name, ARN) the operator means; `logical` holds (stack/id, id,
/// physical id) of the deployed stacks' resources.
fn pick(
    query: &str,
    stage: &str,
    machines: &[(String, String)],
    logical: &[(String, String, String)],
) -> Result<String> {
    let by_name = |name: &str| machines.iter().find(|(n, _)| n == name);
    if let Some((_, arn)) = by_name(query).or_else(|| by_name(&format!("{query}-{stage}"))) {
        return Ok(arn.clone());
    }
    let known = |physical: &str| machines.iter().any(|(_, arn)| arn == physical);
    let hits: Vec<_> = logical
        .iter()
        .filter(|(_, id, physical)| id == query && known(physical))
        .collect();
    match hits.as_slice() {
        [(_, _, arn)] => Ok(arn.clone()),
        [] => {
            let names: Vec<&str> = machines.iter().map(|(n, _)| n.as_str()).collect();
            bail!(
                "no state machine `{query}` in stage `{stage}`; deployed: {}",
                if names.is_empty() {
                    "none (deploy first)".to_string()
                } else {
                    names.join(", ")
                }
            )
        }
        many => bail!(
            "`{query}` is a state machine in several stacks ({}); name one by its ARN",
            many.iter()
                .map(|(s, _, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Print the execution's transitions until it ends; 0 when it succeeded.
pub async fn follow(sfn: &aws_sdk_sfn::Client, execution: &str, every: Duration) -> Result<i32> {
    let mut transitions = Transitions::default();
    let mut last = 0;
    loop {
        let done = describe(sfn, execution).await?.status != ExecutionStatus::Running;
        // read after the status, so a finished execution's last events are in this read
        for event in history_since(sfn, execution, last).await? {
            last = last.max(event.id());
            if let Some(line) = transitions.line(&event) {
                println!("{line}");
            }
        }
        if done {
            break;
        }
        tokio::time::sleep(every).await;
    }
    let end = describe(sfn, execution).await?;
    println!("{}", end.summary());
    Ok(if end.status == ExecutionStatus::Succeeded {
        0
    } else {
        1
    })
}

/// Events read per GetExecutionHistory page: each poll reads at least one page, so this bounds
/// what a poll re-reads of what it has already seen.
const HISTORY_PAGE: i32 = 100;

/// The events after `last`, in order. Pages are read newest first (`reverseOrder`) until one
/// reaches an event already seen, so a poll costs the new events plus at most one page rather
/// than the whole history (AWS's last page of a running execution has no `nextToken` to resume
/// from). An emulator that ignores `reverseOrder` and `maxResults` answers the whole history in
/// order on one page, which `take_new` handles as well.
async fn history_since(
    sfn: &aws_sdk_sfn::Client,
    execution: &str,
    last: i64,
) -> Result<Vec<HistoryEvent>> {
    let mut fresh = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(execution)
            .reverse_order(true)
            .max_results(HISTORY_PAGE)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| aws::explain("states:GetExecutionHistory", execution, e))?;
        let caught_up = take_new(page.events(), last, &mut fresh);
        match page.next_token() {
            Some(t) if !t.is_empty() && !caught_up => token = Some(t.to_string()),
            _ => break,
        }
    }
    fresh.sort_by_key(|e| e.id());
    fresh.dedup_by_key(|e| e.id());
    Ok(fresh)
}

/// Adds the events of `page` after `last` to `fresh`; true when the page reaches back to an
/// event already seen (or the start), so older pages hold nothing new.
fn take_new(page: &[HistoryEvent], last: i64, fresh: &mut Vec<HistoryEvent>) -> bool {
    let mut caught_up = false;
    for e in page {
        if e.id() > last {
            fresh.push(e.clone());
        } else {
            caught_up = true;
        }
        // the first event of an execution has id 1
        caught_up |= e.id() <= 1;
    }
    caught_up
}

struct End {
    status: ExecutionStatus,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
}

impl End {
    fn summary(&self) -> String {
        let status = self.status.as_str();
        if self.status == ExecutionStatus::Succeeded {
            let output = self.output.as_deref().map(pretty).unwrap_or_default();
            return format!("{}\n{output}", ui::green(status));
        }
        let mut line = ui::red(status);
        for part in [&self.error, &self.cause].into_iter().flatten() {
            line.push_str(": ");
            line.push_str(part);
        }
        line
    }
}

async fn describe(sfn: &aws_sdk_sfn::Client, execution: &str) -> Result<End> {
    let d = sfn
        .describe_execution()
        .execution_arn(execution)
        .send()
        .await
        .map_err(|e| aws::explain("states:DescribeExecution", execution, e))?;
    Ok(End {
        status: d.status().clone(),
        output: d.output().map(String::from),
        error: d.error().map(String::from),
        cause: d.cause().map(String::from),
    })
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_string())
}

/// Turns history events into the lines `run --follow` prints, remembering what it needs across
/// events: which state an event belongs to, when a state was entered, how often a task was
/// scheduled.
#[derive(Default)]
pub struct Transitions {
    /// Event id → the state it belongs to: its name and the id of its StateEntered event.
    /// States are told apart by that id, not their name: Map iterations and Parallel branches
    /// run states of the same name at once.
    state_of: HashMap<i64, (String, i64)>,
    /// StateEntered event id → when.
    entered_at: HashMap<i64, f64>,
    /// StateEntered event id → tasks scheduled in that state so far.
    attempts: HashMap<i64, u32>,
}

impl Transitions {
    pub fn line(&mut self, e: &HistoryEvent) -> Option<String> {
        let state = self.track(e);
        let text = self.describe(e, state.as_ref())?;
        Some(format!("{} {text}", ui::dim(&clock(e))))
    }

    /// The state the event belongs to, following `previousEventId` back to its StateEntered.
    fn track(&mut self, e: &HistoryEvent) -> Option<(String, i64)> {
        let state = match e.state_entered_event_details() {
            Some(d) => Some((d.name().to_string(), e.id())),
            None => self.state_of.get(&e.previous_event_id()).cloned(),
        };
        if let Some(s) = &state {
            self.state_of.insert(e.id(), s.clone());
        }
        state
    }

    fn describe(&mut self, e: &HistoryEvent, state: Option<&(String, i64)>) -> Option<String> {
        let kind = e.r#type().as_str();
        let scope = state.map(|(_, entered)| *entered);
        if let Some(d) = e.state_entered_event_details() {
            self.entered_at.insert(e.id(), seconds(e));
            let what = kind.strip_suffix("StateEntered").unwrap_or(kind);
            return Some(format!("{} {} ({what})", ui::bold("enter"), d.name()));
        }
        if let Some(d) = e.state_exited_event_details() {
            let took = scope
                .and_then(|s| self.entered_at.remove(&s))
                .map(|t| format!(" after {}", duration(seconds(e) - t)))
                .unwrap_or_default();
            return Some(format!("{} {}{took}", ui::bold("exit "), d.name()));
        }
        let line = match e.r#type() {
            T::ExecutionStarted => "execution started".to_string(),
            T::TaskScheduled => {
                let d = e.task_scheduled_event_details()?;
                let target = target(d.parameters())
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default();
                let what = format!("{}:{}{target}", d.resource_type(), d.resource());
                self.scheduled(scope, &what)
            }
            T::LambdaFunctionScheduled => {
                let d = e.lambda_function_scheduled_event_details()?;
                self.scheduled(scope, &format!("lambda {}", d.resource()))
            }
            T::TaskStarted | T::LambdaFunctionStarted | T::ActivityStarted => {
                "  task started".into()
            }
            T::TaskSubmitted => "  task submitted".into(),
            T::TaskSucceeded | T::LambdaFunctionSucceeded | T::ActivitySucceeded => {
                "  task succeeded".into()
            }
            T::MapStateStarted => {
                let n = e.map_state_started_event_details().map(|d| d.length());
                format!("  map over {} items", n.unwrap_or_default())
            }
            T::MapIterationStarted
            | T::MapIterationSucceeded
            | T::MapIterationFailed
            | T::MapIterationAborted => {
                let d = e
                    .map_iteration_started_event_details()
                    .or(e.map_iteration_succeeded_event_details())
                    .or(e.map_iteration_failed_event_details())
                    .or(e.map_iteration_aborted_event_details());
                let outcome = kind.strip_prefix("MapIteration").unwrap_or(kind);
                format!(
                    "  iteration {} {}",
                    d.map(|d| d.index()).unwrap_or_default(),
                    outcome.to_lowercase()
                )
            }
            T::ExecutionSucceeded => ui::green("execution succeeded"),
            _ => match failure(e) {
                Some((error, cause)) => {
                    let what = if kind.starts_with("Execution") {
                        "execution"
                    } else {
                        "  task"
                    };
                    let how = if kind.ends_with("TimedOut") {
                        "timed out"
                    } else if kind.ends_with("Aborted") {
                        "aborted"
                    } else {
                        "failed"
                    };
                    let mut line = ui::red(&format!("{what} {how}"));
                    for part in [error, cause].into_iter().filter(|p| !p.is_empty()) {
                        line.push_str(": ");
                        line.push_str(&one_line(part));
                    }
                    line
                }
                None => format!("  {kind}"),
            },
        };
        Some(line)
    }

    /// A task scheduled again for the same state is a retry.
    fn scheduled(&mut self, state: Option<i64>, what: &str) -> String {
        let n = state.map_or(1, |s| {
            let n = self.attempts.entry(s).or_insert(0);
            *n += 1;
            *n
        });
        if n > 1 {
            format!("  {} {}: scheduled {what}", ui::red("retry"), n - 1)
        } else {
            format!("  task scheduled {what}")
        }
    }
}

/// What a task's parameters call: the function, topic, queue, … an operator looks for.
fn target(parameters: &str) -> Option<String> {
    let v: Value = serde_json::from_str(parameters).ok()?;
    [
        "FunctionName",
        "TopicArn",
        "QueueUrl",
        "StateMachineArn",
        "Bucket",
    ]
    .iter()
    .find_map(|k| v.get(k)?.as_str().map(String::from))
}

/// Error and cause of any failing event.
fn failure(e: &HistoryEvent) -> Option<(&str, &str)> {
    macro_rules! pick {
        ($($details:ident),*) => {
            $(if let Some(d) = e.$details() {
                return Some((d.error().unwrap_or_default(), d.cause().unwrap_or_default()));
            })*
        };
    }
    pick!(
        task_failed_event_details,
        task_timed_out_event_details,
        task_start_failed_event_details,
        task_submit_failed_event_details,
        lambda_function_failed_event_details,
        lambda_function_timed_out_event_details,
        lambda_function_schedule_failed_event_details,
        lambda_function_start_failed_event_details,
        activity_failed_event_details,
        activity_timed_out_event_details,
        execution_failed_event_details,
        execution_timed_out_event_details,
        execution_aborted_event_details
    );
    None
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn seconds(e: &HistoryEvent) -> f64 {
    let t = e.timestamp();
    t.secs() as f64 + f64::from(t.subsec_nanos()) / 1e9
}

/// The event's time of day in UTC, to the millisecond.
fn clock(e: &HistoryEvent) -> String {
    let t = e.timestamp();
    let day = t.secs().rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3600,
        day / 60 % 60,
        day % 60,
        t.subsec_nanos() / 1_000_000
    )
}

fn duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{} ms", (secs * 1000.0).round() as i64)
    } else if secs < 120.0 {
        format!("{secs:.1} s")
    } else {
        format!("{}m{:02}s", secs as i64 / 60, secs as i64 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{
        ExecutionFailedEventDetails, LambdaFunctionFailedEventDetails,
        LambdaFunctionScheduledEventDetails, StateEnteredEventDetails, StateExitedEventDetails,
        TaskScheduledEventDetails,
    };

    /// An event `ms` milliseconds after 10:00:00 UTC.
    fn event(
        id: i64,
        previous: i64,
        ms: i64,
        kind: T,
    ) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder()
            .id(id)
            .previous_event_id(previous)
            .r#type(kind)
            .timestamp(DateTime::from_millis(
                1_795_000_000_000 - 1_795_000_000_000 % 86_400_000 + 36_000_000 + ms,
            ))
    }

    fn entered(name: &str) -> StateEnteredEventDetails {
        StateEnteredEventDetails::builder()
            .name(name)
            .build()
            .unwrap()
    }

    fn exited(name: &str) -> StateExitedEventDetails {
        StateExitedEventDetails::builder()
            .name(name)
            .build()
            .unwrap()
    }

    fn lambda(arn: &str) -> LambdaFunctionScheduledEventDetails {
        LambdaFunctionScheduledEventDetails::builder()
            .resource(arn)
            .build()
            .unwrap()
    }

    fn boom() -> LambdaFunctionFailedEventDetails {
        LambdaFunctionFailedEventDetails::builder()
            .error("Boom")
            .cause("{\"errorMessage\":\n \"it broke\"}")
            .build()
    }

    /// The history moto's interpreter writes for a Lambda task via `lambda:invoke`, then a
    /// Lambda task that fails, is retried once, fails again and is caught into a Fail state.
    fn history() -> Vec<HistoryEvent> {
        let f = "arn:aws:lambda:us-east-1:123456789012:function:fail1";
        vec![
            event(1, 0, 0, T::ExecutionStarted),
            event(2, 0, 1, T::TaskStateEntered).state_entered_event_details(entered("List")),
            event(3, 2, 2, T::TaskScheduled).task_scheduled_event_details(
                TaskScheduledEventDetails::builder()
                    .resource_type("lambda")
                    .resource("invoke")
                    .region("us-east-1")
                    .parameters(r#"{"FunctionName":"canvas-data-list-tables-local","Payload":{}}"#)
                    .build()
                    .unwrap(),
            ),
            event(4, 3, 2, T::TaskStarted),
            event(5, 4, 10, T::TaskSucceeded),
            event(6, 5, 10, T::TaskStateExited).state_exited_event_details(exited("List")),
            event(7, 6, 10, T::TaskStateEntered).state_entered_event_details(entered("Sync")),
            event(8, 7, 11, T::LambdaFunctionScheduled)
                .lambda_function_scheduled_event_details(lambda(f)),
            event(9, 8, 11, T::LambdaFunctionStarted),
            event(10, 9, 19, T::LambdaFunctionFailed).lambda_function_failed_event_details(boom()),
            event(11, 10, 1021, T::LambdaFunctionScheduled)
                .lambda_function_scheduled_event_details(lambda(f)),
            event(12, 11, 1022, T::LambdaFunctionStarted),
            event(13, 12, 1040, T::LambdaFunctionFailed)
                .lambda_function_failed_event_details(boom()),
            event(14, 13, 1041, T::TaskStateExited).state_exited_event_details(exited("Sync")),
            event(15, 14, 1041, T::FailStateEntered).state_entered_event_details(entered("GiveUp")),
            event(16, 15, 1041, T::ExecutionFailed).execution_failed_event_details(
                ExecutionFailedEventDetails::builder()
                    .error("Final")
                    .cause("gave up")
                    .build(),
            ),
        ]
        .into_iter()
        .map(|b| b.build().unwrap())
        .collect()
    }

    fn render(events: &[HistoryEvent]) -> Vec<String> {
        let mut t = Transitions::default();
        events.iter().filter_map(|e| t.line(e)).collect()
    }

    #[test]
    fn transitions_show_states_tasks_retries_and_errors() {
        let lines = render(&history());
        let expected = [
            "10:00:00.000 execution started",
            "10:00:00.001 enter List (Task)",
            "10:00:00.002   task scheduled lambda:invoke canvas-data-list-tables-local",
            "10:00:00.002   task started",
            "10:00:00.010   task succeeded",
            "10:00:00.010 exit  List after 9 ms",
            "10:00:00.010 enter Sync (Task)",
            "10:00:00.011   task scheduled lambda arn:aws:lambda:us-east-1:123456789012:function:fail1",
            "10:00:00.011   task started",
            r#"10:00:00.019   task failed: Boom: {"errorMessage": "it broke"}"#,
            "10:00:01.021   retry 1: scheduled lambda arn:aws:lambda:us-east-1:123456789012:function:fail1",
            "10:00:01.022   task started",
            r#"10:00:01.040   task failed: Boom: {"errorMessage": "it broke"}"#,
            "10:00:01.041 exit  Sync after 1.0 s",
            "10:00:01.041 enter GiveUp (Fail)",
            "10:00:01.041 execution failed: Final: gave up",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_state_entered_again_counts_its_attempts_afresh() {
        let f = "arn:aws:lambda:us-east-1:123456789012:function:poll";
        let events: Vec<HistoryEvent> = vec![
            event(1, 0, 0, T::TaskStateEntered).state_entered_event_details(entered("Poll")),
            event(2, 1, 1, T::LambdaFunctionScheduled)
                .lambda_function_scheduled_event_details(lambda(f)),
            event(3, 2, 2, T::TaskStateExited).state_exited_event_details(exited("Poll")),
            event(4, 3, 3, T::TaskStateEntered).state_entered_event_details(entered("Poll")),
            event(5, 4, 4, T::LambdaFunctionScheduled)
                .lambda_function_scheduled_event_details(lambda(f)),
        ]
        .into_iter()
        .map(|b| b.build().unwrap())
        .collect();
        let lines = render(&events);
        assert!(lines.iter().all(|l| !l.contains("retry")), "{lines:#?}");
    }

    #[test]
    fn states_of_the_same_name_running_at_once_are_timed_and_counted_apart() {
        let f = "arn:aws:lambda:us-east-1:123456789012:function:double";
        // two Map iterations run `Double` at once; the second exits first
        let events: Vec<HistoryEvent> = vec![
            event(1, 0, 0, T::MapIterationStarted),
            event(2, 0, 0, T::MapIterationStarted),
            event(3, 1, 10, T::TaskStateEntered).state_entered_event_details(entered("Double")),
            event(4, 2, 20, T::TaskStateEntered).state_entered_event_details(entered("Double")),
            event(5, 3, 21, T::LambdaFunctionScheduled)
                .lambda_function_scheduled_event_details(lambda(f)),
            event(6, 4, 22, T::LambdaFunctionScheduled)
                .lambda_function_scheduled_event_details(lambda(f)),
            event(7, 6, 120, T::TaskStateExited).state_exited_event_details(exited("Double")),
            event(8, 5, 510, T::TaskStateExited).state_exited_event_details(exited("Double")),
        ]
        .into_iter()
        .map(|b| b.build().unwrap())
        .collect();
        let lines = render(&events);
        assert!(lines.iter().all(|l| !l.contains("retry")), "{lines:#?}");
        assert!(
            lines[6].ends_with("exit  Double after 100 ms"),
            "{lines:#?}"
        );
        assert!(
            lines[7].ends_with("exit  Double after 500 ms"),
            "{lines:#?}"
        );
    }

    #[test]
    fn history_pages_are_read_until_an_event_already_seen() {
        let all = history();
        let ids = |events: &[HistoryEvent]| events.iter().map(|e| e.id()).collect::<Vec<_>>();
        // AWS with reverseOrder: newest first, pages of two
        let newest_first: Vec<HistoryEvent> = all.iter().rev().cloned().collect();
        let mut fresh = Vec::new();
        assert!(!take_new(&newest_first[0..2], 13, &mut fresh));
        assert!(
            take_new(&newest_first[2..4], 13, &mut fresh),
            "14 is new, 13 seen"
        );
        fresh.sort_by_key(|e| e.id());
        assert_eq!(ids(&fresh), [14, 15, 16]);
        // nothing seen yet: every page until the first event
        let mut fresh = Vec::new();
        assert!(!take_new(&newest_first[0..8], 0, &mut fresh));
        assert!(take_new(&newest_first[8..], 0, &mut fresh));
        assert_eq!(fresh.len(), 16);
        // an emulator that ignores reverseOrder and maxResults: one page, oldest first
        let mut fresh = Vec::new();
        assert!(take_new(&all, 10, &mut fresh));
        assert_eq!(ids(&fresh), [11, 12, 13, 14, 15, 16]);
        // nothing new
        let mut fresh = Vec::new();
        assert!(take_new(&newest_first[0..2], 16, &mut fresh));
        assert!(fresh.is_empty());
    }

    #[test]
    fn run_follows_by_default_and_still_accepts_follow() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let parse = |extra: &[&str]| {
            let mut argv = vec!["run", "canvas-data-refresh", "--stage", "local"];
            argv.extend(extra);
            Cli::try_parse_from(argv).map(|c| c.args.no_wait)
        };
        assert!(!parse(&[]).unwrap());
        assert!(!parse(&["--follow"]).unwrap());
        assert!(parse(&["--no-wait"]).unwrap());
        assert!(parse(&["--no-wait", "--follow"]).is_err());
    }

    #[test]
    fn a_state_machine_is_found_by_name_short_name_logical_id_or_arn() {
        let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:canvas-data-refresh-local";
        let machines = vec![("canvas-data-refresh-local".to_string(), arn.to_string())];
        let logical = vec![(
            "canvas-data-local/RefreshStateMachine".to_string(),
            "RefreshStateMachine".to_string(),
            arn.to_string(),
        )];
        for query in [
            "canvas-data-refresh-local",
            "canvas-data-refresh",
            "RefreshStateMachine",
        ] {
            assert_eq!(
                pick(query, "local", &machines, &logical).unwrap(),
                arn,
                "{query}"
            );
        }
        let err = pick("nope", "local", &machines, &logical)
            .unwrap_err()
            .to_string();
        assert!(err.contains("canvas-data-refresh-local"), "{err}");
    }

    #[test]
    fn input_is_inline_json_or_a_file() {
        assert_eq!(read_input(None).unwrap(), "{}");
        assert_eq!(read_input(Some(r#"{"a":1}"#)).unwrap(), r#"{"a":1}"#);
        let err = read_input(Some("{nope")).unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
        let file = std::env::temp_dir().join(format!("run-input-{}.json", std::process::id()));
        std::fs::write(&file, r#"{"tables":["x"]}"#).unwrap();
        assert_eq!(read_input(file.to_str()).unwrap(), r#"{"tables":["x"]}"#);
        let _ = std::fs::remove_file(file);
    }
}
