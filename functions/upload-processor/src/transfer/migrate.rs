//! The media phase (spec §7.2 steps 4–7): which imported media need copying, copying them with
//! bounded concurrency into `STATIC_BUCKET` at `videos/{m}/{q}/{tag}.{ext}`, and the G17 items
//! that point the answers at their copies. Each failure is recorded with its (redacted) URL and
//! reason; none stops the others.

use futures_util::stream::{self, StreamExt};

use super::job::JobError;
use super::media::{redact, FetchError};
use super::model::{AnswerMediaUpdate, ImportedAnswer, MediaSlot, TransferredMedia};
use super::{is_key_segment, Worker};

/// One file to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaItem {
    pub question: String,
    pub slot: MediaSlot,
    pub url: String,
    /// `type` as G16 answered it: `subtitles` makes a `.vtt`, anything else a `.mp4`.
    pub kind: Option<String>,
    pub tag: String,
}

impl MediaItem {
    fn subtitles(&self) -> bool {
        self.kind.as_deref() == Some("subtitles")
    }

    pub fn key(&self, mentor: &str) -> String {
        let ext = if self.subtitles() { "vtt" } else { "mp4" };
        format!("videos/{mentor}/{}/{}.{ext}", self.question, self.tag)
    }

    pub fn content_type(&self) -> &'static str {
        if self.subtitles() {
            "text/vtt"
        } else {
            "video/mp4"
        }
    }
}

/// What the imported answers ask to copy.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub items: Vec<MediaItem>,
    /// Media that need a transfer but cannot have one (no question id, no URL, a tag that
    /// cannot be part of a key).
    pub unusable: Vec<JobError>,
}

impl Plan {
    /// Every media item with `needsTransfer: true`.
    pub fn of(answers: &[ImportedAnswer]) -> Plan {
        let mut plan = Plan::default();
        for answer in answers {
            for slot in MediaSlot::ALL {
                let Some(media) = answer.media(slot) else {
                    continue;
                };
                if media.needs_transfer != Some(true) {
                    continue;
                }
                let url = media.url.clone().unwrap_or_default();
                let unusable = |reason: String| JobError {
                    url: Some(redact(&url)),
                    reason,
                };
                let question = answer.question_id().unwrap_or_default();
                let tag = media.tag.as_deref().unwrap_or_default();
                if !is_key_segment(question) {
                    plan.unusable.push(unusable(format!(
                        "the answer's question._id {question:?} is missing or not a key segment"
                    )));
                } else if url.is_empty() {
                    plan.unusable
                        .push(unusable(format!("{} has no url", slot.field())));
                } else if !is_key_segment(tag) {
                    plan.unusable.push(unusable(format!(
                        "the media tag {tag:?} is missing or not a key segment"
                    )));
                } else {
                    plan.items.push(MediaItem {
                        question: question.to_string(),
                        slot,
                        url: url.clone(),
                        kind: media.kind.clone(),
                        tag: tag.to_string(),
                    });
                }
            }
        }
        plan
    }
}

/// What copying produced.
#[derive(Debug, Default)]
pub struct Copied {
    /// G17 items, in (question, slot) order.
    pub updates: Vec<AnswerMediaUpdate>,
    pub errors: Vec<JobError>,
}

/// Copies every item, at most `TRANSFER_CONCURRENCY` at once.
pub async fn copy_all(worker: &Worker, mentor: &str, items: Vec<MediaItem>) -> Copied {
    let results: Vec<_> = stream::iter(items)
        .map(|item| async move {
            let result = copy_one(worker, mentor, &item).await;
            (item, result)
        })
        .buffer_unordered(worker.settings.concurrency.max(1))
        .collect()
        .await;
    let mut copied = Copied::default();
    for (item, result) in results {
        match result {
            Ok(key) => copied.updates.push(AnswerMediaUpdate {
                question_id: item.question.clone(),
                slot: item.slot,
                media: TransferredMedia {
                    url: key,
                    kind: item.kind.clone(),
                    tag: item.tag.clone(),
                    needs_transfer: false,
                },
            }),
            Err(reason) => {
                let url = redact(&item.url);
                tracing::warn!(url, reason, "media not transferred");
                copied.errors.push(JobError {
                    url: Some(url),
                    reason,
                });
            }
        }
    }
    copied
        .updates
        .sort_by(|a, b| (&a.question_id, a.slot).cmp(&(&b.question_id, b.slot)));
    copied
}

/// The key it was stored at, or why not.
async fn copy_one(worker: &Worker, mentor: &str, item: &MediaItem) -> Result<String, String> {
    let file = worker
        .fetcher
        .fetch(&item.url)
        .await
        .map_err(|e: FetchError| e.to_string())?;
    let key = item.key(mentor);
    crate::steps::s3::put_file(
        &worker.s3,
        &worker.settings.static_bucket,
        &key,
        file.path(),
        item.content_type(),
    )
    .await
    .map_err(|e| format!("storing it failed: {e}"))?;
    tracing::info!(key, bytes = file.len(), "media transferred");
    Ok(key)
}

/// The original's wording of a migration error (what clients of the import task read).
pub fn migration_error(e: &JobError) -> String {
    format!(
        "Failed to upload video {} to s3 {}",
        e.url.as_deref().unwrap_or_default(),
        e.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::model::{ImportedMedia, QuestionRef};

    fn media(url: &str, kind: &str, tag: &str, needs: Option<bool>) -> Option<ImportedMedia> {
        Some(ImportedMedia {
            url: Some(url.into()),
            kind: Some(kind.into()),
            tag: Some(tag.into()),
            needs_transfer: needs,
        })
    }

    #[test]
    fn only_media_that_need_a_transfer_and_can_have_one() {
        let answers = vec![
            ImportedAnswer {
                question: Some(QuestionRef {
                    id: Some("q1".into()),
                }),
                web_media: media("https://h/web.mp4?sig=1", "video", "web", Some(true)),
                mobile_media: media("https://h/mobile.mp4", "video", "mobile", Some(false)),
                vtt_media: media("https://h/en.vtt", "subtitles", "en", Some(true)),
                ..ImportedAnswer::default()
            },
            ImportedAnswer {
                question: None,
                web_media: media("https://h/x.mp4?sig=2", "video", "web", Some(true)),
                ..ImportedAnswer::default()
            },
            ImportedAnswer {
                question: Some(QuestionRef {
                    id: Some("q3".into()),
                }),
                web_media: media("https://h/y.mp4", "video", "../web", Some(true)),
                mobile_media: media("https://h/z.mp4", "video", "mobile", None),
                ..ImportedAnswer::default()
            },
        ];
        let plan = Plan::of(&answers);
        let keys: Vec<String> = plan.items.iter().map(|i| i.key("m")).collect();
        assert_eq!(keys, ["videos/m/q1/web.mp4", "videos/m/q1/en.vtt"]);
        assert_eq!(plan.items[1].content_type(), "text/vtt");
        assert_eq!(plan.unusable.len(), 2);
        assert_eq!(plan.unusable[0].url.as_deref(), Some("https://h/x.mp4"));
        assert!(plan.unusable[1].reason.contains("tag"));
        assert_eq!(
            migration_error(&plan.unusable[0]),
            format!(
                "Failed to upload video https://h/x.mp4 to s3 {}",
                plan.unusable[0].reason
            )
        );
    }
}
