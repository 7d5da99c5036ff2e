//! Turns resource provider schemas into Rust: one module per service, one sub-module per resource
//! type holding `Cfn<Resource>` and a struct for every property type it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use anyhow::{bail, Context, Result};
use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::Value;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "yield",
];

/// One resource type's module source (without the enclosing `pub mod`).
pub fn resource_module(schema: &Value) -> Result<String> {
    let type_name = schema["typeName"]
        .as_str()
        .context("schema without typeName")?;
    let short = type_name.rsplit("::").next().unwrap_or(type_name);
    let mut gen = Gen {
        defs: schema.get("definitions").and_then(Value::as_object),
        structs: BTreeMap::new(),
        pending: Vec::new(),
    };
    let root_name = format!("Cfn{}", short.to_upper_camel_case());
    let required = string_list(schema.get("required"));
    let root = gen.struct_source(&root_name, schema, &required)?;
    while let Some((name, node)) = gen.pending.pop() {
        if gen.structs.contains_key(&name) {
            continue;
        }
        gen.structs.insert(name.clone(), String::new());
        let required = string_list(node.get("required"));
        let src = gen.struct_source(&name, &node, &required)?;
        gen.structs.insert(name, src);
    }

    let attributes: Vec<String> = string_list(schema.get("readOnlyProperties"))
        .iter()
        .filter_map(|p| p.strip_prefix("/properties/"))
        .map(|p| p.replace('/', "."))
        .collect();
    let mut out = String::new();
    writeln!(out, "use crate::cfn::{{CfnResource, Json, Val}};")?;
    writeln!(out, "use serde::Serialize;")?;
    writeln!(out, "use std::collections::BTreeMap;")?;
    writeln!(out, "/// `{type_name}`")?;
    out.push_str(&root);
    writeln!(out, "impl CfnResource for {root_name} {{")?;
    writeln!(out, "const TYPE: &'static str = {type_name:?};")?;
    writeln!(
        out,
        "const REQUIRED: &'static [&'static str] = &{required:?};"
    )?;
    writeln!(
        out,
        "const ATTRIBUTES: &'static [&'static str] = &{attributes:?};"
    )?;
    writeln!(out, "}}")?;
    for src in gen.structs.values() {
        out.push_str(src);
    }
    Ok(out)
}

struct Gen<'a> {
    defs: Option<&'a serde_json::Map<String, Value>>,
    structs: BTreeMap<String, String>,
    pending: Vec<(String, Value)>,
}

impl Gen<'_> {
    fn struct_source(&mut self, name: &str, node: &Value, required: &[String]) -> Result<String> {
        let mut out = String::new();
        let props = node.get("properties").and_then(Value::as_object);
        writeln!(
            out,
            "#[derive(Debug, Clone, Default, PartialEq, Serialize)]"
        )?;
        writeln!(out, "pub struct {name} {{")?;
        let mut seen = BTreeSet::new();
        for (prop, schema) in props.into_iter().flatten() {
            let mut field = prop.to_snake_case();
            if KEYWORDS.contains(&field.as_str()) {
                field = format!("r#{field}");
            }
            if !seen.insert(field.clone()) {
                bail!("{name}: two properties map to the field `{field}`");
            }
            let mut ty = self.rust_type(schema, name, prop)?;
            if ty == name {
                ty = format!("Box<{ty}>");
            }
            if required.iter().any(|r| r == prop) {
                writeln!(out, "/// Required.")?;
            }
            writeln!(
                out,
                "#[serde(rename = {prop:?}, skip_serializing_if = \"Option::is_none\")]"
            )?;
            writeln!(out, "pub {field}: Option<{ty}>,")?;
        }
        writeln!(out, "}}")?;
        Ok(out)
    }

    fn rust_type(&mut self, node: &Value, parent: &str, prop: &str) -> Result<String> {
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            let def_name = reference
                .strip_prefix("#/definitions/")
                .with_context(|| format!("{parent}.{prop}: unsupported $ref {reference}"))?;
            let def = self
                .defs
                .and_then(|d| d.get(def_name))
                .with_context(|| format!("{parent}.{prop}: missing definition {def_name}"))?
                .clone();
            if def.get("properties").is_some() {
                let struct_name = def_name.to_upper_camel_case();
                self.pending.push((struct_name.clone(), def));
                return Ok(struct_name);
            }
            return self.rust_type(&def, parent, prop);
        }
        if node.get("anyOf").is_some() || node.get("oneOf").is_some() {
            return Ok("Json".into());
        }
        let ty = match node.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) if ts.len() == 1 => ts[0].as_str().unwrap_or("object"),
            Some(_) => return Ok("Json".into()),
            None if node.get("properties").is_some() => "object",
            None => return Ok("Json".into()),
        };
        Ok(match ty {
            "string" => "Val<String>".into(),
            "integer" => "Val<i64>".into(),
            "number" => "Val<f64>".into(),
            "boolean" => "Val<bool>".into(),
            "array" => match node.get("items") {
                Some(items) => format!("Vec<{}>", self.rust_type(items, parent, prop)?),
                None => "Vec<Json>".into(),
            },
            "object" => {
                if node.get("properties").is_some() {
                    let struct_name = format!("{parent}{}", prop.to_upper_camel_case());
                    self.pending.push((struct_name.clone(), node.clone()));
                    struct_name
                } else if let Some(pattern) = node
                    .get("patternProperties")
                    .and_then(Value::as_object)
                    .and_then(|p| p.values().next())
                {
                    format!(
                        "BTreeMap<String, {}>",
                        self.rust_type(pattern, parent, prop)?
                    )
                } else {
                    "Json".into()
                }
            }
            other => bail!("{parent}.{prop}: unknown JSON schema type `{other}`"),
        })
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generates_structs_refs_maps_and_metadata() {
        let schema = json!({
            "typeName": "AWS::Demo::Thing",
            "required": ["Name"],
            "readOnlyProperties": ["/properties/Arn", "/properties/Endpoint/Address"],
            "properties": {
                "Name": {"type": "string"},
                "Size": {"type": "integer"},
                "Tags": {"type": "array", "items": {"$ref": "#/definitions/Tag"}},
                "Vars": {"type": "object", "patternProperties": {".*": {"type": "string"}}},
                "Doc": {"type": ["object", "string"]},
                "Type": {"type": "string"}
            },
            "definitions": {"Tag": {"type": "object", "properties": {"Key": {"type": "string"}}}}
        });
        let src = resource_module(&schema).unwrap();
        assert!(src.contains("pub struct CfnThing"));
        assert!(src.contains("pub name: Option<Val<String>>"));
        assert!(src.contains("pub size: Option<Val<i64>>"));
        assert!(src.contains("pub tags: Option<Vec<Tag>>"));
        assert!(src.contains("pub vars: Option<BTreeMap<String, Val<String>>>"));
        assert!(src.contains("pub doc: Option<Json>"));
        assert!(src.contains("pub r#type: Option<Val<String>>"));
        assert!(src.contains("pub struct Tag"));
        assert!(src.contains(
            r#"const ATTRIBUTES: &'static [&'static str] = &["Arn", "Endpoint.Address"];"#
        ));
    }
}
