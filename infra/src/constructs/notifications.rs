//! S3 event notifications: the event types, the key filter, and the overlap rule S3 applies when
//! it accepts a bucket's NotificationConfiguration.
//!
//! S3 refuses the whole configuration ("Configurations overlap. Configurations on the same bucket
//! cannot share a common event type.") when two configurations could fire for one object: their
//! event types intersect and some key matches both filters. CloudFormation reports that only at
//! deploy, after the bucket's other changes have run; [`overlap`] finds it at synth.

use std::fmt;

/// An S3 event type, as `s3:<Family>:<Kind>`. The `*All` variants are the family wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum S3Event {
    /// `s3:ObjectCreated:*`: every way an object is written.
    ObjectCreatedAll,
    ObjectCreatedPut,
    ObjectCreatedPost,
    ObjectCreatedCopy,
    ObjectCreatedCompleteMultipartUpload,
    /// `s3:ObjectRemoved:*`.
    ObjectRemovedAll,
    ObjectRemovedDelete,
    ObjectRemovedDeleteMarkerCreated,
    /// `s3:ObjectRestore:*`.
    ObjectRestoreAll,
    ObjectRestorePost,
    ObjectRestoreCompleted,
    ObjectRestoreDelete,
    /// `s3:ObjectTagging:*`.
    ObjectTaggingAll,
    ObjectTaggingPut,
    ObjectTaggingDelete,
}

impl S3Event {
    /// The event name S3 and CloudFormation use.
    pub fn as_str(self) -> &'static str {
        use S3Event::*;
        match self {
            ObjectCreatedAll => "s3:ObjectCreated:*",
            ObjectCreatedPut => "s3:ObjectCreated:Put",
            ObjectCreatedPost => "s3:ObjectCreated:Post",
            ObjectCreatedCopy => "s3:ObjectCreated:Copy",
            ObjectCreatedCompleteMultipartUpload => "s3:ObjectCreated:CompleteMultipartUpload",
            ObjectRemovedAll => "s3:ObjectRemoved:*",
            ObjectRemovedDelete => "s3:ObjectRemoved:Delete",
            ObjectRemovedDeleteMarkerCreated => "s3:ObjectRemoved:DeleteMarkerCreated",
            ObjectRestoreAll => "s3:ObjectRestore:*",
            ObjectRestorePost => "s3:ObjectRestore:Post",
            ObjectRestoreCompleted => "s3:ObjectRestore:Completed",
            ObjectRestoreDelete => "s3:ObjectRestore:Delete",
            ObjectTaggingAll => "s3:ObjectTagging:*",
            ObjectTaggingPut => "s3:ObjectTagging:Put",
            ObjectTaggingDelete => "s3:ObjectTagging:Delete",
        }
    }

    fn family(self) -> &'static str {
        self.as_str().rsplit_once(':').map_or("", |(f, _)| f)
    }

    fn is_wildcard(self) -> bool {
        self.as_str().ends_with(":*")
    }

    /// Whether one object event can match both: the same type, or a family wildcard and a member.
    pub fn intersects(self, other: S3Event) -> bool {
        self == other
            || (self.family() == other.family() && (self.is_wildcard() || other.is_wildcard()))
    }
}

impl fmt::Display for S3Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which object keys a notification fires for. Both empty (the default) means every key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    /// Keys starting with this (e.g. `uploads/`). Default: empty, any key. At most 1,024 bytes.
    pub prefix: String,
    /// Keys ending with this (e.g. `.vtt`). Default: empty, any key. At most 1,024 bytes.
    pub suffix: String,
}

impl NotificationFilter {
    /// Keys ending with `suffix`.
    pub fn suffix(suffix: &str) -> NotificationFilter {
        NotificationFilter {
            suffix: suffix.into(),
            ..NotificationFilter::default()
        }
    }

