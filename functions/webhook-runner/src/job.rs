//! An Amperity webhook-destination job, validated field by field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use support::Secret;

/// Where and how batches are sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub destination_url: String,
    pub batch_size: usize,
    pub requests_per_minute: u32,
    /// Wrap each batch as `{"<data_key>": [...]}`; a bare array when absent.
    pub data_key: Option<String>,
    /// Source field → destination field; only mapped fields are sent. All fields when absent.
    pub field_mapping: Option<BTreeMap<String, String>>,
    pub auth_header_name: String,
    #[serde(skip)]
    pub auth_header_value: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub settings: Settings,
    pub label_name: String,
    pub data_url: String,
    pub access_token: Secret,
    pub webhook_id: String,
    pub callback_url: String,
    pub tenant_id: Option<String>,
}

/// What was wrong with a job request: answered with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

const KNOWN_SETTINGS: &[&str] = &[
    "destination_url",
    "batch_size",
    "requests_per_minute",
    "data_key",
    "field_mapping",
    "auth_header_name",
    "auth_header_value",
];

fn string(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, Invalid> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(Invalid(format!("`{path}{key}` is empty"))),
        Some(other) => Err(Invalid(format!(
            "`{path}{key}` must be a string, got {}",
            kind(other)
        ))),
    }
}

fn required(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<String, Invalid> {
    string(obj, key, path)?.ok_or_else(|| Invalid(format!("`{path}{key}` is required")))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn url(value: &str, field: &str, allow_http: bool) -> Result<(), Invalid> {
    let ok = value.starts_with("https://") || (allow_http && value.starts_with("http://"));
    if !ok || value.len() < 12 {
        let what = if allow_http {
            "an http(s) URL"
        } else {
            "an https:// URL"
        };
        return Err(Invalid(format!("`{field}` must be {what}")));
    }
    Ok(())
}

fn int(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Invalid> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if range.contains(&v) => Ok(v),
            _ => Err(Invalid(format!(
                "`settings.{key}` must be a whole number from {} to {}, got {n}",
                range.start(),
                range.end()
            ))),
        },
        Some(other) => Err(Invalid(format!(
            "`settings.{key}` must be a number, got {}",
            kind(other)
        ))),
    }
}

impl Job {
    /// Validate a request body. `allow_http` is the local stage's switch for plain-http fakes.
    pub fn parse(body: &[u8], allow_http: bool) -> Result<Job, Invalid> {
        Job::parse_with_warnings(body, allow_http).map(|(job, _)| job)
    }

