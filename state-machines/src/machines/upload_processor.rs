//! `upload-processor-process`: transcode and transcribe an uploaded video in parallel (the
//! transcription waits for a task token from an external worker), then record the result;
//! any failure is sent to the failures queue.

use serde_json::json;

use crate::asl::*;
use crate::build::{invoke, next};
use crate::{Definition, InvalidDefinition};

pub const TRANSCODE: &str = "TranscodeFunctionArn";
pub const COMPLETE: &str = "CompleteFunctionArn";
pub const TRANSCRIBE_QUEUE: &str = "TranscribeQueueUrl";
pub const FAILURE_QUEUE: &str = "FailureQueueUrl";

pub fn process() -> Result<Definition, InvalidDefinition> {
    let transcribe = Task {
        resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken".into(),
        io: Io {
            parameters: Some(json!({
                "QueueUrl": format!("${{{TRANSCRIBE_QUEUE}}}"),
                "MessageBody": { "task_token.$": "$$.Task.Token", "upload_id.$": "$.upload_id" }
            })),
            ..Io::default()
        },
        transition: Transition::End,
        retry: Vec::new(),
        catch: Vec::new(),
        timeout_seconds: Some(3600),
        heartbeat_seconds: Some(600),
    };
    let branch = |name: &str, task: Task| Graph {
        start_at: name.into(),
        states: vec![(name.into(), State::Task(task))],
    };
    let graph = Graph {
        start_at: "Process".into(),
        states: vec![
            (
                "Process".into(),
                State::Parallel(Parallel {
                    branches: vec![
                        branch("Transcode", invoke(TRANSCODE, Transition::End)),
                        branch("Transcribe", transcribe),
                    ],
                    io: Io {
                        result_path: Some("$.outputs".into()),
                        ..Io::default()
                    },
                    transition: next("Complete"),
                    retry: Vec::new(),
                    catch: vec![Catcher {
                        error_equals: vec!["States.ALL".into()],
                        next: "ReportFailure".into(),
                        result_path: Some("$.error".into()),
                    }],
                }),
            ),
            (
                "Complete".into(),
                State::Task(invoke(COMPLETE, Transition::End)),
            ),
            (
                "ReportFailure".into(),
                State::Task(Task {
                    resource: "arn:aws:states:::sqs:sendMessage".into(),
                    io: Io {
                        parameters: Some(json!({
                            "QueueUrl": format!("${{{FAILURE_QUEUE}}}"),
                            "MessageBody.$": "$"
                        })),
                        ..Io::default()
                    },
                    transition: next("Failed"),
                    retry: Vec::new(),
                    catch: Vec::new(),
                    timeout_seconds: None,
                    heartbeat_seconds: None,
                }),
            ),
            (
                "Failed".into(),
                State::Fail(Fail {
                    error: "UploadProcessingFailed".into(),
                    cause: "transcoding or transcription failed; see the failure queue".into(),
                }),
            ),
        ],
    };
    Definition::new(
        "upload-processor-process",
        "Transcode and transcribe an uploaded video answer",
        graph,
        Some(4 * 3600),
    )
}
