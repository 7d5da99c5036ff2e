//! The transfer request (spec §7.1): its JSON Schema (`schema.json`, a document rather than code
//! so it can be read and diffed as the contract it is, checked by [`super::schema`]) and what the
//! worker reads of it.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema::Schema;

/// The schema of `POST /transfer/mentor`'s body.
pub const SCHEMA: &str = include_str!("schema.json");
/// At most this many errors are listed; the count says how many there were.
pub const MAX_REPORTED_ERRORS: usize = 20;
/// A message longer than this is cut: a type error on an object would quote all of it.
const MESSAGE_MAX_CHARS: usize = 200;

/// One schema violation: where in the request (a JSON pointer, `""` for the whole body) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaError {
    pub path: String,
    pub message: String,
}

/// Why a request does not match the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The first [`MAX_REPORTED_ERRORS`].
    pub errors: Vec<SchemaError>,
    /// How many there were in all.
    pub total: usize,
}

impl Invalid {
    /// One line naming the first error's path, for the response's `message` and the logs.
    pub fn summary(&self) -> String {
        let first = &self.errors[0];
        let at = if first.path.is_empty() {
            "the top level".to_string()
        } else {
            first.path.clone()
        };
        let more = match self.total {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        format!("invalid payload at {at}: {}{more}", first.message)
    }
}

fn schema() -> &'static Schema {
    static SCHEMA_CHECK: OnceLock<Schema> = OnceLock::new();
    SCHEMA_CHECK.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("schema.json is JSON");
        Schema::new(schema).unwrap_or_else(|e| panic!("schema.json: {e}"))
    })
}

/// Every violation of the schema, the first [`MAX_REPORTED_ERRORS`] of them listed.
pub fn validate(request: &Value) -> Result<(), Invalid> {
    let all = schema().errors(request);
    if all.is_empty() {
        return Ok(());
    }
    let total = all.len();
    let errors = all
        .into_iter()
        .take(MAX_REPORTED_ERRORS)
        .map(|e| SchemaError {
            message: cut(&e.message),
            ..e
        })
        .collect();
    Err(Invalid { errors, total })
}

fn cut(message: &str) -> String {
    match message.char_indices().nth(MESSAGE_MAX_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_string(),
    }
}

/// What the worker reads of a request that passed [`validate`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TransferRequest {
    pub mentor: String,
    #[serde(rename = "mentorExportJson")]
    pub export: Value,
    #[serde(rename = "replacedMentorDataChanges")]
    pub replaced_mentor_data_changes: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "mentor": "m1",
            "mentorExportJson": {"id": "m0", "mentorInfo": {}, "subjects": [], "questions": [],
                "answers": [], "userQuestions": []},
            "replacedMentorDataChanges": {"questionChanges": [], "answerChanges": []}
        })
    }

    #[test]
    fn the_schema_compiles_and_accepts_a_minimal_request() {
        assert_eq!(validate(&minimal()), Ok(()));
    }

    #[test]
    fn errors_name_their_path() {
        let mut r = minimal();
        r["mentorExportJson"]["answers"] = json!([{"transcript": 5, "webMedia": "x"}]);
        let e = validate(&r).unwrap_err();
        let paths: Vec<&str> = e.errors.iter().map(|e| e.path.as_str()).collect();
        assert!(
            paths.contains(&"/mentorExportJson/answers/0/transcript"),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"/mentorExportJson/answers/0/webMedia"),
            "{paths:?}"
        );
        assert_eq!(e.total, 2);
        assert!(e
            .summary()
            .starts_with("invalid payload at /mentorExportJson/answers/0/"));
    }

    #[test]
    fn only_the_top_level_forbids_extra_keys() {
        let mut r = minimal();
        r["mentorExportJson"]["extra"] = json!(1);
        assert_eq!(validate(&r), Ok(()));
        r["extra"] = json!(1);
        let e = validate(&r).unwrap_err();
        assert_eq!(e.errors[0].path, "");
        assert!(e.summary().contains("the top level"), "{}", e.summary());
    }

    #[test]
    fn the_list_is_capped_and_the_total_kept() {
        let mut r = minimal();
        r["mentorExportJson"]["questions"] =
            json!((0..50).map(|_| json!({"_id": 1})).collect::<Vec<_>>());
        let e = validate(&r).unwrap_err();
        assert_eq!(e.total, 50);
        assert_eq!(e.errors.len(), MAX_REPORTED_ERRORS);
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(cut(&long).chars().count(), MESSAGE_MAX_CHARS + 1);
    }
}
