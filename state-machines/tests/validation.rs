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
fn upload_processor_transcodes_and_transcribes_in_parallel_and_fails_the_execution_on_error() {
    let j = upload_processor::process().unwrap().to_json();
    let states = &j["States"];
    assert_eq!(j["StartAt"], "Prepare");
    // Prepare has no media yet; its answer is kept for the later steps
    let prepare = &states["Prepare"]["Parameters"]["Payload"];
    assert_eq!(prepare["step"], "prepare");
    assert!(prepare.get("media.$").is_none());
    assert_eq!(states["Prepare"]["ResultPath"], "$.media");
    assert_eq!(
        states["IsTrimRequired"]["Choices"][0]["Variable"],
        "$.request.trim"
    );
    let parallel = &states["TriggerProcessing"];
    let branches = parallel["Branches"].as_array().unwrap();
    assert_eq!(branches.len(), 3);
    let transcribe = &branches[2]["States"]["Transcribe"];
    assert_eq!(
        transcribe["Resource"],
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    );
    assert_eq!(
        transcribe["Parameters"]["Payload"]["task_token.$"],
        "$$.Task.Token"
    );
    assert_eq!(
        transcribe["Parameters"]["Payload"]["media.$"],
        "$.media.value"
    );
    assert!(
        transcribe["HeartbeatSeconds"].as_u64().unwrap()
            < transcribe["TimeoutSeconds"].as_u64().unwrap()
    );
    for name in ["Prepare", "TrimUpload", "TriggerProcessing"] {
        assert_eq!(states[name]["Catch"][0]["Next"], "ErrorHandler", "{name}");
        assert_eq!(
            states[name]["Catch"][0]["ResultPath"], "$.exception",
            "{name}"
        );
    }
    // the original went on to a Pass state and ended SUCCEEDED after a failure
    assert_eq!(states["ErrorHandler"]["Next"], "Failed");
    assert_eq!(states["Failed"]["Type"], "Fail");
    let handler = states["ErrorHandler"]["Branches"].as_array().unwrap();
    assert_eq!(
        handler[0]["States"]["MarkFailed"]["Parameters"]["Payload"]["step"],
        "mark-failed"
    );
    assert_eq!(
        handler[1]["States"]["SendToDlq"]["Resource"],
        "arn:aws:states:::sqs:sendMessage"
    );
    assert_eq!(
        upload_processor::process().unwrap().placeholders(),
        [
            upload_processor::DLQ,
            upload_processor::STEPS,
            upload_processor::TRANSCRIBE
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
}

fn callback_errors(t: Task) -> Vec<String> {
    errors(graph(vec![("Transcribe", State::Task(t))]))
}

#[test]
fn a_lambda_callback_passes_the_token_in_its_payload_with_heartbeat_and_timeout() {
    let t = Callback::lambda("TranscribeStart", 900)
        .with("request.$", "$.request")
        .heartbeat(300)
        .task(Transition::End);
    let j = serde_json::to_value(State::Task(t.clone())).unwrap();
    assert_eq!(
        j,
        json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": "${TranscribeStart}",
                "Payload": { "request.$": "$.request", "task_token.$": "$$.Task.Token" }
            },
            "HeartbeatSeconds": 300,
            "TimeoutSeconds": 900,
            "End": true,
            "Retry": [serde_json::to_value(state_machines::build::lambda_service_retry()).unwrap()]
        })
    );
    assert_eq!(callback_errors(t), Vec::<String>::new());
}

#[test]
fn a_heartbeat_must_be_below_the_timeout() {
    let t = Callback::lambda("F", 300)
        .heartbeat(300)
        .task(Transition::End);
    assert_eq!(
        callback_errors(t),
        ["state `Transcribe`: HeartbeatSeconds (300) must be below TimeoutSeconds (300)"]
    );
}

#[test]
fn a_callback_without_timeout_is_refused() {
    let mut t = Callback::lambda("F", 300).task(Transition::End);
    t.timeout_seconds = None;
    let errs = callback_errors(t);
    assert!(
        errs.iter()
            .any(|e| e.contains("state `Transcribe`: .waitForTaskToken needs TimeoutSeconds")),
        "{errs:?}"
    );
}

#[test]
fn the_token_must_reach_the_function_as_an_evaluated_payload_field() {
    // Outside Payload: the function never sees it.
    let mut t = Callback::lambda("F", 300).task(Transition::End);
    t.io.parameters = Some(json!({
        "FunctionName": "${F}",
        "Payload": {},
        "Token.$": "$$.Task.Token"
    }));
    assert_eq!(
        callback_errors(t.clone()),
        ["state `Transcribe`: .waitForTaskToken needs `$$.Task.Token` in Payload (a field ending in `.$`), or the task can never be completed"]
    );
    // Without `.$` the function receives the text "$$.Task.Token".
    t.io.parameters = Some(json!({
        "FunctionName": "${F}",
        "Payload": { "task_token": "$$.Task.Token" }
    }));
    let errs = callback_errors(t.clone());
    assert!(
        errs.contains(&"state `Transcribe`: `Payload.task_token` passes the text `$$.Task.Token`, not the token: name the field `Payload.task_token.$`".to_string()),
        "{errs:?}"
    );
    // The whole payload as the token, or the token inside an intrinsic, both reach it.
    t.io.parameters = Some(json!({ "FunctionName": "${F}", "Payload.$": "$$.Task.Token" }));
    assert_eq!(callback_errors(t.clone()), Vec::<String>::new());
    t.io.parameters = Some(json!({
        "FunctionName": "${F}",
        "Payload": { "t.$": "States.Format('{}', $$.Task.Token)" }
    }));
    assert_eq!(callback_errors(t), Vec::<String>::new());
}

#[test]
fn an_sqs_callback_may_pass_the_token_in_its_message() {
    let t = Task {
        resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken".into(),
        io: Io {
            parameters: Some(json!({
                "QueueUrl": "${Q}",
                "MessageBody": { "token.$": "$$.Task.Token" }
            })),
            ..Io::default()
        },
        transition: Transition::End,
        retry: vec![],
        catch: vec![],
        timeout_seconds: Some(60),
        heartbeat_seconds: None,
    };
    assert_eq!(callback_errors(t), Vec::<String>::new());
}
