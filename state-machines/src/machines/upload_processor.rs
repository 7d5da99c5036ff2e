//! `upload-processor-process`: an uploaded answer is moved and probed, trimmed when asked, then
//! transcoded for web and mobile and transcribed in parallel (the transcription waits for its
//! task token, returned when Transcribe's output lands). Any failure marks every task FAILED,
//! sends the request to the DLQ and ends the execution failed — the original ended "succeeded"
//! (spec §4), so no alarm on failed executions ever saw a failed upload.

use serde_json::{json, Value};

use crate::asl::*;
use crate::build::{catch_all, lambda_service_retry, next};
use crate::callback::Callback;
use crate::{Definition, InvalidDefinition};

/// The steps function (`upload-processor-steps`): prepare, trim, transcode, mark-failed.
pub const STEPS: &str = "StepsFunctionArn";
/// The transcribe function (`upload-processor-transcribe`), invoked with a task token.
pub const TRANSCRIBE: &str = "TranscribeFunctionArn";
/// The DLQ the failed request is sent to (an alarm watches it).
pub const DLQ: &str = "DeadLetterQueueUrl";

/// The error types of the steps function's failures that a retry cannot change
/// (`StepError::kind()` in functions/upload-processor).
pub const UPLOAD_REJECTED: &str = "UploadRejected";
pub const INVALID_EVENT: &str = "InvalidEvent";

/// The longest a transcription may take before the execution fails (spec: 900 s; Transcribe
/// takes about the clip's length, and answers are minutes long at most).
pub const TRANSCRIBE_TIMEOUT_SECONDS: u32 = 1800;
/// The transcribe function's schedule sends a heartbeat for every running job once a minute; five
/// missed in a row mean nothing is watching the job any more.
pub const TRANSCRIBE_HEARTBEAT_SECONDS: u32 = 300;

/// A Lambda task of the steps function for `step`, with the request and the probed media.
fn step(step: &str, extra: Value, result_path: Option<&str>, transition: Transition) -> Task {
    // A step's result is kept at `$.media` as `{"value": <Payload>}` (ResultSelector drops the
    // invoke's metadata); the next steps read it from there.
    let mut payload = json!({ "step": step, "request.$": "$.request", "media.$": "$.media.value" });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    Task {
        resource: "arn:aws:states:::lambda:invoke".into(),
        io: Io {
            parameters: Some(json!({
                "FunctionName": format!("${{{STEPS}}}"),
                "Payload": payload,
            })),
            result_selector: result_path.map(|_| json!({ "value.$": "$.Payload" })),
            result_path: Some(match result_path {
                Some(p) => p.into(),
                // the step's answer is not needed; keep the state's input as its output
                None => DISCARD_RESULT,
            }),
            ..Io::default()
        },
        transition,
        retry: vec![
            lambda_service_retry(),
            // a clip that is not a video, or too short, fails the same way every time
            Retrier::backoff(&[UPLOAD_REJECTED, INVALID_EVENT], 1, 0),
            // ffmpeg or S3 hiccups
            Retrier::backoff(&["States.TaskFailed"], 10, 2),
        ],
        catch: Vec::new(),
        timeout_seconds: None,
        heartbeat_seconds: None,
    }
}

fn branch(name: &str, task: Task) -> Graph {
    Graph {
        start_at: name.into(),
        states: vec![(name.into(), State::Task(task))],
    }
}

fn with_catch(mut task: Task) -> Task {
    task.catch = vec![catch_all("ErrorHandler", "$.exception")];
    task
}

