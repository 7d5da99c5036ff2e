//! The client of the mentor GraphQL API: the operations of the answer pipeline (spec §2.2), each
//! a typed call over the original's transport (§2.1, [`transport`]).
//!
//! The caller builds the `reqwest::Client` (connect timeout, no total timeout) and chooses the
//! credentials per call: the original sends the user's JWT on every operation.

pub mod documents;
mod media;
mod transfer;
mod transport;
mod types;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use transport::{
    Credentials, GraphqlError, InvalidSecretHeader, Operation, SecretHeader, SERVICE_REQUEST_HEADER,
};
pub use types::{
    Answer, Completion, Media, NewTask, TaskKind, TaskSet, TaskState, TaskStatus, UploadTask,
};

use transport::Transport;

/// Each call's limit unless [`GraphqlClient::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

const MENTOR_CAN_EDIT: Operation = Operation {
    name: "MentorCanEdit",
    fields: "mentorCanEdit",
};
const UPLOAD_TASK: Operation = Operation {
    name: "UploadTask",
    fields: "uploadTask",
};
const QUESTION: Operation = Operation {
    name: "Question",
    fields: "question",
};
const CLEAR_ANSWER_MEDIA: Operation = Operation {
    name: "UpdateUploadAnswerAndTaskStatus",
    fields: "api.uploadAnswer",
};
const CREATE_UPLOAD_TASKS: Operation = Operation {
    name: "UpdateUploadAnswerAndTaskStatus",
    fields: "api.uploadAnswer, api.uploadTaskUpdate",
};
const COMPLETE_TASK: Operation = Operation {
    name: "UpdateUploadAnswerAndTaskStatus",
    fields: "api.uploadAnswer, api.uploadTaskStatusUpdate",
};
const UPDATE_TASK_STATUS: Operation = Operation {
    name: "UpdateUploadTaskStatus",
    fields: "api.uploadTaskStatusUpdate",
};
const MENTOR_THUMBNAIL_UPDATE: Operation = Operation {
    name: "MentorThumbnailUpdate",
    fields: "api.mentorThumbnailUpdate",
};
const MENTOR_VTT_UPDATE: Operation = Operation {
    name: "MentorVttUpdate",
    fields: "api.mentorVttUpdate",
};
const ANSWER: Operation = Operation {
    name: "Answer",
    fields: "answer",
};

#[derive(Clone)]
pub struct GraphqlClient {
    transport: Transport,
}

impl GraphqlClient {
    /// `endpoint` is the whole URL (`GRAPHQL_ENDPOINT`, for example `http://graphql/graphql`).
    pub fn new(http: reqwest::Client, endpoint: impl Into<String>) -> GraphqlClient {
        GraphqlClient {
            transport: Transport {
                http,
                endpoint: endpoint.into(),
                secret_header: None,
                timeout: DEFAULT_TIMEOUT,
            },
        }
    }

    /// Sends the stage's secret header on every call.
    pub fn with_secret_header(mut self, header: SecretHeader) -> GraphqlClient {
        self.transport.secret_header = Some(header);
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> GraphqlClient {
        self.transport.timeout = timeout;
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.transport.endpoint
    }

    /// G1. Unlike the original, GraphQL errors and a null answer are errors, not "may edit".
    pub async fn mentor_can_edit(
        &self,
        credentials: &Credentials,
        mentor: &str,
    ) -> Result<bool, GraphqlError> {
        #[derive(Serialize)]
        struct Vars<'a> {
            mentor: &'a str,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            mentor_can_edit: Option<bool>,
        }
        let data: Data = self
            .transport
            .execute(
                MENTOR_CAN_EDIT,
                documents::MENTOR_CAN_EDIT,
                credentials,
                &Vars { mentor },
            )
            .await?;
        data.mentor_can_edit.ok_or_else(|| GraphqlError::Decode {
            operation: MENTOR_CAN_EDIT,
            message: "mentorCanEdit is null".into(),
        })
    }

