//! The part of JSON Schema (2020-12) that `schema.json` uses — `type`, `required`, `properties`,
//! `additionalProperties: false`, `items`, and `$ref` to `#/$defs/…` — checked as the
//! `jsonschema` crate checks it, with its messages and instance paths.
//!
//! Why not that crate here: its validator is built from the schema at run time, so every keyword
//! and format of every draft stays linked (two regex engines, big-number fractions, Unicode tables,
//! the meta-schemas), over 1 MB of `upload-processor-transfer-api`'s zip, which then passed 4 MB
//! (docs/operator.md, "Zip size and build time"). A schema with any other keyword is refused when
//! it is loaded, and the tests compare every answer with the crate's, which stays a dev-dependency.

use serde_json::{Map, Value};

use super::export::SchemaError;

/// The draft whose semantics are checked (`$ref` beside other keywords applies both).
const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";
/// Keywords that only describe.
const ANNOTATIONS: [&str; 4] = ["$schema", "$defs", "title", "description"];
const CHECKED: [&str; 6] = [
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "$ref",
];
/// `jsonschema`'s order when it lists several types.
const TYPE_ORDER: [&str; 7] = [
    "null", "boolean", "integer", "number", "string", "array", "object",
];

/// A schema whose every keyword this module checks, and whose every `$ref` resolves.
#[derive(Debug)]
pub struct Schema {
    root: Value,
}

impl Schema {
    /// The schema, or what in it this module cannot check, and where.
    pub fn new(root: Value) -> Result<Schema, String> {
        let schema = Schema { root };
        if let Some(uri) = schema.root.get("$schema") {
            if uri != DRAFT {
                return Err(format!(
                    "/$schema: {uri} is not {DRAFT}, the draft checked here"
                ));
            }
        }
        schema.supported(&schema.root, "")?;
        schema.refuse_ref_cycles()?;
        if let Some(defs) = schema.root.get("$defs") {
            let defs = defs.as_object().ok_or("$defs is not an object")?;
            for (name, def) in defs {
                schema.supported(def, &format!("/$defs/{name}"))?;
            }
        }
        Ok(schema)
    }