pub fn process() -> Result<Definition, InvalidDefinition> {
    let prepare = with_catch(step(
        "prepare",
        json!({}),
        Some("$.media"),
        next("IsTrimRequired"),
    ));
    let mut prepare_params = prepare.io.parameters.clone().expect("parameters");
    // Prepare has no media yet.
    prepare_params["Payload"]
        .as_object_mut()
        .expect("payload")
        .remove("media.$");
    let prepare = Task {
        io: Io {
            parameters: Some(prepare_params),
            ..prepare.io
        },
        ..prepare
    };
    let trim = with_catch(step(
        "trim",
        json!({}),
        Some("$.media"),
        next("TriggerProcessing"),
    ));
    let transcode = |rendition: &str| {
        step(
            "transcode",
            json!({ "rendition": rendition }),
            None,
            Transition::End,
        )
    };
    let mut transcribe = Callback::lambda(TRANSCRIBE, TRANSCRIBE_TIMEOUT_SECONDS)
        .with("step", "transcribe-start")
        .with("request.$", "$.request")
        .with("media.$", "$.media.value")
        .heartbeat(TRANSCRIBE_HEARTBEAT_SECONDS)
        .task(Transition::End);
    transcribe.io.result_path = Some(DISCARD_RESULT);
    // States.TaskFailed does not match States.Timeout or States.HeartbeatTimeout: a job that
    // stopped is not started again, the execution fails.
    transcribe
        .retry
        .push(Retrier::backoff(&["States.TaskFailed"], 30, 2));

    let mark_failed = Task {
        resource: "arn:aws:states:::lambda:invoke".into(),
        io: Io {
            parameters: Some(json!({
                "FunctionName": format!("${{{STEPS}}}"),
                "Payload": {
                    "step": "mark-failed",
                    "request.$": "$.request",
                    "error.$": "$.exception.Error",
                    "cause.$": "$.exception.Cause"
                }
            })),
            result_path: Some(DISCARD_RESULT),
            ..Io::default()
        },
        transition: Transition::End,
        retry: vec![
            lambda_service_retry(),
            Retrier::backoff(&["States.TaskFailed"], 5, 3),
        ],
        catch: Vec::new(),
        timeout_seconds: None,
        heartbeat_seconds: None,
    };
    let send_to_dlq = Task {
        resource: "arn:aws:states:::sqs:sendMessage".into(),
        io: Io {
            parameters: Some(json!({
                "QueueUrl": format!("${{{DLQ}}}"),
                "MessageBody": {
                    "request.$": "$.request",
                    "error.$": "$.exception.Error",
                    "cause.$": "$.exception.Cause",
                    "executionId.$": "$$.Execution.Id"
                }
            })),
            result_path: Some(DISCARD_RESULT),
            ..Io::default()
        },
        transition: Transition::End,
        retry: vec![Retrier::backoff(&["States.ALL"], 5, 3)],
        catch: Vec::new(),
        timeout_seconds: None,
        heartbeat_seconds: None,
    };

    let graph = Graph {
        start_at: "Prepare".into(),
        states: vec![
            ("Prepare".into(), State::Task(prepare)),
            (
                "IsTrimRequired".into(),
                State::Choice(Choice {
                    choices: vec![ChoiceRule {
                        condition: Condition::Compare {
                            variable: "$.request.trim".into(),
                            operator: "IsPresent".into(),
                            value: json!(true),
                        },
                        next: "TrimUpload".into(),
                    }],
                    default: Some("TriggerProcessing".into()),
                    input_path: None,
                    output_path: None,
                }),
            ),
            ("TrimUpload".into(), State::Task(trim)),
            (
                "TriggerProcessing".into(),
                State::Parallel(Parallel {
                    branches: vec![
                        branch("TranscodeWeb", transcode("web")),
                        branch("TranscodeMobile", transcode("mobile")),
                        branch("Transcribe", transcribe),
                    ],
                    io: Io {
                        result_path: Some(DISCARD_RESULT),
                        ..Io::default()
                    },
                    transition: next("Done"),
                    retry: Vec::new(),
                    catch: vec![catch_all("ErrorHandler", "$.exception")],
                }),
            ),
            ("Done".into(), State::Succeed {}),
            (
                "ErrorHandler".into(),
                State::Parallel(Parallel {
                    branches: vec![
                        branch("MarkFailed", mark_failed),
                        branch("SendToDlq", send_to_dlq),
                    ],
                    io: Io {
                        result_path: Some(DISCARD_RESULT),
                        ..Io::default()
                    },
                    transition: next("Failed"),
                    retry: Vec::new(),
                    catch: Vec::new(),
                }),
            ),
            (
                "Failed".into(),
                State::Fail(Fail {
                    error: "UploadProcessingFailed".into(),
                    cause:
                        "a step failed; every task is marked FAILED and the request is in the DLQ"
                            .into(),
                }),
            ),
        ],
    };
    Definition::new(
        "upload-processor-process",
        "Trim, transcode and transcribe an uploaded answer",
        graph,
        Some(2 * 3600),
    )
}