    /// G2: the upload task of (mentor, question); `None` when there is none. The same call
    /// answers "is an upload in progress" through [`UploadTask::in_progress`], in place of the
    /// original's G3, which counted any record, even a finished one.
    pub async fn upload_task(
        &self,
        credentials: &Credentials,
        mentor: &str,
        question: &str,
    ) -> Result<Option<UploadTask>, GraphqlError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            upload_task: Option<UploadTask>,
        }
        let data: Data = self
            .transport
            .execute(
                UPLOAD_TASK,
                documents::UPLOAD_TASK,
                credentials,
                &MentorQuestion::new(mentor, question),
            )
            .await?;
        Ok(data.upload_task)
    }

    /// G4: the question's name; `None` when the question does not exist.
    pub async fn question_name(
        &self,
        credentials: &Credentials,
        question: &str,
    ) -> Result<Option<String>, GraphqlError> {
        #[derive(Serialize)]
        struct Vars<'a> {
            id: &'a str,
        }
        #[derive(Deserialize)]
        struct Data {
            question: Option<Named>,
        }
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        let data: Data = self
            .transport
            .execute(
                QUESTION,
                documents::QUESTION,
                credentials,
                &Vars { id: question },
            )
            .await?;
        Ok(data.question.map(|q| q.name))
    }

    /// G5: empty the answer's web, mobile and subtitle URLs before a new upload replaces them.
    pub async fn clear_answer_media(
        &self,
        credentials: &Credentials,
        mentor: &str,
        question: &str,
    ) -> Result<(), GraphqlError> {
        let (vtt, web, mobile) = (
            Media::subtitles("", None),
            Media::video("web", ""),
            Media::video("mobile", ""),
        );
        let answer = AnswerInput {
            vtt_media: Some(&vtt),
            web_media: Some(&web),
            mobile_media: Some(&mobile),
            ..AnswerInput::default()
        };
        let _: Api = self
            .transport
            .execute(
                CLEAR_ANSWER_MEDIA,
                documents::CLEAR_ANSWER_MEDIA,
                credentials,
                &WithAnswer {
                    ids: MentorQuestion::new(mentor, question),
                    answer,
                },
            )
            .await?;
        Ok(())
    }

    /// G6: record a new upload's tasks (replacing any earlier record of the answer), with the
    /// client's `externalVideoIds` when it sent some.
    pub async fn create_upload_tasks(
        &self,
        credentials: &Credentials,
        mentor: &str,
        question: &str,
        tasks: &TaskSet,
        external_video_ids: Option<&Value>,
    ) -> Result<(), GraphqlError> {
        #[derive(Serialize)]
        struct Vars<'a> {
            #[serde(flatten)]
            with: WithAnswer<'a>,
            status: &'a TaskSet,
        }
        let answer = AnswerInput {
            external_video_ids,
            ..AnswerInput::default()
        };
        let _: Api = self
            .transport
            .execute(
                CREATE_UPLOAD_TASKS,
                documents::CREATE_UPLOAD_TASKS,
                credentials,
                &Vars {
                    with: WithAnswer {
                        ids: MentorQuestion::new(mentor, question),
                        answer,
                    },
                    status: tasks,
                },
            )
            .await?;
        Ok(())
    }

    /// G7: a finished task's result on the answer and its task DONE. `Ok(false)` when the
    /// upload task no longer exists (the server answers `false`, not an error).
    pub async fn complete_task(
        &self,
        credentials: &Credentials,
        mentor: &str,
        question: &str,
        completion: &Completion,
    ) -> Result<bool, GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            #[serde(flatten)]
            with: WithAnswer<'a>,
            upload_task_status_input: StatusInput<'a>,
        }
        let done = Some(TaskPatch {
            status: TaskStatus::Done,
            payload: None,
        });
        let (answer, input) = match completion {
            Completion::Web(media) => (
                AnswerInput {
                    web_media: Some(media),
                    ..AnswerInput::default()
                },
                StatusInput {
                    transcode_web_task: done,
                    web_media: Some(media),
                    ..StatusInput::default()
                },
            ),
            Completion::Mobile(media) => (
                AnswerInput {
                    mobile_media: Some(media),
                    ..AnswerInput::default()
                },
                StatusInput {
                    transcode_mobile_task: done,
                    mobile_media: Some(media),
                    ..StatusInput::default()
                },
            ),
            Completion::Transcript { transcript, vtt } => (
                AnswerInput {
                    transcript: Some(transcript),
                    has_edited_transcript: Some(false),
                    vtt_media: vtt.as_ref(),
                    ..AnswerInput::default()
                },
                StatusInput {
                    transcript: Some(transcript),
                    transcribe_task: done,
                    vtt_media: vtt.as_ref(),
                    ..StatusInput::default()
                },
            ),
        };
        let data: Api = self
            .transport
            .execute(
                COMPLETE_TASK,
                documents::COMPLETE_TASK,
                credentials,
                &Vars {
                    with: WithAnswer {
                        ids: MentorQuestion::new(mentor, question),
                        answer,
                    },
                    upload_task_status_input: input,
                },
            )
            .await?;
        Ok(data.api.upload_task_status_update.unwrap_or(false))
    }

    /// G8: one task's status, with the transcribe task's Step Functions token as `payload` when
    /// given. `Ok(false)` when the upload task no longer exists. Marking several tasks takes one
    /// call each: the server refuses more than one task per call.
    pub async fn update_task_status(
        &self,
        credentials: &Credentials,
        mentor: &str,
        question: &str,
        task: TaskKind,
        status: TaskStatus,
        payload: Option<&support::Secret>,
    ) -> Result<bool, GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            #[serde(flatten)]
            ids: MentorQuestion<'a>,
            upload_task_status_input: StatusInput<'a>,
        }
        let patch = Some(TaskPatch {
            status,
            payload: payload.map(support::Secret::expose),
        });
        let mut input = StatusInput::default();
        match task {
            TaskKind::TranscodeWeb => input.transcode_web_task = patch,
            TaskKind::TranscodeMobile => input.transcode_mobile_task = patch,
            TaskKind::Transcribe => input.transcribe_task = patch,
            TaskKind::TrimUpload => input.trim_upload_task = patch,
        }
        let data: Api = self
            .transport
            .execute(
                UPDATE_TASK_STATUS,
                documents::UPDATE_TASK_STATUS,
                credentials,
                &Vars {
                    ids: MentorQuestion::new(mentor, question),
                    upload_task_status_input: input,
                },
            )
            .await?;
        Ok(data.api.upload_task_status_update.unwrap_or(false))
    }

    /// G9: the mentor's thumbnail, a relative key in the static bucket.
    pub async fn update_mentor_thumbnail(
        &self,
        credentials: &Credentials,
        mentor: &str,
        thumbnail_key: &str,
    ) -> Result<(), GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            mentor_id: &'a str,
            thumbnail: &'a str,
        }
        let _: Api = self
            .transport
            .execute(
                MENTOR_THUMBNAIL_UPDATE,
                documents::MENTOR_THUMBNAIL_UPDATE,
                credentials,
                &Vars {
                    mentor_id: mentor,
                    thumbnail: thumbnail_key,
                },
            )
            .await?;
        Ok(())
    }

    /// G11: an answer's subtitles (`vtt_url` is the relative key).
    pub async fn update_mentor_vtt(
        &self,
        credentials: &Credentials,
        mentor: &str,
        question: &str,
        vtt_url: &str,
        vtt_text: &str,
    ) -> Result<(), GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            #[serde(flatten)]
            ids: MentorQuestion<'a>,
            vtt_url: &'a str,
            vtt_text: &'a str,
        }
        let _: Api = self
            .transport
            .execute(
                MENTOR_VTT_UPDATE,
                documents::MENTOR_VTT_UPDATE,
                credentials,
                &Vars {
                    ids: MentorQuestion::new(mentor, question),
                    vtt_url,
                    vtt_text,
                },
            )
            .await?;
        Ok(())
    }

    /// G18: the answer's transcript and video media; `None` when there is no answer.
    pub async fn answer(
        &self,
        credentials: &Credentials,
        mentor: &str,
        question: &str,
    ) -> Result<Option<Answer>, GraphqlError> {
        #[derive(Serialize)]
        struct Vars<'a> {
            mentor: &'a str,
            question: &'a str,
        }
        #[derive(Deserialize)]
        struct Data {
            answer: Option<Answer>,
        }
        let data: Data = self
            .transport
            .execute(
                ANSWER,
                documents::ANSWER,
                credentials,
                &Vars { mentor, question },
            )
            .await?;
        Ok(data.answer)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MentorQuestion<'a> {
    mentor_id: &'a str,
    question_id: &'a str,
}

