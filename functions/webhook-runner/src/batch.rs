//! Records → the body the destination receives.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Rename and select fields: only mapped fields are kept, under their new names.
pub fn map_record(record: Value, mapping: Option<&BTreeMap<String, String>>) -> Value {
    match (mapping, record) {
        (Some(m), Value::Object(mut obj)) => {
            let mut out = Map::new();
            for (from, to) in m {
                if let Some(v) = obj.remove(from) {
                    out.insert(to.clone(), v);
                }
            }
            Value::Object(out)
        }
        (_, record) => record,
    }
}

/// `{"<data_key>": [...]}` or a bare array.
pub fn body(records: Vec<Value>, data_key: Option<&str>) -> Value {
    match data_key {
        Some(k) => {
            let mut m = Map::new();
            m.insert(k.to_string(), Value::Array(records));
            Value::Object(m)
        }
        None => Value::Array(records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mapping_renames_and_selects() {
        let m: BTreeMap<String, String> = [
            ("email".into(), "Email".into()),
            ("id".into(), "external_id".into()),
        ]
        .into();
        assert_eq!(
            map_record(json!({"id": 1, "email": "a@b", "secret": "x"}), Some(&m)),
            json!({"external_id": 1, "Email": "a@b"})
        );
        assert_eq!(map_record(json!({"id": 1}), None), json!({"id": 1}));
    }

    #[test]
    fn wraps_when_a_data_key_is_set() {
        assert_eq!(body(vec![json!(1)], Some("items")), json!({"items": [1]}));
        assert_eq!(body(vec![json!(1)], None), json!([1]));
    }
}
