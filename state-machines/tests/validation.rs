//! Invalid machines are refused with the state at fault named; the service machines are valid.

use serde_json::json;
use state_machines::build::{catch_all, invoke, next, pass};
use state_machines::machines::{canvas_data, upload_processor};
use state_machines::*;

fn graph(states: Vec<(&str, State)>) -> Graph {
    Graph {
        start_at: states[0].0.to_string(),
        states: states
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect(),
    }
}

fn errors(g: Graph) -> Vec<String> {
    match Definition::new("test", "test", g, None) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// A terminal inline Map over `inner`.
fn map_over(inner: Graph) -> State {
    State::Map(Map {
        item_processor: ItemProcessor(inner),
        items_path: None,
        item_selector: None,
        max_concurrency: 1,
        io: Io::default(),
        transition: Transition::End,
        retry: vec![],
        catch: vec![],
    })
}

fn succeed() -> State {
    State::Succeed {}
}

#[test]
fn a_next_that_does_not_exist_is_named() {
    let errs = errors(graph(vec![
        ("A", State::Task(invoke("F", next("Missing")))),
        ("B", succeed()),
    ]));
    assert!(
        errs.contains(
            &"state `A`: goes to `Missing`, which is not a state in this scope".to_string()
        ),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("state `B`: is unreachable")),
        "{errs:?}"
    );
}

#[test]
fn a_machine_without_a_terminal_state_is_refused() {
    let errs = errors(graph(vec![
        ("A", pass(json!({}), next("B"))),
        ("B", pass(json!({}), next("A"))),
    ]));
    assert!(
        errs.iter()
            .any(|e| e.contains("no state ends the execution")),
        "{errs:?}"
    );
}

#[test]
fn duplicate_names_are_refused_even_across_scopes() {
    let inner = graph(vec![("A", succeed())]);
    let errs = errors(graph(vec![("A", map_over(inner))]));
    assert!(
        errs.iter()
            .any(|e| e.contains("state `A`: the name is used twice")),
        "{errs:?}"
    );
}

#[test]
fn map_targets_cannot_leave_their_scope() {
    let inner = graph(vec![("Inner", pass(json!({}), next("Outer")))]);
    let errs = errors(graph(vec![("Outer", map_over(inner))]));
    assert!(
        errs.iter()
            .any(|e| e.contains("state `Inner`: goes to `Outer`")),
        "{errs:?}"
    );
}

#[test]
fn retry_and_catch_error_names_are_checked() {
    let mut t = invoke("F", Transition::End);
    t.retry.push(Retrier::backoff(&["States.Timeoutt"], 1, 2));
    t.catch = vec![
        catch_all("Done", "$.e"),
        Catcher {
            error_equals: vec!["Custom.Error".into()],
            next: "Done".into(),
            result_path: None,
        },
    ];
    let errs = errors(graph(vec![("A", State::Task(t)), ("Done", succeed())]));
    assert!(
        errs.iter()
            .any(|e| e.contains("`States.Timeoutt` is not a Step Functions error name")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("the Catch entry with States.ALL must come last")),
        "{errs:?}"
    );
}

#[test]
fn choice_rules_must_be_well_formed() {
    let choice = State::Choice(Choice {
        choices: vec![ChoiceRule {
            condition: Condition::Compare {
                variable: "state".into(),
                operator: "StringEqualz".into(),
                value: json!("x"),
            },
            next: "Done".into(),
        }],
        default: None,
        input_path: None,
        output_path: None,
    });
    let errs = errors(graph(vec![("Route", choice), ("Done", succeed())]));
    assert!(
        errs.iter()
            .any(|e| e.contains("state `Route`: Choice Variable `state` must be a path")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("unknown Choice operator `StringEqualz`")),
        "{errs:?}"
    );
}

#[test]
fn wait_for_task_token_must_pass_the_token() {
    let t = Task {
        resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken".into(),
        io: Io {
            parameters: Some(json!({"QueueUrl": "${Q}", "MessageBody": {}})),
            ..Io::default()
        },
        transition: Transition::End,
        retry: vec![],
        catch: vec![],
        timeout_seconds: None,
        heartbeat_seconds: None,
    };
    let errs = errors(graph(vec![("Wait", State::Task(t))]));
    assert!(
        errs.iter()
            .any(|e| e.contains("state `Wait`: .waitForTaskToken needs `$$.Task.Token`")),
        "{errs:?}"
    );
}

#[test]
fn canvas_refresh_is_valid_and_names_its_placeholders() {
    let d = canvas_data::refresh(7, 7200).unwrap();
    let expected: std::collections::BTreeSet<String> = [
        canvas_data::INIT_TABLE,
        canvas_data::LIST_TABLES,
        canvas_data::SUMMARY_TOPIC,
        canvas_data::SYNC_TABLE,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(d.placeholders(), expected);
    let j = d.to_json();
    assert_eq!(j["StartAt"], "ListTables");
    assert_eq!(j["States"]["RefreshTables"]["MaxConcurrency"], 7);
    assert_eq!(
        j["States"]["RefreshTables"]["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "INLINE"
    );
    // init loops on itself until it stops asking to continue
    let progress = &j["States"]["RefreshTables"]["ItemProcessor"]["States"]["InitProgress"];
    assert_eq!(
        progress["Choices"][0]["StringEquals"],
        "needs_init_continue"
    );
    assert_eq!(progress["Choices"][0]["Next"], "InitTable");
    // one failing table is caught into `failed` for that table only
    let sync = &j["States"]["RefreshTables"]["ItemProcessor"]["States"]["SyncTable"];
    assert_eq!(sync["Catch"][0]["Next"], "TableFailed");
    assert_eq!(sync["Retry"][0]["BackoffRate"], 2.0);
}

#[test]
fn upload_processor_uses_parallel_task_tokens_and_a_failure_queue() {
    let j = upload_processor::process().unwrap().to_json();
    let process = &j["States"]["Process"];
    assert_eq!(process["Type"], "Parallel");
    assert_eq!(process["Branches"].as_array().unwrap().len(), 2);
    assert_eq!(
        process["Branches"][1]["States"]["Transcribe"]["Resource"],
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    );
    assert_eq!(process["Catch"][0]["Next"], "ReportFailure");
    assert_eq!(
        j["States"]["ReportFailure"]["Resource"],
        "arn:aws:states:::sqs:sendMessage"
    );
    assert_eq!(j["States"]["Failed"]["Type"], "Fail");
}
