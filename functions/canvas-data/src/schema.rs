//! A DAP table schema (JSON Schema of `key` and `value`) as PostgreSQL columns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PgType {
    Bigint,
    Integer,
    Double,
    Real,
    Boolean,
    Text,
    Timestamptz,
    Date,
    Jsonb,
}

impl PgType {
    pub fn sql(self) -> &'static str {
        match self {
            PgType::Bigint => "bigint",
            PgType::Integer => "integer",
            PgType::Double => "double precision",
            PgType::Real => "real",
            PgType::Boolean => "boolean",
            PgType::Text => "text",
            PgType::Timestamptz => "timestamp with time zone",
            PgType::Date => "date",
            PgType::Jsonb => "jsonb",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: PgType,
    pub key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub version: i64,
    pub columns: Vec<Column>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    #[error("schema of {table}: {what}")]
    Shape { table: String, what: String },
    #[error("schema of {table}: column {column} has type `{ty}`, which has no PostgreSQL mapping")]
    UnknownType {
        table: String,
        column: String,
        ty: String,
    },
}

impl TableSchema {
    /// Columns from the `key` properties (the primary key, in schema order) then the `value`
    /// properties. Values are nullable: a DAP row may omit any of them.
    pub fn from_dap(table: &str, version: i64, schema: &Value) -> Result<TableSchema, SchemaError> {
        let shape = |what: &str| SchemaError::Shape {
            table: table.into(),
            what: what.into(),
        };
        let resolver = Resolver { root: schema };
        let props = |part: &str| -> Result<Vec<(String, Value)>, SchemaError> {
            let part_schema = schema
                .get("properties")
                .and_then(|p| p.get(part))
                .map(|p| resolver.resolve(p))
                .ok_or_else(|| shape(&format!("no `{part}` property")))?;
            match part_schema.get("properties") {
                Some(Value::Object(map)) => Ok(map
                    .iter()
                    .map(|(k, v)| (k.clone(), resolver.resolve(v).clone()))
                    .collect()),
                None if part == "value" => Ok(Vec::new()),
                _ => Err(shape(&format!("`{part}` has no properties"))),
            }
        };
        let mut columns = Vec::new();
        for (part, key) in [("key", true), ("value", false)] {
            for (name, prop) in props(part)? {
                if columns.iter().any(|c: &Column| c.name == name) {
                    return Err(shape(&format!("column {name} is both in key and value")));
                }
                let ty = map_type(&prop, &resolver).map_err(|ty| SchemaError::UnknownType {
                    table: table.into(),
                    column: name.clone(),
                    ty,
                })?;
                columns.push(Column { name, ty, key });
            }
        }
        if !columns.iter().any(|c| c.key) {
            return Err(shape("the key has no columns"));
        }
        Ok(TableSchema { version, columns })
    }

    pub fn keys(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.key)
    }
}

struct Resolver<'a> {
    root: &'a Value,
}

impl<'a> Resolver<'a> {
    /// Follows local `$ref`s (`#/definitions/X`, `#/$defs/X`); anything else stays as it is.
    fn resolve(&self, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            match r.strip_prefix('#').and_then(|p| self.root.pointer(p)) {
                Some(target) => v = target,
                None => return v,
            }
        }
        v
    }
}

/// The PostgreSQL type of one property; `Err` carries the unmappable JSON type.
fn map_type(prop: &Value, resolver: &Resolver) -> Result<PgType, String> {
    let not_null = |v: &&Value| v.get("type").and_then(Value::as_str) != Some("null");
    for combinator in ["oneOf", "anyOf"] {
        if let Some(Value::Array(options)) = prop.get(combinator) {
            let options: Vec<&Value> = options
                .iter()
                .map(|o| resolver.resolve(o))
                .filter(not_null)
                .collect();
            return match options.as_slice() {
                [one] => map_type(one, resolver),
                _ => Ok(PgType::Jsonb),
            };
        }
    }
    let ty = match prop.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            match named.as_slice() {
                [one] => *one,
                _ => return Ok(PgType::Jsonb),
            }
        }
        _ if prop.get("enum").is_some() => "string",
        _ => return Ok(PgType::Jsonb),
    };
    let format = prop.get("format").and_then(Value::as_str).unwrap_or("");
    Ok(match (ty, format) {
        ("integer", "int32" | "int16" | "int8") => PgType::Integer,
        ("integer", _) => PgType::Bigint,
        ("number", "float32" | "float") => PgType::Real,
        ("number", _) => PgType::Double,
        ("boolean", _) => PgType::Boolean,
        ("string", "date-time") => PgType::Timestamptz,
        ("string", "date") => PgType::Date,
        ("string", _) => PgType::Text,
        ("object" | "array", _) => PgType::Jsonb,
        (other, _) => return Err(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: Value) -> Value {
        json!({
            "type": "object",
            "definitions": { "State": { "type": "string", "enum": ["active", "deleted"] } },
            "properties": {
                "key": { "type": "object", "properties": { "id": { "type": "integer", "format": "int64" } } },
                "value": { "type": "object", "properties": value },
            }
        })
    }

    #[test]
    fn json_schema_types_map_to_postgres_types() {
        let s = schema(json!({
            "count": { "type": "integer", "format": "int32" },
            "score": { "type": "number", "format": "float64" },
            "ratio": { "type": "number", "format": "float32" },
            "enabled": { "type": "boolean" },
            "name": { "type": "string", "maxLength": 255 },
            "created_at": { "type": "string", "format": "date-time" },
            "day": { "type": "string", "format": "date" },
            "settings": { "type": "object" },
            "tags": { "type": "array", "items": { "type": "string" } },
            "state": { "$ref": "#/definitions/State" },
            "maybe": { "oneOf": [{ "type": "null" }, { "type": "integer" }] },
            "either": { "oneOf": [{ "type": "integer" }, { "type": "string" }] },
            "nullable": { "type": ["string", "null"] },
            "anything": {}
        }));
        let t = TableSchema::from_dap("t", 3, &s).unwrap();
        let got: Vec<(&str, PgType, bool)> = t
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty, c.key))
            .collect();
        use PgType::*;
        assert_eq!(
            got,
            vec![
                ("id", Bigint, true),
                ("anything", Jsonb, false),
                ("count", Integer, false),
                ("created_at", Timestamptz, false),
                ("day", Date, false),
                ("either", Jsonb, false),
                ("enabled", Boolean, false),
                ("maybe", Bigint, false),
                ("name", Text, false),
                ("nullable", Text, false),
                ("ratio", Real, false),
                ("score", Double, false),
                ("settings", Jsonb, false),
                ("state", Text, false),
                ("tags", Jsonb, false),
            ]
        );
        assert_eq!(t.version, 3);
        assert_eq!(t.keys().count(), 1);
    }

    #[test]
    fn bad_schemas_name_table_and_column() {
        let s = schema(json!({ "x": { "type": "decimal" } }));
        assert_eq!(
            TableSchema::from_dap("t", 1, &s).unwrap_err().to_string(),
            "schema of t: column x has type `decimal`, which has no PostgreSQL mapping"
        );
        let no_key = json!({ "properties": { "value": { "properties": {} } } });
        assert_eq!(
            TableSchema::from_dap("u", 1, &no_key)
                .unwrap_err()
                .to_string(),
            "schema of u: no `key` property"
        );
        let dup = json!({ "properties": {
            "key": { "properties": { "id": { "type": "integer" } } },
            "value": { "properties": { "id": { "type": "integer" } } }
        }});
        assert!(TableSchema::from_dap("v", 1, &dup)
            .unwrap_err()
            .to_string()
            .contains("column id is both in key and value"));
    }
}
