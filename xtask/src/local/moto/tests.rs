//! The launcher against a real emulator: one per test process, on a free port, whose Lambda
//! calls go to a fake Lambda service that records them. Each test uses its own names.

use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sfn::types::ExecutionStatus;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::Moto;
use crate::local::state_dir;

#[derive(Debug, Clone)]
struct Invocation {
    function: String,
    invocation_type: String,
    event: Value,
}

type Calls = Arc<Mutex<Vec<Invocation>>>;

struct Emulator {
    endpoint: String,
    calls: Calls,
    // never waited for: it exits with the test process (`--exit-with-parent`)
    _process: std::process::Child,
}

/// Lambda's Invoke: functions named `fail…` fail as Lambda reports an unhandled error, the
/// others answer `{"from": name, "echo": event}`; `Event` invocations get 202.
async fn invoke(
    State(calls): State<Calls>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let function = function.rsplit(':').next().unwrap_or_default().to_string();
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_string();
    let event: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    calls.lock().unwrap().push(Invocation {
        function: function.clone(),
        invocation_type: invocation_type.clone(),
        event: event.clone(),
    });
    if invocation_type == "Event" {
        return StatusCode::ACCEPTED.into_response();
    }
    if function.starts_with("fail") {
        let error = json!({"errorType": "Boom", "errorMessage": "it broke"});
        return ([("X-Amz-Function-Error", "Unhandled")], axum::Json(error)).into_response();
    }
    axum::Json(json!({"from": function, "echo": event})).into_response()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let calls = Calls::default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let lambda = format!("http://{}", listener.local_addr().unwrap());
        let state = calls.clone();
        // its own runtime: each test's runtime ends with the test, the fake must not
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route(
                        "/2015-03-31/functions/{function}/invocations",
                        axum::routing::post(invoke),
                    )
                    .with_state(state);
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let port = free_port();
        let moto = Moto::new(port).lambda_endpoint(lambda);
        std::fs::create_dir_all(state_dir()).unwrap();
        let log_path = state_dir().join("test-moto.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let process = moto
            .command()
            .unwrap()
            .arg("--exit-with-parent")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting the launcher");
        assert!(
            moto.wait_healthy(Duration::from_secs(60)),
            "the launcher did not answer; see {}",
            log_path.display()
        );
        Emulator {
            endpoint: moto.endpoint(),
            calls,
            _process: process,
        }
    })
}

async fn config(e: &Emulator) -> SdkConfig {
    support::emulator_config_at(&e.endpoint).await
}

/// A name no other test (or earlier run against the same emulator) uses.
fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

fn calls_to(e: &Emulator, function: &str) -> Vec<Invocation> {
    let calls = e.calls.lock().unwrap();
    calls
        .iter()
        .filter(|c| c.function == function)
        .cloned()
        .collect()
}

/// Polls `check` until it gives a value; the limit only bounds a broken run.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A CloudFormation stack on the emulator; returns logical id → physical id.
async fn stack(conf: &SdkConfig, resources: Value) -> std::collections::BTreeMap<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(conf);
    let name = unique("stack");
    cfn.create_stack()
        .stack_name(&name)
        .template_body(json!({"Resources": resources}).to_string())
        .send()
        .await
        .unwrap();
    crate::deployed::physical_ids(&cfn, &name)
        .await
        .unwrap()
        .unwrap()
}

async fn role(conf: &SdkConfig) -> String {
    let name = unique("role");
    stack(
        conf,
        json!({"Role": {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": name,
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}
        }}}),
    )
    .await;
    format!("arn:aws:iam::123456789012:role/{name}")
}