    fn supported(&self, schema: &Value, at: &str) -> Result<(), String> {
        let node = schema
            .as_object()
            .ok_or_else(|| format!("{at}: a schema must be an object"))?;
        for (keyword, value) in node {
            let here = format!("{at}/{keyword}");
            match keyword.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "type" => {
                    let names: Vec<&Value> = match value {
                        Value::Array(names) => names.iter().collect(),
                        one => vec![one],
                    };
                    for name in names {
                        if !name.as_str().is_some_and(|n| TYPE_ORDER.contains(&n)) {
                            return Err(format!("{here}: {name} is not a type"));
                        }
                    }
                }
                "required" => {
                    if !value
                        .as_array()
                        .is_some_and(|r| r.iter().all(Value::is_string))
                    {
                        return Err(format!("{here}: not a list of names"));
                    }
                }
                "properties" => {
                    let properties = value
                        .as_object()
                        .ok_or_else(|| format!("{here}: not an object"))?;
                    for (name, property) in properties {
                        self.supported(property, &format!("{here}/{name}"))?;
                    }
                }
                // without `properties`, `jsonschema` words it as a false schema; not needed here
                "additionalProperties"
                    if value == &Value::Bool(false) && node.contains_key("properties") => {}
                "items" => self.supported(value, &here)?,
                "$ref" => {
                    self.resolve(value)
                        .ok_or_else(|| format!("{here}: {value} is not a `#/$defs/…` name"))?;
                }
                other => {
                    return Err(format!(
                        "{here}: `{other}` is not checked here (only {}, and \
                         additionalProperties: false)",
                        CHECKED.join(", ")
                    ))
                }
            }
        }
        Ok(())
    }

    /// The def a `$ref` names and its name, for `#/$defs/<name>` with the name JSON-pointer
    /// escaped (`~1` for `/`, `~0` for `~`).
    fn resolve_named(&self, reference: &Value) -> Option<(String, &Value)> {
        let escaped = reference.as_str()?.strip_prefix("#/$defs/")?;
        if escaped.contains(['/', '%']) {
            return None;
        }
        let name = escaped.replace("~1", "/").replace("~0", "~");
        let def = self.root.get("$defs")?.get(&name)?;
        Some((name, def))
    }

    fn resolve(&self, reference: &Value) -> Option<&Value> {
        self.resolve_named(reference).map(|(_, def)| def)
    }

    /// A `$ref` that comes back to itself without going down into the instance would never end.
    fn refuse_ref_cycles(&self) -> Result<(), String> {
        let Some(defs) = self.root.get("$defs").and_then(Value::as_object) else {
            return Ok(());
        };
        for (name, def) in defs {
            let mut seen = vec![name.clone()];
            let mut node = def;
            while let Some(reference) = node.get("$ref") {
                let Some((next, target)) = self.resolve_named(reference) else {
                    break;
                };
                if seen.contains(&next) {
                    return Err(format!(
                        "/$defs/{name}: $ref cycle {} → {next}",
                        seen.join(" → ")
                    ));
                }
                seen.push(next);
                node = target;
            }
        }
        Ok(())
    }

    /// Every violation in `instance`, in the order `jsonschema` finds them.
    pub fn errors(&self, instance: &Value) -> Vec<SchemaError> {
        let mut out = Vec::new();
        self.check(&self.root, instance, &mut String::new(), &mut out);
        out
    }

    /// In `jsonschema`'s order: `type`, `required`, `properties`, `additionalProperties`,
    /// `items`, `$ref` last (the order the 400 lists the errors in).
    fn check(
        &self,
        schema: &Value,
        instance: &Value,
        path: &mut String,
        out: &mut Vec<SchemaError>,
    ) {
        let Some(node) = schema.as_object() else {
            return;
        };
        if let Some(types) = node.get("type") {
            if let Some(message) = type_error(types, instance) {
                out.push(error(path, message));
            }
        }
        match instance {
            Value::Object(fields) => self.check_object(node, fields, path, out),
            Value::Array(items) => {
                if let Some(item) = node.get("items") {
                    for (i, value) in items.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("/{i}"));
                        self.check(item, value, path, out);
                        path.truncate(len);
                    }
                }
            }
            _ => {}
        }
        if let Some(target) = node.get("$ref").and_then(|r| self.resolve(r)) {
            self.check(target, instance, path, out);
        }
    }

    fn check_object(
        &self,
        node: &Map<String, Value>,
        fields: &Map<String, Value>,
        path: &mut String,
        out: &mut Vec<SchemaError>,
    ) {
        for name in node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if name.as_str().is_some_and(|n| !fields.contains_key(n)) {
                out.push(error(path, format!("{name} is a required property")));
            }
        }
        let properties = node.get("properties").and_then(Value::as_object);
        for (name, property) in properties.into_iter().flatten() {
            if let Some(value) = fields.get(name) {
                let len = path.len();
                path.push('/');
                path.push_str(&name.replace('~', "~0").replace('/', "~1"));
                self.check(property, value, path, out);
                path.truncate(len);
            }
        }
        if node.get("additionalProperties") == Some(&Value::Bool(false)) {
            let unexpected: Vec<String> = fields
                .keys()
                .filter(|k| !properties.is_some_and(|p| p.contains_key(*k)))
                .map(|k| format!("'{k}'"))
                .collect();
            if !unexpected.is_empty() {
                let verb = if unexpected.len() == 1 { "was" } else { "were" };
                out.push(error(
                    path,
                    format!(
                        "Additional properties are not allowed ({} {verb} unexpected)",
                        unexpected.join(", ")
                    ),
                ));
            }
        }
    }
}

fn error(path: &str, message: String) -> SchemaError {
    SchemaError {
        path: path.to_string(),
        message,
    }
}

/// `None` when `instance` is of one of `types`, else `jsonschema`'s message.
fn type_error(types: &Value, instance: &Value) -> Option<String> {
    let names: Vec<&str> = match types {
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        one => one.as_str().into_iter().collect(),
    };
    if names.iter().any(|t| is_of(t, instance)) {
        return None;
    }
    Some(match names.as_slice() {
        [one] => format!("{instance} is not of type \"{one}\""),
        _ => {
            let listed: Vec<String> = TYPE_ORDER
                .iter()
                .filter(|t| names.contains(t))
                .map(|t| format!("\"{t}\""))
                .collect();
            format!("{instance} is not of types {}", listed.join(", "))
        }
    })
}