    /// [`parse`](Self::parse), and warnings for Amperity's status: settings this runner does not
    /// use (Amperity's settings are free-form per destination). A setting within two edits of a
    /// known one is taken for a typo and refused.
    pub fn parse_with_warnings(
        body: &[u8],
        allow_http: bool,
    ) -> Result<(Job, Vec<String>), Invalid> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Invalid(format!("the body is not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Invalid("the body must be a JSON object".into()))?;
        let s = match obj.get("settings") {
            Some(Value::Object(s)) => s,
            None => return Err(Invalid("`settings` is required".into())),
            Some(other) => {
                return Err(Invalid(format!(
                    "`settings` must be an object, got {}",
                    kind(other)
                )))
            }
        };
        let mut warnings = Vec::new();
        for key in s.keys().filter(|k| !KNOWN_SETTINGS.contains(&k.as_str())) {
            if let Some(known) = KNOWN_SETTINGS
                .iter()
                .find(|known| strsim::levenshtein(key, known) <= 2)
            {
                return Err(Invalid(format!(
                    "unknown setting `settings.{key}`: did you mean `settings.{known}`?"
                )));
            }
            warnings.push(format!(
                "setting `settings.{key}` is not used by this destination and was ignored"
            ));
        }
        let destination_url = required(s, "destination_url", "settings.")?;
        url(&destination_url, "settings.destination_url", allow_http)?;
        let field_mapping = match s.get("field_mapping") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) if !m.is_empty() => {
                let mut out = BTreeMap::new();
                for (from, to) in m {
                    match to {
                        Value::String(t) if !t.is_empty() => {
                            out.insert(from.clone(), t.clone());
                        }
                        _ => {
                            return Err(Invalid(format!(
                                "`settings.field_mapping.{from}` must be a non-empty string"
                            )))
                        }
                    }
                }
                Some(out)
            }
            Some(_) => {
                return Err(Invalid(
                    "`settings.field_mapping` must be a non-empty object of field names".into(),
                ))
            }
        };
        let settings = Settings {
            destination_url,
            batch_size: int(s, "batch_size", 500, 1..=10_000)? as usize,
            requests_per_minute: int(s, "requests_per_minute", 60, 1..=60_000)? as u32,
            data_key: string(s, "data_key", "settings.")?,
            field_mapping,
            auth_header_name: string(s, "auth_header_name", "settings.")?
                .unwrap_or_else(|| "Authorization".into()),
            auth_header_value: string(s, "auth_header_value", "settings.")?.map(Secret::new),
        };
        let data_url = required(obj, "data_url", "")?;
        url(&data_url, "data_url", allow_http)?;
        let callback_url = required(obj, "callback_url", "")?;
        url(&callback_url, "callback_url", allow_http)?;
        let job = Job {
            settings,
            label_name: required(obj, "label_name", "")?,
            data_url,
            access_token: Secret::new(required(obj, "access_token", "")?),
            webhook_id: required(obj, "webhook_id", "")?,
            callback_url,
            tenant_id: string(obj, "tenant_id", "")?,
        };
        Ok((job, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn valid() -> Value {
        json!({
            "settings": {"destination_url": "https://api.example.org/records", "batch_size": 2, "data_key": "items"},
            "label_name": "daily", "data_url": "https://files.example.org/x.ndjson?sig=1",
            "access_token": "tok", "webhook_id": "wh-1", "callback_url": "https://app.amperity.com/webhook/v1/"
        })
    }

    #[test]
    fn a_valid_job_takes_defaults() {
        let j = Job::parse(&body(valid()), false).unwrap();
        assert_eq!(j.settings.batch_size, 2);
        assert_eq!(j.settings.requests_per_minute, 60);
        assert_eq!(j.settings.auth_header_name, "Authorization");
        assert_eq!(j.tenant_id, None);
        assert_eq!(format!("{:?}", j.access_token), "Secret(***)");
    }

    type Edit = Box<dyn Fn(&mut Value)>;

    #[test]
    fn each_problem_names_the_field() {
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("webhook_id");
                }),
                "`webhook_id` is required",
            ),
            (
                Box::new(|v| v["label_name"] = json!(5)),
                "`label_name` must be a string, got a number",
            ),
            (
                Box::new(|v| v["data_url"] = json!("http://files.example.org/x")),
                "`data_url` must be an https:// URL",
            ),
            (
                Box::new(|v| v["settings"]["batch_sise"] = json!(2)),
                "unknown setting `settings.batch_sise`: did you mean `settings.batch_size`?",
            ),
            (
                Box::new(|v| v["settings"]["Data_Key"] = json!("x")),
                "did you mean `settings.data_key`?",
            ),
            (
                Box::new(|v| v["settings"]["batch_size"] = json!(0)),
                "`settings.batch_size` must be a whole number from 1 to 10000, got 0",
            ),
            (
                Box::new(|v| v["settings"]["requests_per_minute"] = json!("fast")),
                "`settings.requests_per_minute` must be a number",
            ),
            (
                Box::new(|v| v["settings"]["field_mapping"] = json!({"a": 1})),
                "`settings.field_mapping.a` must be a non-empty string",
            ),
            (
                Box::new(|v| v["settings"] = json!([])),
                "`settings` must be an object, got an array",
            ),
        ];
        for (edit, want) in cases {
            let mut v = valid();
            edit(&mut v);
            let err = Job::parse(&body(v), false).unwrap_err().0;
            assert!(err.contains(want), "`{err}` lacks `{want}`");
        }
        assert!(Job::parse(b"nope", false)
            .unwrap_err()
            .0
            .contains("not JSON"));
    }

    #[test]
    fn unknown_settings_are_warnings() {
        let mut v = valid();
        v["settings"]["colour"] = json!("red");
        v["settings"]["list_id"] = json!(7);
        let (job, warnings) = Job::parse_with_warnings(&body(v), false).unwrap();
        assert_eq!(job.settings.batch_size, 2);
        assert_eq!(
            warnings,
            [
                "setting `settings.colour` is not used by this destination and was ignored",
                "setting `settings.list_id` is not used by this destination and was ignored"
            ]
        );
        assert!(Job::parse_with_warnings(&body(valid()), false)
            .unwrap()
            .1
            .is_empty());
    }

    #[test]
    fn plain_http_only_where_allowed() {
        let mut v = valid();
        v["data_url"] = json!("http://127.0.0.1:9000/file.ndjson");
        assert!(Job::parse(&body(v.clone()), false).is_err());
        assert!(Job::parse(&body(v), true).is_ok());
    }
}
