//! What the transfer's GraphQL operations carry (spec §2.2 G14–G17). The client's calls are in
//! `graphql/transfer.rs`; the values are here, where the worker and the client both name them.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::graphql::TaskStatus;

/// G17 sends at most this many answers per call, as the original does.
pub const UPDATE_ANSWERS_CHUNK: usize = 100;

/// `GraphQLUpdateInputType` and `S3VideoMigrationInputType`: `{"status"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusOnly {
    pub status: TaskStatus,
}

impl StatusOnly {
    pub fn new(status: TaskStatus) -> StatusOnly {
        StatusOnly { status }
    }

    pub fn queued() -> StatusOnly {
        StatusOnly::new(TaskStatus::Queued)
    }
}

/// G15's variables besides `mentor`: only what is set is sent, as the original does (an unsent
/// phase keeps its status on the server; `migrationErrors` goes only when there are some).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportTaskUpdate {
    #[serde(rename = "graphQLUpdate", skip_serializing_if = "Option::is_none")]
    pub graphql_update: Option<StatusOnly>,
    #[serde(
        rename = "s3VideoMigrateUpdate",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_video_migrate: Option<StatusOnly>,
    #[serde(rename = "migrationErrors", skip_serializing_if = "Vec::is_empty")]
    pub migration_errors: Vec<String>,
}

impl ImportTaskUpdate {
    /// The import phase (`graphQLUpdate`).
    pub fn import(status: TaskStatus) -> ImportTaskUpdate {
        ImportTaskUpdate {
            graphql_update: Some(StatusOnly::new(status)),
            ..ImportTaskUpdate::default()
        }
    }

    /// The media phase (`s3VideoMigrateUpdate`) with its errors.
    pub fn migration(status: TaskStatus, errors: Vec<String>) -> ImportTaskUpdate {
        ImportTaskUpdate {
            s3_video_migrate: Some(StatusOnly::new(status)),
            migration_errors: errors,
            ..ImportTaskUpdate::default()
        }
    }
}

/// One of an answer's three media fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaSlot {
    Web,
    Mobile,
    Vtt,
}

impl MediaSlot {
    pub const ALL: [MediaSlot; 3] = [MediaSlot::Web, MediaSlot::Mobile, MediaSlot::Vtt];

    /// The field's name on an answer, in G16's answer and G17's items.
    pub fn field(self) -> &'static str {
        match self {
            MediaSlot::Web => "webMedia",
            MediaSlot::Mobile => "mobileMedia",
            MediaSlot::Vtt => "vttMedia",
        }
    }
}

/// A media object as G16 answers it. Every field is optional so that one odd answer is
/// recorded as an error of its own instead of failing the decoding of all of them (the
/// original lost such an answer's errors with its worker thread, spec §10.2 #18).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportedMedia {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub needs_transfer: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct QuestionRef {
    #[serde(rename = "_id", default)]
    pub id: Option<String>,
}

/// One answer of G16's `mentorImport.answers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportedAnswer {
    #[serde(default)]
    pub has_untransferred_media: Option<bool>,
    #[serde(default)]
    pub question: Option<QuestionRef>,
    #[serde(default)]
    pub web_media: Option<ImportedMedia>,
    #[serde(default)]
    pub mobile_media: Option<ImportedMedia>,
    #[serde(default)]
    pub vtt_media: Option<ImportedMedia>,
}

impl ImportedAnswer {
    pub fn question_id(&self) -> Option<&str> {
        self.question
            .as_ref()
            .and_then(|q| q.id.as_deref())
            .filter(|id| !id.is_empty())
    }

    pub fn media(&self, slot: MediaSlot) -> Option<&ImportedMedia> {
        match slot {
            MediaSlot::Web => self.web_media.as_ref(),
            MediaSlot::Mobile => self.mobile_media.as_ref(),
            MediaSlot::Vtt => self.vtt_media.as_ref(),
        }
    }
}

/// A copied media object as G17 sends it: `{url, type, tag, needsTransfer: false}`, the url now
/// the key in the static bucket. `type` is echoed as G16 gave it, null included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferredMedia {
    pub url: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tag: String,
    pub needs_transfer: bool,
}

/// One G17 item: `{"questionId": q, "<slot field>": media}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerMediaUpdate {
    pub question_id: String,
    pub slot: MediaSlot,
    pub media: TransferredMedia,
}

impl Serialize for AnswerMediaUpdate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("questionId", &self.question_id)?;
        map.serialize_entry(self.slot.field(), &self.media)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn import_task_update_sends_only_what_is_set() {
        let v = serde_json::to_value(ImportTaskUpdate::import(TaskStatus::InProgress)).unwrap();
        assert_eq!(v, json!({"graphQLUpdate": {"status": "IN_PROGRESS"}}));
        let v =
            serde_json::to_value(ImportTaskUpdate::migration(TaskStatus::Done, vec![])).unwrap();
        assert_eq!(v, json!({"s3VideoMigrateUpdate": {"status": "DONE"}}));
        let v = serde_json::to_value(ImportTaskUpdate::migration(
            TaskStatus::Done,
            vec!["e".into()],
        ))
        .unwrap();
        assert_eq!(
            v,
            json!({"s3VideoMigrateUpdate": {"status": "DONE"}, "migrationErrors": ["e"]})
        );
    }

    #[test]
    fn an_update_item_names_its_slot() {
        let item = AnswerMediaUpdate {
            question_id: "q".into(),
            slot: MediaSlot::Vtt,
            media: TransferredMedia {
                url: "videos/m/q/en.vtt".into(),
                kind: Some("subtitles".into()),
                tag: "en".into(),
                needs_transfer: false,
            },
        };
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"questionId": "q", "vttMedia": {
                "url": "videos/m/q/en.vtt", "type": "subtitles", "tag": "en", "needsTransfer": false}})
        );
    }

    #[test]
    fn an_odd_answer_still_decodes() {
        let a: ImportedAnswer = serde_json::from_value(json!({
            "hasUntransferredMedia": null, "question": null,
            "webMedia": {"url": "https://x/web.mp4"}, "mobileMedia": null
        }))
        .unwrap();
        assert_eq!(a.question_id(), None);
        assert_eq!(
            a.media(MediaSlot::Web).unwrap().url.as_deref(),
            Some("https://x/web.mp4")
        );
        assert!(a.media(MediaSlot::Vtt).is_none());
    }
}