fn is_of(name: &str, v: &Value) -> bool {
    match name {
        "array" => v.is_array(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "object" => v.is_object(),
        "string" => v.is_string(),
        // 2020-12: a number with no fractional part, 1.0 included
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0) || v.is_i64() || v.is_u64(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::Schema;
    use crate::transfer::export::SCHEMA;

    fn document() -> Value {
        serde_json::from_str(SCHEMA).unwrap()
    }

    /// A request with every property the schema names, each of its first non-null type, and one
    /// item in every array: every schema node is reached.
    fn full(schema: &Value, node: &Value, depth: usize) -> Value {
        assert!(depth < 12, "the schema recurses");
        let target = node
            .get("$ref")
            .and_then(|r| r.as_str()?.strip_prefix("#/$defs/"))
            .map(|name| &schema["$defs"][name]);
        let get = |k: &str| node.get(k).or_else(|| target.and_then(|t| t.get(k)));
        let mut properties = serde_json::Map::new();
        for source in [Some(node), target].into_iter().flatten() {
            if let Some(p) = source.get("properties").and_then(Value::as_object) {
                for (name, sub) in p {
                    properties.insert(name.clone(), full(schema, sub, depth + 1));
                }
            }
        }
        if target.is_some_and(|t| t.get("$ref").is_some()) {
            return full(schema, target.unwrap(), depth + 1);
        }
        let kind = match get("type") {
            Some(Value::Array(types)) => types.iter().find(|t| *t != "null").cloned(),
            Some(one) => Some(one.clone()),
            None => None,
        };
        match kind.as_ref().and_then(Value::as_str) {
            Some("string") => json!("s"),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            Some("array") => match get("items") {
                Some(items) => json!([full(schema, items, depth + 1)]),
                None => json!([]),
            },
            Some("object") | None => Value::Object(properties),
            Some(other) => panic!("no example of type {other}"),
        }
    }

    /// Every JSON pointer in `v`.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, sub) in m {
                    pointers(sub, format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, sub) in a.iter().enumerate() {
                    pointers(sub, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }

    /// `(path, message)` of every violation in order: ours, and the `jsonschema` crate's.
    fn both(
        ours: &Schema,
        theirs: &jsonschema::Validator,
        v: &Value,
    ) -> [Vec<(String, String)>; 2] {
        let a: Vec<_> = ours
            .errors(v)
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect();
        let b: Vec<_> = theirs
            .iter_errors(v)
            .map(|e| (e.instance_path().as_str().to_string(), e.to_string()))
            .collect();
        [a, b]
    }

    #[test]
    fn every_answer_is_the_jsonschema_crates() {
        let doc = document();
        let ours = Schema::new(doc.clone()).unwrap();
        let theirs = jsonschema::validator_for(&doc).unwrap();
        let base = full(&doc, &doc, 0);
        let [a, b] = both(&ours, &theirs, &base);
        assert_eq!(
            (a.len(), b.len()),
            (0, 0),
            "the full request is valid: {b:?}"
        );

        let mut at = Vec::new();
        pointers(&base, String::new(), &mut at);
        assert!(at.len() > 100, "{} locations", at.len());
        let replacements = [
            json!(null),
            json!(7),
            json!(1.5),
            json!("s"),
            json!(false),
            json!([]),
            json!([1]),
            json!({}),
        ];
        let (mut cases, mut failing) = (0, 0);
        for pointer in &at {
            let mut variants: Vec<Value> = replacements
                .iter()
                .map(|r| {
                    let mut v = base.clone();
                    *v.pointer_mut(pointer).unwrap() = r.clone();
                    v
                })
                .collect();
            if base.pointer(pointer).unwrap().is_object() {
                let mut extra = base.clone();
                extra.pointer_mut(pointer).unwrap()["zz/extra~"] = json!(1);
                variants.push(extra);
            }
            if let Some((parent, key)) = pointer.rsplit_once('/') {
                let mut removed = base.clone();
                if let Some(m) = removed.pointer_mut(parent).unwrap().as_object_mut() {
                    m.remove(key);
                    variants.push(removed);
                }
            }
            for v in variants {
                let [a, b] = both(&ours, &theirs, &v);
                assert_eq!(a, b, "at {pointer}");
                cases += 1;
                failing += usize::from(!b.is_empty());
            }
        }
        // the mutations must exercise the checks, not only pass through them
        assert!(failing > cases / 2, "{failing} of {cases} invalid");
    }

    #[test]
    fn many_errors_come_in_the_jsonschema_crates_order() {
        let doc = document();
        let ours = Schema::new(doc.clone()).unwrap();
        let theirs = jsonschema::validator_for(&doc).unwrap();
        let base = full(&doc, &doc, 0);
        let mut leaves = Vec::new();
        pointers(&base, String::new(), &mut leaves);
        leaves.retain(|p| {
            let v = base.pointer(p).unwrap();
            !v.is_object() && !v.is_array()
        });
        // every leaf wrong at once, an extra key and a missing one at the top
        for wrong in [json!(7), json!({}), json!(null)] {
            let mut v = base.clone();
            for p in &leaves {
                *v.pointer_mut(p).unwrap() = wrong.clone();
            }
            v["extra"] = json!(1);
            v.as_object_mut().unwrap().remove("mentor");
            let [a, b] = both(&ours, &theirs, &v);
            assert!(
                b.len() > super::super::export::MAX_REPORTED_ERRORS,
                "{}",
                b.len()
            );
            assert_eq!(a, b, "every leaf {wrong}");
        }
    }

    #[test]
    fn small_schemas_answer_as_the_crate_does() {
        let cases = [
            // the path escapes `~` and `/`
            (
                json!({"properties": {"a/b~c": {"type": "string"}}}),
                json!({"a/b~c": 1}),
            ),
            // `type` and `required` both apply
            (json!({"type": "array", "required": ["a"]}), json!({})),
            // `$ref` beside `type`, and a def name that needs escaping
            (
                json!({"$defs": {"a/b": {"required": ["x"]}}, "type": "string", "$ref": "#/$defs/a~1b"}),
                json!({"y": 1}),
            ),
            (json!({"type": "integer"}), json!(2.0)),
            (json!({"type": ["integer", "null"]}), json!(2.5)),
        ];
        for (schema, instance) in cases {
            let ours = Schema::new(schema.clone()).unwrap();
            let theirs = jsonschema::validator_for(&schema).unwrap();
            let [a, b] = both(&ours, &theirs, &instance);
            assert_eq!(a, b, "{schema} on {instance}");
        }
    }

    #[test]
    fn keywords_it_does_not_check_are_refused_with_their_place() {
        for (schema, named) in [
            (
                json!({"properties": {"a": {"pattern": "^x"}}}),
                "/properties/a/pattern",
            ),
            (
                json!({"additionalProperties": {"type": "string"}}),
                "additionalProperties",
            ),
            (json!({"items": {"$ref": "#/$defs/Missing"}}), "/items/$ref"),
            (json!({"type": "text"}), "/type"),
            (
                json!({"$defs": {"A": {"format": "email"}}}),
                "/$defs/A/format",
            ),
            // a draft whose `$ref` semantics differ
            (
                json!({"$schema": "http://json-schema.org/draft-07/schema#"}),
                "/$schema",
            ),
            // would never end
            (
                json!({"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}}),
                "$ref cycle",
            ),
            // `jsonschema` words this as a false schema
            (
                json!({"additionalProperties": false}),
                "additionalProperties",
            ),
        ] {
            let e = Schema::new(schema.clone()).unwrap_err();
            assert!(e.contains(named), "{schema}: {e}");
        }
    }

    #[test]
    fn integers_include_whole_floats_and_types_are_listed_in_order() {
        let s = Schema::new(json!({"type": "integer"})).unwrap();
        assert!(s.errors(&json!(1.0)).is_empty());
        assert_eq!(
            s.errors(&json!(1.5))[0].message,
            "1.5 is not of type \"integer\""
        );
        let s = Schema::new(json!({"type": ["string", "null", "array"]})).unwrap();
        assert_eq!(
            s.errors(&json!(true))[0].message,
            "true is not of types \"null\", \"string\", \"array\""
        );
    }
}