/// A function registered on the emulator (its code never runs there: invocations go to the fake
/// Lambda endpoint); its name and ARN.
async fn function(conf: &SdkConfig, prefix: &str) -> (String, String) {
    let name = unique(prefix);
    let arn = aws_sdk_lambda::Client::new(conf)
        .create_function()
        .function_name(&name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role(conf).await)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(b"zip".to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string();
    (name, arn)
}

struct Execution {
    status: ExecutionStatus,
    output: Value,
    error: Option<String>,
    cause: Option<String>,
}

async fn start(sfn: &aws_sdk_sfn::Client, definition: Value, input: Value) -> String {
    let machine = sfn
        .create_state_machine()
        .name(unique("sm"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .unwrap();
    sfn.start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .input(input.to_string())
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_string()
}

async fn status(sfn: &aws_sdk_sfn::Client, execution: &str) -> Execution {
    let d = sfn
        .describe_execution()
        .execution_arn(execution)
        .send()
        .await
        .unwrap();
    Execution {
        status: d.status().clone(),
        output: d
            .output()
            .map(|o| serde_json::from_str(o).unwrap())
            .unwrap_or(Value::Null),
        error: d.error().map(String::from),
        cause: d.cause().map(String::from),
    }
}

async fn finished(sfn: &aws_sdk_sfn::Client, execution: &str) -> Execution {
    eventually("the execution to end", async || {
        let s = status(sfn, execution).await;
        (s.status != ExecutionStatus::Running).then_some(s)
    })
    .await
}

const LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

#[tokio::test]
async fn lambda_tasks_choice_map_parallel_and_intrinsics_run_to_success() {
    let e = emulator();
    let sfn = aws_sdk_sfn::Client::new(&config(e).await);
    let (one, two) = (unique("one"), unique("two"));
    let definition = json!({"StartAt": "Direct", "States": {
        "Direct": {"Type": "Task", "Resource": format!("{LAMBDA}{one}"), "ResultPath": "$.direct", "Next": "Invoke"},
        "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": two, "Payload": {"items.$": "$.items"}},
            "ResultSelector": {"answer.$": "$.Payload"}, "ResultPath": "$.invoke", "Next": "Route"},
        "Route": {"Type": "Choice", "Choices": [
            {"Variable": "$.invoke.answer.from", "StringEquals": two, "Next": "Each"}], "Default": "Wrong"},
        "Wrong": {"Type": "Fail", "Error": "WrongBranch"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.doubled",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double", "States": {
                "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($, $)"}, "End": true}}},
            "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Count", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": true}}}]},
        "Count": {"Type": "Pass", "End": true, "Parameters": {
            "count.$": "States.ArrayLength($.doubled)",
            "direct.$": "$.direct.from",
            "echo.$": "$.invoke.answer.echo",
            "both.$": "$.both",
            "doubled.$": "$.doubled"}}
    }});
    let execution = start(&sfn, definition, json!({"items": [1, 2, 3]})).await;
    let end = finished(&sfn, &execution).await;
    assert_eq!(
        end.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        end.error,
        end.cause
    );
    assert_eq!(
        end.output,
        json!({"count": 3, "direct": one, "echo": {"items": [1, 2, 3]},
               "both": ["a", "b"], "doubled": [{"n": 2}, {"n": 4}, {"n": 6}]})
    );
    assert_eq!(calls_to(e, &one)[0].event, json!({"items": [1, 2, 3]}));
    assert_eq!(calls_to(e, &two)[0].invocation_type, "RequestResponse");
}

