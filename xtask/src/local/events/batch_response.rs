//! Reading a function's partial batch response (`ReportBatchItemFailures`) by Lambda's rules:
//! an empty or null answer is a full success, anything Lambda cannot read fails the whole batch.

use std::collections::BTreeSet;

use serde_json::Value;

#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    DeleteAll,
    /// Keep these message ids (they come back after the visibility timeout); delete the rest.
    KeepFailed(BTreeSet<String>),
    /// Keep the whole batch, for this reason.
    FailBatch(String),
}

pub(super) fn judge(body: &[u8], ids: &[&str]) -> Verdict {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Verdict::DeleteAll;
    }
    let response: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Verdict::FailBatch(format!("the response is not JSON ({e})")),
    };
    let failures = match &response {
        Value::Null => return Verdict::DeleteAll,
        Value::Object(o) => match o.get("batchItemFailures") {
            None | Some(Value::Null) => return Verdict::DeleteAll,
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Verdict::FailBatch(format!("batchItemFailures is not a list: {other}"))
            }
        },
        other => {
            return Verdict::FailBatch(format!(
                "the response is not a batch response object: {other}"
            ))
        }
    };
    let mut failed = BTreeSet::new();
    for item in failures {
        match item.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if ids.contains(&id) => {
                failed.insert(id.to_string());
            }
            Some("") | None => {
                return Verdict::FailBatch(format!(
                    "a batch item failure without an itemIdentifier: {item}"
                ))
            }
            Some(id) => {
                return Verdict::FailBatch(format!(
                    "itemIdentifier {id} is not a message of the batch"
                ))
            }
        }
    }
    if failed.is_empty() {
        Verdict::DeleteAll
    } else {
        Verdict::KeepFailed(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &["a", "b", "c"];

    fn fails_batch(body: &str) -> bool {
        matches!(judge(body.as_bytes(), IDS), Verdict::FailBatch(_))
    }

    #[test]
    fn empty_null_and_empty_lists_are_full_success() {
        for body in [
            "",
            "  \n",
            "null",
            "{}",
            r#"{"batchItemFailures":null}"#,
            r#"{"batchItemFailures":[]}"#,
        ] {
            assert_eq!(judge(body.as_bytes(), IDS), Verdict::DeleteAll, "{body:?}");
        }
    }

    #[test]
    fn listed_messages_are_kept_and_the_rest_deleted() {
        let v = judge(
            br#"{"batchItemFailures":[{"itemIdentifier":"b"},{"itemIdentifier":"c"}]}"#,
            IDS,
        );
        assert_eq!(
            v,
            Verdict::KeepFailed(["b".to_string(), "c".to_string()].into())
        );
    }

    #[test]
    fn what_lambda_cannot_read_fails_the_whole_batch() {
        assert!(fails_batch("not json"));
        assert!(fails_batch(
            r#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#
        ));
        assert!(fails_batch(
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#
        ));
        assert!(fails_batch(
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#
        ));
        assert!(fails_batch(r#"{"batchItemFailures":[{"id":"a"}]}"#));
        assert!(fails_batch(r#"{"batchItemFailures":"a"}"#));
        assert!(fails_batch(r#""done""#));
    }
}
