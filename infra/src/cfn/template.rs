//! The CloudFormation template document: parameters, resources, outputs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{CfnResource, Val};

/// One resource as it appears in the template.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceEntry {
    pub type_name: &'static str,
    pub properties: Value,
    pub depends_on: BTreeSet<String>,
    pub metadata: Map<String, Value>,
    /// `Retain` for data that must outlive the stack (buckets, databases).
    pub deletion_policy: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub type_name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Default", skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(rename = "AllowedPattern", skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub value: Val<String>,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    pub description: String,
    pub parameters: BTreeMap<String, Parameter>,
    pub resources: BTreeMap<String, ResourceEntry>,
    pub outputs: BTreeMap<String, Output>,
}

/// Raised by [`Template::add`]: two constructs claimed the same logical id.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("logical id `{0}` is used twice; give one of the constructs another id")]
pub struct DuplicateId(pub String);

impl Template {
    pub fn add<R: CfnResource>(
        &mut self,
        id: impl Into<String>,
        resource: R,
    ) -> Result<&mut ResourceEntry, DuplicateId> {
        let id = id.into();
        if self.resources.contains_key(&id) || self.parameters.contains_key(&id) {
            return Err(DuplicateId(id));
        }
        let properties = serde_json::to_value(&resource).expect("L1 resources serialize to JSON");
        let entry = ResourceEntry {
            type_name: R::TYPE,
            properties,
            depends_on: BTreeSet::new(),
            metadata: Map::new(),
            deletion_policy: None,
        };
        Ok(self.resources.entry(id).or_insert(entry))
    }

    pub fn resources_of<'a>(
        &'a self,
        type_name: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a ResourceEntry)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r.type_name == type_name)
    }

    /// The template as a JSON value; objects are sorted by key (serde_json's default map).
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
        doc.insert("Description".into(), json!(self.description));
        if !self.parameters.is_empty() {
            doc.insert("Parameters".into(), json!(self.parameters));
        }
        let resources: Map<String, Value> = self
            .resources
            .iter()
            .map(|(id, r)| (id.clone(), r.to_json()))
            .collect();
        doc.insert("Resources".into(), Value::Object(resources));
        if !self.outputs.is_empty() {
            let outputs: Map<String, Value> = self
                .outputs
                .iter()
                .map(|(id, o)| {
                    (
                        id.clone(),
                        json!({ "Value": o.value.to_json(), "Description": o.description }),
                    )
                })
                .collect();
            doc.insert("Outputs".into(), Value::Object(outputs));
        }
        Value::Object(doc)
    }

    /// Compact JSON with sorted keys: identical inputs give byte-identical output.
    pub fn render(&self) -> String {
        self.to_json().to_string()
    }
}

impl ResourceEntry {
    pub fn to_json(&self) -> Value {
        let mut r = Map::new();
        r.insert("Type".into(), json!(self.type_name));
        if self.properties.as_object().is_some_and(|p| !p.is_empty()) {
            r.insert("Properties".into(), self.properties.clone());
        }
        if !self.depends_on.is_empty() {
            r.insert("DependsOn".into(), json!(self.depends_on));
        }
        if !self.metadata.is_empty() {
            r.insert("Metadata".into(), Value::Object(self.metadata.clone()));
        }
        if let Some(policy) = self.deletion_policy {
            r.insert("DeletionPolicy".into(), json!(policy));
            r.insert("UpdateReplacePolicy".into(), json!(policy));
        }
        Value::Object(r)
    }

    /// A property by its CloudFormation name.
    pub fn prop(&self, name: &str) -> Option<&Value> {
        self.properties.get(name)
    }
}