impl<'a> MentorQuestion<'a> {
    fn new(mentor: &'a str, question: &'a str) -> MentorQuestion<'a> {
        MentorQuestion {
            mentor_id: mentor,
            question_id: question,
        }
    }
}

#[derive(Serialize)]
struct WithAnswer<'a> {
    #[serde(flatten)]
    ids: MentorQuestion<'a>,
    answer: AnswerInput<'a>,
}

/// `UploadAnswerType`: only the fields set are sent (the server keeps the others).
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct AnswerInput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    transcript: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    has_edited_transcript: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_video_ids: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vtt_media: Option<&'a Media>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_media: Option<&'a Media>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_media: Option<&'a Media>,
}

/// `UploadTaskStatusUpdateInputType`: at most one task, plus what the task produced.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct StatusInput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    transcript: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transcode_web_task: Option<TaskPatch<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transcode_mobile_task: Option<TaskPatch<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transcribe_task: Option<TaskPatch<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trim_upload_task: Option<TaskPatch<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_media: Option<&'a Media>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_media: Option<&'a Media>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vtt_media: Option<&'a Media>,
}

/// A partial task: the server keeps the fields left out.
#[derive(Serialize)]
struct TaskPatch<'a> {
    status: TaskStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a str>,
}

/// The `api { … }` mutation root's answer; the fields are Booleans.
#[derive(Deserialize)]
struct Api {
    api: ApiFields,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiFields {
    #[serde(default)]
    upload_task_status_update: Option<bool>,
}