#[tokio::test]
async fn a_filter_that_matches_nothing_is_an_empty_list_as_in_aws() {
    let e = emulator();
    let sfn = aws_sdk_sfn::Client::new(&config(e).await);
    let definition = json!({"StartAt": "Summarize", "States": {
        "Summarize": {"Type": "Pass", "End": true, "Parameters": {
            "complete.$": "$.results[?(@.state == 'complete')].table_name",
            "failed.$": "$.results[?(@.state == 'failed')].table_name",
            "all.$": "$.results[*].table_name"}}
    }});
    let input = json!({"results": [
        {"table_name": "a", "state": "complete"},
        {"table_name": "b", "state": "complete"}]});
    let end = finished(&sfn, &start(&sfn, definition, input).await).await;
    assert_eq!(
        end.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        end.error,
        end.cause
    );
    assert_eq!(
        end.output,
        json!({"complete": ["a", "b"], "failed": [], "all": ["a", "b"]})
    );
    // a definite path that is missing still fails the state, as in AWS
    let definition = json!({"StartAt": "Pick", "States": {
        "Pick": {"Type": "Pass", "End": true, "Parameters": {"missing.$": "$.nope.deep"}}}});
    let end = finished(&sfn, &start(&sfn, definition, json!({"other": 1})).await).await;
    assert_eq!(end.status, ExecutionStatus::Failed);
    assert_eq!(end.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn executions_started_without_a_name_are_distinct_as_in_aws() {
    let e = emulator();
    let sfn = aws_sdk_sfn::Client::new(&config(e).await);
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let machine = sfn
        .create_state_machine()
        .name(unique("unnamed"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .unwrap();
    let mut arns = Vec::new();
    for input in [json!({"n": 1}), json!({"n": 2})] {
        let started = sfn
            .start_execution()
            .state_machine_arn(machine.state_machine_arn())
            .input(input.to_string())
            .send()
            .await
            .unwrap();
        arns.push(started.execution_arn().to_string());
    }
    assert_ne!(arns[0], arns[1]);
    assert!(!arns[0].ends_with(":None"), "{}", arns[0]);
    assert_eq!(finished(&sfn, &arns[1]).await.output, json!({"n": 2}));
}

#[tokio::test]
async fn a_failing_task_is_retried_then_caught() {
    let e = emulator();
    let sfn = aws_sdk_sfn::Client::new(&config(e).await);
    let fail = unique("fail");
    let definition = json!({"StartAt": "Flaky", "States": {
        "Flaky": {"Type": "Task", "Resource": format!("{LAMBDA}{fail}"),
            "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1, "IntervalSeconds": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}],
            "End": true},
        "Handled": {"Type": "Pass", "End": true}
    }});
    let execution = start(&sfn, definition, json!({"table": "x"})).await;
    let end = finished(&sfn, &execution).await;
    assert_eq!(end.status, ExecutionStatus::Succeeded, "{:?}", end.cause);
    assert_eq!(end.output["table"], "x");
    assert_eq!(end.output["error"]["Error"], "Boom");
    let cause: Value =
        serde_json::from_str(end.output["error"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["errorMessage"], "it broke");
    assert_eq!(calls_to(e, &fail).len(), 2, "one attempt and one retry");
    let code = crate::run_cmd::follow(&sfn, &execution, Duration::from_millis(100));
    assert_eq!(
        code.await.unwrap(),
        0,
        "`run --follow` exits 0 on SUCCEEDED"
    );

    let history = sfn
        .get_execution_history()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    let mut t = crate::run_cmd::Transitions::default();
    let lines: Vec<String> = history.events().iter().filter_map(|e| t.line(e)).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("retry 1: scheduled lambda")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn sns_publish_from_a_deployed_state_machine_is_readable() {
    let e = emulator();
    let conf = config(e).await;
    let topic_name = unique("summary");
    let role = role(&conf).await;
    let machine = unique("notify");
    // DefinitionSubstitutions as infra/ writes them: the launcher applies them for moto
    let ids = stack(
        &conf,
        json!({
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": topic_name}},
            "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "StateMachineName": machine,
                "RoleArn": role,
                "DefinitionString": json!({"StartAt": "Notify", "States": {"Notify": {
                    "Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": true,
                    "Parameters": {"TopicArn": "${SummaryTopicArn}", "Subject": "Refresh summary",
                        "Message.$": "States.JsonToString($)"}}}}).to_string(),
                "DefinitionSubstitutions": {"SummaryTopicArn": {"Ref": "Topic"}}
            }}
        }),
    )
    .await;
    let topic = ids["Topic"].clone();
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let arn = format!("arn:aws:states:us-east-1:123456789012:stateMachine:{machine}");
    let execution = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .input(r#"{"failed":[]}"#)
        .send()
        .await
        .unwrap();
    let end = finished(&sfn, execution.execution_arn()).await;
    assert_eq!(end.status, ExecutionStatus::Succeeded, "{:?}", end.cause);

    assert!(crate::local::messages::topics(&e.endpoint)
        .await
        .unwrap()
        .contains(&topic));
    let published = crate::local::messages::fetch(&e.endpoint, &topic)
        .await
        .unwrap();
    assert_eq!(published.messages.len(), 1);
    let m = &published.messages[0];
    assert_eq!(m.subject.as_deref(), Some("Refresh summary"));
    assert_eq!(
        serde_json::from_str::<Value>(&m.message).unwrap(),
        json!({"failed": []})
    );
    assert!(m.timestamp.as_deref().is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn a_task_token_holds_the_execution_until_success_or_failure_is_sent() {
    let e = emulator();
    let sfn = aws_sdk_sfn::Client::new(&config(e).await);
    let worker = unique("worker");
    let definition = json!({"StartAt": "Wait", "States": {"Wait": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": worker, "Payload": {"token.$": "$$.Task.Token"}},
        "HeartbeatSeconds": 600, "End": true}}});
    let token_of = |n: usize| {
        let worker = worker.clone();
        async move || -> Option<String> {
            let calls = calls_to(e, &worker);
            Some(calls.get(n)?.event["token"].as_str()?.to_string())
        }
    };

    let execution = start(&sfn, definition.clone(), json!({})).await;
    let token = eventually("the task token", token_of(0)).await;
    assert_eq!(
        status(&sfn, &execution).await.status,
        ExecutionStatus::Running
    );
    sfn.send_task_heartbeat()
        .task_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(&sfn, &execution).await.status,
        ExecutionStatus::Running
    );
    sfn.send_task_success()
        .task_token(&token)
        .output(r#"{"done":true}"#)
        .send()
        .await
        .unwrap();
    let end = finished(&sfn, &execution).await;
    assert_eq!(end.status, ExecutionStatus::Succeeded);
    assert_eq!(end.output, json!({"done": true}));

    let execution = start(&sfn, definition, json!({})).await;
    let token = eventually("the second task token", token_of(1)).await;
    sfn.send_task_failure()
        .task_token(&token)
        .error("Transcode.Failed")
        .cause("ffmpeg exited 1")
        .send()
        .await
        .unwrap();
    let end = finished(&sfn, &execution).await;
    assert_eq!(end.status, ExecutionStatus::Failed);
    assert_eq!(end.error.as_deref(), Some("Transcode.Failed"));
    assert_eq!(end.cause.as_deref(), Some("ffmpeg exited 1"));
    let code = crate::run_cmd::follow(&sfn, &execution, Duration::from_millis(100));
    assert_eq!(code.await.unwrap(), 1, "`run --follow` exits 1 on FAILED");
}

#[tokio::test]
async fn an_object_created_notifies_lambda_asynchronously_and_sqs() {
    let e = emulator();
    let conf = config(e).await;
    let (function, function_arn) = function(&conf, "on-upload").await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queue = sqs
        .create_queue()
        .queue_name(unique("uploads"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("uploads");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    use aws_sdk_s3::types::{
        Event, LambdaFunctionConfiguration, NotificationConfiguration, QueueConfiguration,
    };
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(
                    LambdaFunctionConfiguration::builder()
                        .lambda_function_arn(&function_arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(&queue_arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("answers/a.webm")
        .body(b"video".to_vec().into())
        .send()
        .await
        .unwrap();

    let call = eventually("the notification to reach Lambda", async || {
        calls_to(e, &function).into_iter().next()
    })
    .await;
    assert_eq!(call.invocation_type, "Event");
    let record = &call.event["Records"][0];
    assert_eq!(record["eventSource"], "aws:s3");
    assert_eq!(record["s3"]["bucket"]["name"], bucket.as_str());
    assert_eq!(record["s3"]["object"]["key"], "answers/a.webm");

    // S3 first sends an s3:TestEvent when the configuration is put
    let key = eventually("the notification in the queue", async || {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        got.messages().iter().find_map(|m| {
            let body: Value = serde_json::from_str(m.body()?).ok()?;
            Some(
                body["Records"][0]["s3"]["object"]["key"]
                    .as_str()?
                    .to_string(),
            )
        })
    })
    .await;
    assert_eq!(key, "answers/a.webm");
}

#[tokio::test]
async fn send_message_to_a_mapped_queue_invokes_nothing() {
    let e = emulator();
    let conf = config(e).await;
    let (function, _) = function(&conf, "consumer").await;
    let lambda = aws_sdk_lambda::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queue = sqs
        .create_queue()
        .queue_name(unique("work"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = format!(
        "arn:aws:sqs:us-east-1:123456789012:{}",
        queue.rsplit('/').next().unwrap()
    );
    let mapping = lambda
        .create_event_source_mapping()
        .event_source_arn(&queue_arn)
        .function_name(&function)
        .send()
        .await
        .unwrap();
    let listed = lambda
        .list_event_source_mappings()
        .event_source_arn(&queue_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.event_source_mappings().len(), 1);
    assert_eq!(listed.event_source_mappings()[0].uuid(), mapping.uuid());

    sqs.send_message()
        .queue_url(&queue)
        .message_body("job")
        .send()
        .await
        .unwrap();
    // moto would have invoked the mapping inside SendMessage, before answering it
    assert!(calls_to(e, &function).is_empty());
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1, "the message waits for the poller");
    assert_eq!(got.messages()[0].body(), Some("job"));
}

#[test]
fn an_emulator_without_this_launcher_or_lambda_endpoint_is_outdated() {
    let e = emulator();
    let port: u16 = e.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let lambda = {
        let health = Moto::new(port).launcher().unwrap();
        health["lambda_endpoint"].as_str().unwrap().to_string()
    };
    assert_eq!(Moto::new(port).outdated(), None);
    assert_eq!(Moto::new(port).lambda_endpoint(lambda).outdated(), None);
    let elsewhere = Moto::new(port).lambda_endpoint("http://127.0.0.1:1".into());
    assert!(elsewhere.outdated().unwrap().contains("http://127.0.0.1:1"));

    // what an older xtask started: moto's own server
    let port = free_port();
    let mut plain = std::process::Command::new(crate::venv::tool("moto_server").unwrap())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let old = Moto::new(port);
    let ready = old.wait_healthy(Duration::from_secs(60));
    let why = old.outdated();
    let _ = plain.kill();
    let _ = plain.wait();
    assert!(ready, "moto_server did not start");
    assert!(why.unwrap().contains("without the launcher"));
}

#[tokio::test]
async fn a_lambda_subscription_gets_the_sns_event_asynchronously() {
    let e = emulator();
    let conf = config(e).await;
    let function = unique("on-summary");
    let machine = unique("publish");
    let ids = stack(
        &conf,
        json!({
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {
                "TopicName": unique("alerts"),
                "Subscription": [{"Protocol": "lambda", "Endpoint": format!("{LAMBDA}{function}")}]
            }},
            "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "StateMachineName": machine,
                "RoleArn": "arn:aws:iam::123456789012:role/states",
                "DefinitionString": json!({"StartAt": "Notify", "States": {"Notify": {
                    "Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": true,
                    "Parameters": {"TopicArn": "${Topic}", "Subject": "Alarm", "Message": "disk full"}}}})
                    .to_string(),
                "DefinitionSubstitutions": {"Topic": {"Ref": "Topic"}}
            }}
        }),
    )
    .await;
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let arn = format!("arn:aws:states:us-east-1:123456789012:stateMachine:{machine}");
    let execution = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    let end = finished(&sfn, execution.execution_arn()).await;
    assert_eq!(end.status, ExecutionStatus::Succeeded, "{:?}", end.cause);

    let call = eventually("the SNS event to reach Lambda", async || {
        calls_to(e, &function).into_iter().next()
    })
    .await;
    assert_eq!(call.invocation_type, "Event");
    let record = &call.event["Records"][0];
    assert_eq!(record["EventSource"], "aws:sns");
    assert_eq!(record["Sns"]["TopicArn"], ids["Topic"].as_str());
    assert_eq!(record["Sns"]["Subject"], "Alarm");
    assert_eq!(record["Sns"]["Message"], "disk full");
    let published = crate::local::messages::fetch(&e.endpoint, &ids["Topic"])
        .await
        .unwrap();
    assert_eq!(
        record["Sns"]["MessageId"],
        published.messages[0].message_id.as_str()
    );
}

#[tokio::test]
async fn a_buckets_notification_configuration_from_cloudformation_applies() {
    let e = emulator();
    let conf = config(e).await;
    let (function, queue, bucket) = (unique("on-video"), unique("videos"), unique("bucket"));
    // moto's AWS::S3::Bucket ignores NotificationConfiguration; the launcher applies it
    let ids = stack(
        &conf,
        json!({
            "Role": {"Type": "AWS::IAM::Role", "Properties": {
                "RoleName": unique("role"),
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}
            }},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": function,
                "Runtime": "provided.al2023",
                "Handler": "bootstrap",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "zip"}
            }},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue}},
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
                "BucketName": bucket,
                "NotificationConfiguration": {
                    "LambdaConfigurations": [{
                        "Event": "s3:ObjectCreated:*",
                        "Function": {"Fn::GetAtt": ["Fn", "Arn"]},
                        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "answers/"}]}}
                    }],
                    "QueueConfigurations": [{
                        "Event": "s3:ObjectCreated:Put",
                        "Queue": {"Fn::GetAtt": ["Queue", "Arn"]},
                        "Filter": {"S3Key": {"Rules": [
                            {"Name": "Prefix", "Value": "in/"},
                            {"Name": "Suffix", "Value": ".webm"}
                        ]}}
                    }]
                }
            }}
        }),
    )
    .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    for key in ["in/a.webm", "in/b.txt", "out/c.webm", "answers/d.webm"] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(b"video".to_vec().into())
            .send()
            .await
            .unwrap();
    }

    let call = eventually("the notification to reach Lambda", async || {
        calls_to(e, &function).into_iter().next()
    })
    .await;
    assert_eq!(call.invocation_type, "Event");
    assert_eq!(
        call.event["Records"][0]["s3"]["object"]["key"],
        "answers/d.webm"
    );
    assert_eq!(
        calls_to(e, &function).len(),
        1,
        "only the key under answers/"
    );

    // notifications are sent inside PutObject: all are queued by now
    let sqs = aws_sdk_sqs::Client::new(&conf);
    assert!(ids.contains_key("Bucket"));
    let url = &sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut keys = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            // S3 sends an s3:TestEvent when the configuration is put
            if body["Event"] == "s3:TestEvent" {
                continue;
            }
            keys.push(body["Records"][0]["s3"]["object"]["key"].clone());
        }
    }
    assert_eq!(keys, vec![json!("in/a.webm")]);
}