    /// Keys starting with `prefix`.
    pub fn prefix(prefix: &str) -> NotificationFilter {
        NotificationFilter {
            prefix: prefix.into(),
            ..NotificationFilter::default()
        }
    }

    /// Whether some key matches both filters. A key can match two prefixes only when one extends
    /// the other, and two suffixes only when one ends the other; prefix and suffix are then
    /// independent (the key can be long enough to carry both), so both must overlap.
    pub fn overlaps(&self, other: &NotificationFilter) -> bool {
        let prefixes =
            self.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&self.prefix);
        let suffixes = self.suffix.ends_with(&other.suffix) || other.suffix.ends_with(&self.suffix);
        prefixes && suffixes
    }
}

impl fmt::Display for NotificationFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.prefix.is_empty(), self.suffix.is_empty()) {
            (true, true) => f.write_str("every key"),
            (false, true) => write!(f, "prefix `{}`", self.prefix),
            (true, false) => write!(f, "suffix `{}`", self.suffix),
            (false, false) => write!(f, "prefix `{}` and suffix `{}`", self.prefix, self.suffix),
        }
    }
}

/// The first event type the two notifications share, when their filters also overlap: S3 would
/// refuse the bucket's configuration.
pub fn overlap(
    a: (&[S3Event], &NotificationFilter),
    b: (&[S3Event], &NotificationFilter),
) -> Option<(S3Event, S3Event)> {
    if !a.1.overlaps(b.1) {
        return None;
    }
    a.0.iter()
        .flat_map(|x| b.0.iter().map(move |y| (*x, *y)))
        .find(|(x, y)| x.intersects(*y))
}

#[cfg(test)]
mod tests {
    use super::S3Event::*;
    use super::*;

    fn f(prefix: &str, suffix: &str) -> NotificationFilter {
        NotificationFilter {
            prefix: prefix.into(),
            suffix: suffix.into(),
        }
    }

    #[test]
    fn event_types_intersect_within_a_family_through_its_wildcard() {
        assert!(ObjectCreatedAll.intersects(ObjectCreatedPut));
        assert!(ObjectCreatedPut.intersects(ObjectCreatedAll));
        assert!(ObjectCreatedPut.intersects(ObjectCreatedPut));
        assert!(!ObjectCreatedPut.intersects(ObjectCreatedPost));
        assert!(!ObjectCreatedAll.intersects(ObjectRemovedAll));
        assert!(!ObjectRemovedAll.intersects(ObjectRestoreDelete));
    }

    #[test]
    fn filters_overlap_when_some_key_matches_both() {
        // The original's collect trigger: `.json` and `.vtt` in one bucket; no key ends in both.
        assert!(!f("", ".json").overlaps(&f("", ".vtt")));
        assert!(f("", ".json").overlaps(&f("", "transcribe.json")));
        assert!(f("", "").overlaps(&f("a/", ".vtt")));
        assert!(f("a/", "").overlaps(&f("a/b/", "")));
        assert!(!f("a/", "").overlaps(&f("b/", "")));
        // A prefix on one and a suffix on the other: `images/x.jpg` matches both.
        assert!(f("images/", "").overlaps(&f("", ".jpg")));
        assert!(!f("a/", ".json").overlaps(&f("b/", ".json")));
    }

    #[test]
    fn overlap_needs_both_a_shared_event_and_overlapping_filters() {
        let created = [ObjectCreatedAll];
        let put = [ObjectCreatedPut];
        let removed = [ObjectRemovedAll];
        assert_eq!(
            overlap((&created, &f("", ".json")), (&put, &f("x/", ".json"))),
            Some((ObjectCreatedAll, ObjectCreatedPut))
        );
        assert_eq!(
            overlap((&created, &f("", ".json")), (&removed, &f("", ".json"))),
            None
        );
        assert_eq!(
            overlap((&created, &f("", ".json")), (&created, &f("", ".vtt"))),
            None
        );
    }
}
