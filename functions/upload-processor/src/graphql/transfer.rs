//! The mentor transfer's operations (spec §2.2 G14–G17), in their own `impl GraphqlClient` block.
//! Their values live in [`crate::transfer::model`]: this module is private to `graphql`, and the
//! worker names them too.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{GraphqlClient, GraphqlError, Operation};
use crate::graphql::Credentials;
use crate::transfer::model::{
    AnswerMediaUpdate, ImportTaskUpdate, ImportedAnswer, StatusOnly, UPDATE_ANSWERS_CHUNK,
};

const IMPORT_TASK_CREATE: Operation = Operation {
    name: "ImportTaskCreate",
    fields: "api.importTaskCreate",
};
const IMPORT_TASK_UPDATE: Operation = Operation {
    name: "ImportTaskUpdate",
    fields: "api.importTaskUpdate",
};
const MENTOR_IMPORT: Operation = Operation {
    name: "MentorImport",
    fields: "api.mentorImport",
};
const UPDATE_ANSWERS: Operation = Operation {
    name: "UpdateAnswers",
    fields: "api.updateAnswers",
};

/// G14: the import task, both phases QUEUED.
const IMPORT_TASK_CREATE_DOC: &str = "mutation ImportTaskCreate($mentor: ID!, $graphQLUpdate: GraphQLUpdateInputType!, $s3VideoMigrate: S3VideoMigrationInputType!) {
  api {
    importTaskCreate(graphQLUpdate: $graphQLUpdate, mentor: $mentor, s3VideoMigrate: $s3VideoMigrate)
  }
}";

/// G15: every variable is declared; only the ones set are sent (the others are null).
const IMPORT_TASK_UPDATE_DOC: &str = "mutation ImportTaskUpdate($mentor: ID!, $graphQLUpdate: GraphQLUpdateInputType, $s3VideoMigrateUpdate: S3VideoMigrationInputType, $migrationErrors: [String]) {
  api {
    importTaskUpdate(mentor: $mentor, graphQLUpdate: $graphQLUpdate, s3VideoMigrateUpdate: $s3VideoMigrateUpdate, migrationErrors: $migrationErrors)
  }
}";

/// G16: the import, answering each answer's media so the worker knows what to copy.
const MENTOR_IMPORT_DOC: &str = "mutation MentorImport($mentor: ID!, $json: MentorImportJsonType!, $replacedMentorDataChanges: ReplacedMentorDataChangesType!) {
  api {
    mentorImport(mentor: $mentor, json: $json, replacedMentorDataChanges: $replacedMentorDataChanges) {
      answers {
        hasUntransferredMedia
        externalVideoIds {
          wistiaId
        }
        question {
          _id
        }
        webMedia {
          url
          type
          tag
          needsTransfer
        }
        mobileMedia {
          url
          type
          tag
          needsTransfer
        }
        vttMedia {
          url
          type
          tag
          needsTransfer
        }
      }
    }
  }
}";

/// G17: the copied media's new keys.
const UPDATE_ANSWERS_DOC: &str =
    "mutation UpdateAnswers($mentorId: ID!, $answers: [UploadAnswersType]) {
  api {
    updateAnswers(mentorId: $mentorId, answers: $answers)
  }
}";

/// The `api { … }` root of these mutations; the scalar fields are Booleans.
#[derive(Deserialize)]
struct Api<T> {
    api: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportTaskUpdated {
    #[serde(default)]
    import_task_update: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MentorImported {
    mentor_import: Option<Imported>,
}

#[derive(Deserialize)]
struct Imported {
    #[serde(default)]
    answers: Vec<ImportedAnswer>,
}

impl GraphqlClient {
    /// G14: the mentor's import task, `graphQLUpdate` and `s3VideoMigrate` both QUEUED.
    pub async fn create_import_task(
        &self,
        credentials: &Credentials,
        mentor: &str,
    ) -> Result<(), GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            mentor: &'a str,
            #[serde(rename = "graphQLUpdate")]
            graphql_update: StatusOnly,
            s3_video_migrate: StatusOnly,
        }
        let _: Api<Value> = self
            .transport
            .execute(
                IMPORT_TASK_CREATE,
                IMPORT_TASK_CREATE_DOC,
                credentials,
                &Vars {
                    mentor,
                    graphql_update: StatusOnly::queued(),
                    s3_video_migrate: StatusOnly::queued(),
                },
            )
            .await?;
        Ok(())
    }

    /// G15: one or both phases' status, and the migration's errors when there are any.
    /// `Ok(false)` when the server answers that it changed nothing (no import task).
    pub async fn update_import_task(
        &self,
        credentials: &Credentials,
        mentor: &str,
        update: &ImportTaskUpdate,
    ) -> Result<bool, GraphqlError> {
        #[derive(Serialize)]
        struct Vars<'a> {
            mentor: &'a str,
            #[serde(flatten)]
            update: &'a ImportTaskUpdate,
        }
        let data: Api<ImportTaskUpdated> = self
            .transport
            .execute(
                IMPORT_TASK_UPDATE,
                IMPORT_TASK_UPDATE_DOC,
                credentials,
                &Vars { mentor, update },
            )
            .await?;
        Ok(data.api.import_task_update.unwrap_or(false))
    }

    /// G16: replaces the mentor's data with the export; the imported answers with their media.
    pub async fn mentor_import(
        &self,
        credentials: &Credentials,
        mentor: &str,
        json: &Value,
        replaced_mentor_data_changes: &Value,
    ) -> Result<Vec<ImportedAnswer>, GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            mentor: &'a str,
            json: &'a Value,
            replaced_mentor_data_changes: &'a Value,
        }
        let data: Api<MentorImported> = self
            .transport
            .execute(
                MENTOR_IMPORT,
                MENTOR_IMPORT_DOC,
                credentials,
                &Vars {
                    mentor,
                    json,
                    replaced_mentor_data_changes,
                },
            )
            .await?;
        let imported = data.api.mentor_import.ok_or_else(|| GraphqlError::Decode {
            operation: MENTOR_IMPORT,
            message: "mentorImport is null".into(),
        })?;
        Ok(imported.answers)
    }

    /// G17, in chunks of [`UPDATE_ANSWERS_CHUNK`]; the number of calls made. A failed chunk
    /// stops the rest: the ones before it are applied and stay so.
    pub async fn update_answers(
        &self,
        credentials: &Credentials,
        mentor: &str,
        answers: &[AnswerMediaUpdate],
    ) -> Result<usize, GraphqlError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Vars<'a> {
            mentor_id: &'a str,
            answers: &'a [AnswerMediaUpdate],
        }
        let mut calls = 0;
        for chunk in answers.chunks(UPDATE_ANSWERS_CHUNK) {
            let _: Api<Value> = self
                .transport
                .execute(
                    UPDATE_ANSWERS,
                    UPDATE_ANSWERS_DOC,
                    credentials,
                    &Vars {
                        mentor_id: mentor,
                        answers: chunk,
                    },
                )
                .await?;
            calls += 1;
        }
        Ok(calls)
    }
}