/// A call of the emulator's Transcribe (JSON 1.1; xtask has no Transcribe SDK).
async fn transcribe(e: &Emulator, action: &str, body: Value) -> Value {
    let response = support::tls::http_client()
        .post(&e.endpoint)
        .header("X-Amz-Target", format!("Transcribe.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/transcribe/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{action}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(true)
            .build(),
    )
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let got = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(got.body.collect().await.unwrap().into_bytes().to_vec())
}

/// `frames` MPEG-1 Layer III frames of 128 kbit/s at 44.1 kHz (417 bytes, 1152 samples each),
/// after an ID3v2 tag; silent, which the emulator still counts as audio.
fn mp3(frames: usize) -> Vec<u8> {
    let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    for _ in 0..frames {
        let mut frame = vec![0u8; 417];
        frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x00]);
        bytes.extend(frame);
    }
    bytes
}

/// An input bucket holding `media`, an output bucket notifying a function of `.json` and
/// `.vtt` objects, and a job started on them as the upload processor starts its jobs.
async fn transcription(e: &Emulator, media: Vec<u8>) -> (String, String, String, String) {
    let conf = config(e).await;
    let s3 = s3_client(&conf);
    let (function, function_arn) = function(&conf, "collect").await;
    let (input, output) = (unique("transcribe-in"), unique("transcribe-out"));
    for bucket in [&input, &output] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
    s3.put_bucket_notification_configuration()
        .bucket(&output)
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(
                    LambdaFunctionConfiguration::builder()
                        .lambda_function_arn(&function_arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // the literal `$` of the original's input key (spec §10 #1) must not matter
    let media_key = "m1/q1/$t1/answer.mp3";
    s3.put_object()
        .bucket(&input)
        .key(media_key)
        .body(media.into())
        .send()
        .await
        .unwrap();
    let job = unique("m1_q1_t1");
    let started = transcribe(
        e,
        "StartTranscriptionJob",
        json!({
            "TranscriptionJobName": job,
            "LanguageCode": "en-US",
            "Media": {"MediaFileUri": format!("https://s3.us-east-1.amazonaws.com/{input}/{media_key}")},
            "MediaFormat": "mp3",
            "OutputBucketName": output,
            "OutputKey": "m1/q1/t1/transcribe.json",
            "Subtitles": {"Formats": ["vtt"]},
        }),
    )
    .await;
    assert_eq!(
        started["TranscriptionJob"]["TranscriptionJobStatus"], "IN_PROGRESS",
        "{started}"
    );
    (job, output, function, media_key.to_string())
}

async fn completed(e: &Emulator, job: &str) -> Value {
    eventually("the transcription job to complete", async || {
        let got = transcribe(
            e,
            "GetTranscriptionJob",
            json!({"TranscriptionJobName": job}),
        )
        .await;
        let status = got["TranscriptionJob"]["TranscriptionJobStatus"].clone();
        assert_ne!(status, "FAILED", "{got}");
        (status == "COMPLETED").then_some(got)
    })
    .await
}

#[tokio::test]
async fn a_transcription_job_writes_a_transcript_and_vtt_whose_notifications_reach_lambda() {
    let e = emulator();
    let s3 = s3_client(&config(e).await);
    let (job, output, function, media_key) = transcription(e, mp3(100)).await;
    let got = completed(e, &job).await;
    let uri = got["TranscriptionJob"]["Transcript"]["TranscriptFileUri"]
        .as_str()
        .unwrap();
    assert!(
        uri.ends_with(&format!("/{output}/m1/q1/t1/transcribe.json")),
        "{uri}"
    );

    let json = object(&s3, &output, "m1/q1/t1/transcribe.json")
        .await
        .expect("the transcript in the output bucket");
    let transcript: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(transcript["status"], "COMPLETED");
    assert_eq!(transcript["jobName"], job.as_str());
    let text = transcript["results"]["transcripts"][0]["transcript"]
        .as_str()
        .unwrap();
    assert_eq!(text, format!("Local transcription of {media_key}."));
    let items = transcript["results"]["items"].as_array().unwrap();
    let words: Vec<&Value> = items
        .iter()
        .filter(|i| i["type"] == "pronunciation")
        .collect();
    assert_eq!(words.len(), 4);
    assert_eq!(items.last().unwrap()["type"], "punctuation");
    assert!(items.last().unwrap().get("start_time").is_none());
    // 100 frames of 1152 samples at 44.1 kHz: the words span the clip, not more
    let end: f64 = words[3]["end_time"].as_str().unwrap().parse().unwrap();
    assert!((end - 100.0 * 1152.0 / 44100.0).abs() < 0.01, "{end}");

    let vtt = object(&s3, &output, "m1/q1/t1/transcribe.vtt")
        .await
        .expect("the subtitles beside the transcript");
    let vtt = String::from_utf8(vtt).unwrap();
    assert!(
        vtt.starts_with("WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.612\n"),
        "{vtt}"
    );
    assert!(vtt.contains(text));

    let keys = eventually("both notifications", async || {
        let mut keys: Vec<String> = calls_to(e, &function)
            .iter()
            .map(|c| {
                c.event["Records"][0]["s3"]["object"]["key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        keys.sort();
        (keys.len() >= 2).then_some(keys)
    })
    .await;
    assert_eq!(
        keys,
        ["m1/q1/t1/transcribe.json", "m1/q1/t1/transcribe.vtt"]
    );
}

#[tokio::test]
async fn media_without_audio_frames_gets_an_empty_transcript() {
    let e = emulator();
    let s3 = s3_client(&config(e).await);
    let (job, output, _, _) = transcription(e, mp3(0)).await;
    completed(e, &job).await;
    let json = object(&s3, &output, "m1/q1/t1/transcribe.json")
        .await
        .unwrap();
    let transcript: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(transcript["results"]["transcripts"][0]["transcript"], "");
    assert_eq!(transcript["results"]["items"], json!([]));
    let vtt = object(&s3, &output, "m1/q1/t1/transcribe.vtt")
        .await
        .unwrap();
    assert_eq!(String::from_utf8(vtt).unwrap(), "WEBVTT\n\n");
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, bytes) in entries {
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        zip.start_file(*path, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_functions_layers_from_cloudformation_unpack_in_order_under_its_opt() {
    let e = emulator();
    let conf = config(e).await;
    let s3 = s3_client(&conf);
    let bucket = unique("assets");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // unique contents: a fresh directory under target/local/lambda for this run
    let run = uuid::Uuid::new_v4().to_string();
    let first = zip_of(&[
        ("bin/tool", b"#!/bin/sh\necho first\n"),
        ("share/first.txt", run.as_bytes()),
    ]);
    let second = zip_of(&[("bin/tool", b"#!/bin/sh\necho second\n")]);
    for (key, zip) in [("assets/first.zip", first), ("assets/second.zip", second)] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(zip.into())
            .send()
            .await
            .unwrap();
    }
    let layer = |key: &str| {
        json!({"Type": "AWS::Lambda::LayerVersion", "Properties": {
            "Content": {"S3Bucket": bucket, "S3Key": key},
            "CompatibleArchitectures": ["arm64"],
        }})
    };
    let role = role(&conf).await;
    let name = unique("with-layers");
    stack(
        &conf,
        json!({
            "First": layer("assets/first.zip"),
            "Second": layer("assets/second.zip"),
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": name,
                "Runtime": "provided.al2023",
                "Handler": "bootstrap",
                "Role": role,
                "Code": {"ZipFile": "unused"},
                "Layers": [{"Ref": "First"}, {"Ref": "Second"}],
            }},
        }),
    )
    .await;
    let lambda = aws_sdk_lambda::Client::new(&conf);
    let config = lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .unwrap()
        .configuration
        .unwrap();
    let arns: Vec<String> = config
        .layers()
        .iter()
        .map(|l| l.arn().unwrap().to_string())
        .collect();
    assert_eq!(arns.len(), 2, "{arns:?}");
    assert!(arns.iter().all(|a| a.contains(":layer:")), "{arns:?}");

    let opt = crate::local::lambda::layers::prepare(&lambda, &s3, &arns, None)
        .await
        .unwrap();
    let dir = opt.root.join("opt");
    assert_eq!(
        std::fs::read_to_string(dir.join("bin/tool")).unwrap(),
        "#!/bin/sh\necho second\n",
        "the later layer wins"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("share/first.txt")).unwrap(),
        run
    );
    let env: std::collections::BTreeMap<_, _> = opt.env.into_iter().collect();
    let out = std::process::Command::new(&env["TOOL_PATH"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "second\n");
    std::fs::remove_dir_all(opt.root.parent().unwrap()).unwrap();
}

/// An EventBridge call (the xtask has no EventBridge client).
async fn events(e: &Emulator, action: &str, body: Value) {
    let response = support::tls::http_client()
        .post(&e.endpoint)
        .header("X-Amz-Target", format!("AWSEvents.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/events/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{action}: {status} {}",
        response.text().await.unwrap()
    );
}

/// Clients of a local stage whose emulator (and Lambda endpoint) is this test's emulator.
async fn stage_clients(e: &Emulator) -> (infra::stage::Stage, crate::aws::Clients) {
    let port = e.endpoint.rsplit(':').next().unwrap();
    let stage = infra::stage::parse(
        "local",
        "test.yaml",
        &format!("local:\n  emulator_port: {port}\n  lambda_port: {port}\n"),
    )
    .unwrap();
    let conf = crate::aws::config(&stage).await;
    let clients = crate::aws::Clients::from_config(&stage, &conf);
    (stage, clients)
}

/// What drift reports of one resource: its status and (path, expected, actual, type, whether a
/// hotswap explains it) per difference.
type Found = (
    crate::drift::Status,
    Vec<(String, String, String, String, bool)>,
);

fn found(report: &crate::drift::StackDrift, logical_id: &str) -> Found {
    let r = report
        .resources
        .iter()
        .find(|r| r.logical_id == logical_id)
        .unwrap_or_else(|| panic!("{logical_id} is not in {report:#?}"));
    let differences = r
        .differences
        .iter()
        .map(|d| {
            (
                d.path.clone(),
                d.expected.clone(),
                d.actual.clone(),
                d.kind.clone(),
                d.hotswapped_at.is_some(),
            )
        })
        .collect();
    (r.status, differences)
}

fn difference(
    path: &str,
    expected: &str,
    actual: &str,
    kind: &str,
    hotswapped: bool,
) -> (String, String, String, String, bool) {
    (
        path.into(),
        expected.into(),
        actual.into(),
        kind.into(),
        hotswapped,
    )
}

/// Drift detection through the launcher's CloudFormation drift API, read with the SDK as
/// `cargo xtask drift` reads it: in sync as deployed; a `deploy --hotswap` (its own code path,
/// record included) is expected drift; changes made out of band are drift, per property; a
/// stack update that takes the hotswapped key drops the record and brings it in line.
#[tokio::test]
async fn drift_is_reported_per_property_and_a_hotswap_as_expected_until_the_stack_takes_it() {
    use crate::deploy::hotswap;
    use crate::drift::{Status, Verdict};
    use sha2::{Digest, Sha256};

    let e = emulator();
    let (stage, clients) = stage_clients(e).await;
    let bucket = unique("assets");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let (one, two) = (
        zip_of(&[("bootstrap", b"one")]),
        zip_of(&[("bootstrap", b"two")]),
    );
    let key = |zip: &[u8]| format!("assets/{}.zip", crate::build::hex(&Sha256::digest(zip)));
    let sha = |zip: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
    };
    for zip in [&one, &two] {
        clients
            .s3
            .put_object()
            .bucket(&bucket)
            .key(key(zip))
            .body(zip.clone().into())
            .send()
            .await
            .unwrap();
    }
    let conf = config(e).await;
    let (function, queue, rule) = (unique("drift-fn"), unique("drift-q"), unique("drift-rule"));
    let template = json!({
        "Parameters": {"FnCodeKey": {"Type": "String"}},
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": function,
                "Runtime": "provided.al2023",
                "Handler": "bootstrap",
                "MemorySize": 256,
                "Timeout": 30,
                "Role": role(&conf).await,
                "Code": {"S3Bucket": bucket, "S3Key": {"Ref": "FnCodeKey"}},
                "Environment": {"Variables": {"QUEUE": {"Ref": "Queue"}, "STAGE": "local"}},
            }},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {
                "QueueName": queue, "VisibilityTimeout": 60, "MessageRetentionPeriod": 1209600}},
            "Rule": {"Type": "AWS::Events::Rule", "Properties": {
                "Name": rule, "ScheduleExpression": "rate(5 minutes)", "State": "ENABLED"}},
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": unique("drift-topic")}},
        }
    })
    .to_string();
    let name = unique("drift");
    let input = |code: &str| crate::deploy::stack::Input {
        name: name.clone(),
        body: template.clone(),
        template_url: None,
        parameters: [("FnCodeKey".to_string(), code.to_string())].into(),
        role_arn: None,
    };
    let parameter = |code: &str| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key("FnCodeKey")
            .parameter_value(code)
            .build()
    };
    clients
        .cfn
        .create_stack()
        .stack_name(&name)
        .template_body(&template)
        .parameters(parameter(&key(&one)))
        .send()
        .await
        .unwrap();
    let check = async || {
        crate::drift::check(&clients, &bucket, &name)
            .await
            .unwrap()
            .unwrap()
    };

    let report = check().await;
    assert_eq!(report.verdict(), Verdict::InSync, "{report:#?}");
    for id in ["Fn", "Queue", "Rule"] {
        assert_eq!(found(&report, id), (Status::InSync, vec![]), "{id}");
    }
    assert_eq!(found(&report, "Topic").0, Status::NotChecked);

    // the hotswap path itself, and its record in the bucket
    let hotswap::Outcome::Done(items) =
        hotswap::try_hotswap(&clients, &stage, &bucket, &input(&key(&two)))
            .await
            .unwrap()
    else {
        panic!("the code key changed alone: it must hotswap");
    };
    hotswap::remember(&clients, &bucket, &name, items)
        .await
        .unwrap();
    let report = check().await;
    assert_eq!(report.verdict(), Verdict::ExpectedDrift, "{report:#?}");
    assert_eq!(
        found(&report, "Fn"),
        (
            Status::Modified,
            vec![difference(
                "/Code",
                &sha(&one),
                &sha(&two),
                "NOT_EQUAL",
                true
            )]
        )
    );

    // out of band: memory, an environment variable, the queue's timeout, the rule's state
    let lambda = aws_sdk_lambda::Client::new(&conf);
    let mut variables: std::collections::HashMap<String, String> = [
        ("QUEUE".to_string(), "elsewhere".to_string()),
        ("STAGE".to_string(), "local".to_string()),
    ]
    .into();
    lambda
        .update_function_configuration()
        .function_name(&function)
        .memory_size(512)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(variables.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let url = sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let visibility = |seconds: &str| {
        sqs.set_queue_attributes()
            .queue_url(&url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                seconds,
            )
            .send()
    };
    visibility("90").await.unwrap();
    events(e, "DisableRule", json!({"Name": rule})).await;
    let report = check().await;
    assert_eq!(report.verdict(), Verdict::Drifted, "{report:#?}");
    // what `Ref` of the queue gives, in the template's environment
    let queue_ref = crate::deployed::physical_ids(&clients.cfn, &name)
        .await
        .unwrap()
        .unwrap()["Queue"]
        .clone();
    let queue_url = found(&report, "Queue");
    assert_eq!(
        found(&report, "Fn"),
        (
            Status::Modified,
            vec![
                difference("/Code", &sha(&one), &sha(&two), "NOT_EQUAL", true),
                difference(
                    "/Environment/Variables/QUEUE",
                    &queue_ref,
                    "elsewhere",
                    "NOT_EQUAL",
                    false
                ),
                difference("/MemorySize", "256", "512", "NOT_EQUAL", false),
            ]
        )
    );
    assert_eq!(
        queue_url,
        (
            Status::Modified,
            vec![difference(
                "/VisibilityTimeout",
                "60",
                "90",
                "NOT_EQUAL",
                false
            )]
        )
    );
    assert_eq!(
        found(&report, "Rule"),
        (
            Status::Modified,
            vec![difference(
                "/State",
                "ENABLED",
                "DISABLED",
                "NOT_EQUAL",
                false
            )]
        )
    );
    let lines = report.render();
    assert!(
        lines.contains(&"      /MemorySize: expected 256, actual 512".to_string()),
        "{lines:#?}"
    );

    // put things back, then a full deploy: the stack takes the hotswapped key
    variables.insert("QUEUE".into(), queue_ref);
    lambda
        .update_function_configuration()
        .function_name(&function)
        .memory_size(256)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .send()
        .await
        .unwrap();
    visibility("60").await.unwrap();
    events(e, "EnableRule", json!({"Name": rule})).await;
    clients
        .cfn
        .update_stack()
        .stack_name(&name)
        .template_body(&template)
        .parameters(parameter(&key(&two)))
        .send()
        .await
        .unwrap();
    hotswap::prune_stack(&clients, &bucket, &name)
        .await
        .unwrap();
    assert_eq!(
        hotswap::read_record(&clients.s3, &bucket, &name)
            .await
            .unwrap(),
        None,
        "a deploy that took every hotswapped key deletes the record"
    );
    let report = check().await;
    assert_eq!(report.verdict(), Verdict::InSync, "{report:#?}");
}
