//! One DAP JSON Lines row → one line of PostgreSQL's `COPY ... FROM STDIN` text format.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::schema::{Column, PgType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Upsert,
    Delete,
}

/// What was wrong with a line; the loader adds the object and line number.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RowError {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("key column {0} is missing")]
    MissingKey(String),
    #[error("column {column}: expected {expected}, got {got}")]
    Type {
        column: String,
        expected: &'static str,
        got: String,
    },
    #[error("column {0}: text with a NUL character, which PostgreSQL cannot store")]
    Nul(String),
    #[error("unknown meta.action `{0}` (expected U or D)")]
    Action(String),
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    key: HashMap<Cow<'a, str>, &'a RawValue>,
    #[serde(borrow, default)]
    value: Option<HashMap<Cow<'a, str>, &'a RawValue>>,
    #[serde(borrow, default)]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
}

/// Encodes rows for a fixed column list. With `changes`, each line also carries a sequence
/// number and the action (`U`/`D`), the layout of the sync's temporary table.
pub struct Encoder<'c> {
    columns: &'c [Column],
    changes: bool,
}

impl<'c> Encoder<'c> {
    pub fn snapshot(columns: &'c [Column]) -> Encoder<'c> {
        Encoder {
            columns,
            changes: false,
        }
    }

    pub fn changes(columns: &'c [Column]) -> Encoder<'c> {
        Encoder {
            columns,
            changes: true,
        }
    }

    /// Appends the COPY line for `line` to `out`; on error `out` is left as it was.
    pub fn encode(&self, line: &[u8], seq: u64, out: &mut Vec<u8>) -> Result<Action, RowError> {
        let start = out.len();
        let result = self.encode_inner(line, seq, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_inner(&self, line: &[u8], seq: u64, out: &mut Vec<u8>) -> Result<Action, RowError> {
        let row: Line = serde_json::from_slice(line).map_err(json_error)?;
        let action = match row.meta.as_ref().and_then(|m| m.action.as_deref()) {
            None | Some("U") => Action::Upsert,
            Some("D") => Action::Delete,
            Some(other) => return Err(RowError::Action(other.to_string())),
        };
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            let raw = if column.key {
                Some(
                    *row.key
                        .get(column.name.as_str())
                        .ok_or_else(|| RowError::MissingKey(column.name.clone()))?,
                )
            } else if action == Action::Delete {
                None
            } else {
                row.value
                    .as_ref()
                    .and_then(|v| v.get(column.name.as_str()).copied())
            };
            match raw {
                None => out.extend_from_slice(b"\\N"),
                Some(raw) => write_value(column, raw.get(), out)?,
            }
        }
        if self.changes {
            out.push(b'\t');
            out.extend_from_slice(seq.to_string().as_bytes());
            out.extend_from_slice(match action {
                Action::Upsert => b"\tU",
                Action::Delete => b"\tD",
            });
        }
        out.push(b'\n');
        Ok(action)
    }
}

fn write_value(column: &Column, raw: &str, out: &mut Vec<u8>) -> Result<(), RowError> {
    if raw == "null" {
        out.extend_from_slice(b"\\N");
        return Ok(());
    }
    let wrong = |expected| RowError::Type {
        column: column.name.clone(),
        expected,
        got: shorten(raw),
    };
    match column.ty {
        PgType::Jsonb => escape(raw, out),
        PgType::Bigint | PgType::Integer => {
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(wrong("an integer"));
            }
            out.extend_from_slice(raw.as_bytes());
        }
        PgType::Double | PgType::Real => {
            let first = raw.as_bytes()[0];
            if !(first == b'-' || first.is_ascii_digit()) {
                return Err(wrong("a number"));
            }
            out.extend_from_slice(raw.as_bytes());
        }
        PgType::Boolean => match raw {
            "true" => out.push(b't'),
            "false" => out.push(b'f'),
            _ => return Err(wrong("true or false")),
        },
        PgType::Text | PgType::Timestamptz | PgType::Date => {
            if raw.starts_with('"') {
                let text: Cow<str> = serde_json::from_str(raw).map_err(json_error)?;
                if text.contains('\0') {
                    return Err(RowError::Nul(column.name.clone()));
                }
                escape(&text, out);
            } else if column.ty == PgType::Text && !raw.starts_with(['{', '[']) {
                // a number or boolean where the schema says string: its JSON text is the value
                out.extend_from_slice(raw.as_bytes());
            } else {
                return Err(wrong("a string"));
            }
        }
    }
    Ok(())
}

/// serde's message without its "at line 1": the loader names the line in the object.
fn json_error(e: serde_json::Error) -> RowError {
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text);
    RowError::Json(format!("{message} (at character {})", e.column()))
}

/// COPY text format: backslash, tab, newline and carriage return are escaped.
fn escape(text: &str, out: &mut Vec<u8>) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

fn shorten(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &raw[..i]),
        None => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: PgType, key: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            key,
        }
    }

    fn columns() -> Vec<Column> {
        vec![
            col("id", PgType::Bigint, true),
            col("name", PgType::Text, false),
            col("score", PgType::Double, false),
            col("active", PgType::Boolean, false),
            col("at", PgType::Timestamptz, false),
            col("settings", PgType::Jsonb, false),
        ]
    }

    fn encode(enc: &Encoder, line: &str) -> Result<(Action, String), RowError> {
        let mut out = Vec::new();
        let action = enc.encode(line.as_bytes(), 7, &mut out)?;
        Ok((action, String::from_utf8(out).unwrap()))
    }

    #[test]
    fn snapshot_rows_become_copy_lines() {
        let cols = columns();
        let enc = Encoder::snapshot(&cols);
        let (action, line) = encode(
            &enc,
            r#"{"key":{"id":42},"value":{"name":"Tab\there\\ \"q\" \u00e9\nx","score":-1.5e3,"active":true,"at":"2024-05-01T10:00:00Z","settings":{"a":"b\tc"}}}"#,
        )
        .unwrap();
        assert_eq!(action, Action::Upsert);
        assert_eq!(
            line,
            "42\tTab\\there\\\\ \"q\" é\\nx\t-1.5e3\tt\t2024-05-01T10:00:00Z\t{\"a\":\"b\\\\tc\"}\n"
        );
        // omitted and null values are NULL
        let (_, line) = encode(&enc, r#"{"key":{"id":1},"value":{"name":null}}"#).unwrap();
        assert_eq!(line, "1\t\\N\t\\N\t\\N\t\\N\t\\N\n");
    }

    #[test]
    fn changes_carry_sequence_and_action() {
        let cols = columns();
        let enc = Encoder::changes(&cols);
        let (action, line) = encode(
            &enc,
            r#"{"key":{"id":5},"value":{"name":"x"},"meta":{"action":"U"}}"#,
        )
        .unwrap();
        assert_eq!(action, Action::Upsert);
        assert_eq!(line, "5\tx\t\\N\t\\N\t\\N\t\\N\t7\tU\n");
        let (action, line) = encode(&enc, r#"{"key":{"id":5},"meta":{"action":"D"}}"#).unwrap();
        assert_eq!(action, Action::Delete);
        assert_eq!(line, "5\t\\N\t\\N\t\\N\t\\N\t\\N\t7\tD\n");
    }

    #[test]
    fn bad_rows_say_what_is_wrong_and_write_nothing() {
        let cols = columns();
        let enc = Encoder::snapshot(&cols);
        let mut out = b"kept\n".to_vec();
        let cases = [
            (r#"{"key":{"id":1},"value":"#, "malformed JSON"),
            (r#"{"value":{}}"#, "malformed JSON: missing field `key`"),
            (r#"{"key":{},"value":{}}"#, "key column id is missing"),
            (
                r#"{"key":{"id":"one"}}"#,
                "column id: expected an integer, got \"one\"",
            ),
            (
                r#"{"key":{"id":1},"value":{"active":"yes"}}"#,
                "column active: expected true or false",
            ),
            (
                r#"{"key":{"id":1},"value":{"at":5}}"#,
                "column at: expected a string, got 5",
            ),
            (
                r#"{"key":{"id":1},"value":{"name":"a\u0000b"}}"#,
                "column name: text with a NUL",
            ),
            (
                r#"{"key":{"id":1},"meta":{"action":"X"}}"#,
                "unknown meta.action `X`",
            ),
        ];
        for (line, expected) in cases {
            let err = enc.encode(line.as_bytes(), 0, &mut out).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "{line}: {err} lacks {expected}"
            );
            assert_eq!(out, b"kept\n", "{line} left bytes behind");
        }
    }
}
