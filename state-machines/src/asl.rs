//! Amazon States Language as Rust types. Serializes to the JSON Step Functions reads.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// A graph of states: the whole machine, a Map's item processor, or a Parallel branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub start_at: String,
    pub states: Vec<(String, State)>,
}

impl Serialize for Graph {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("StartAt", &self.start_at)?;
        let states: serde_json::Map<String, Value> = self
            .states
            .iter()
            .map(|(n, st)| {
                (
                    n.clone(),
                    serde_json::to_value(st).expect("states serialize"),
                )
            })
            .collect();
        m.serialize_entry("States", &states)?;
        m.end()
    }
}

/// Where a state goes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Next(String),
    End,
}

impl Serialize for Transition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Transition::Next(n) => m.serialize_entry("Next", n)?,
            Transition::End => m.serialize_entry("End", &true)?,
        }
        m.end()
    }
}

/// `ResultPath: null`: the state's result is dropped and its input passes on unchanged (a JSON
/// null, not the text "null", which is an invalid path).
pub const DISCARD_RESULT: Value = Value::Null;

/// Input and output processing shared by most state types.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Io {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_selector: Option<Value>,
    /// A JSONPath (`"$.media"`), or [`DISCARD_RESULT`] to keep the state's input as its output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_path: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u32,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delay_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_strategy: Option<String>,
}

impl Retrier {
    /// Exponential backoff with full jitter.
    pub fn backoff(errors: &[&str], interval_seconds: u32, max_attempts: u32) -> Retrier {
        Retrier {
            error_equals: errors.iter().map(|e| e.to_string()).collect(),
            interval_seconds,
            max_attempts,
            backoff_rate: 2.0,
            max_delay_seconds: None,
            jitter_strategy: Some("FULL".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    pub resource: String,
    #[serde(flatten)]
    pub io: Io,
    #[serde(flatten)]
    pub transition: Transition,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retrier>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<Catcher>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u32>,
}

/// A comparison or a combination of them, as in a Choice rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `Variable` compared with an operator such as `StringEquals`, `NumericGreaterThan`,
    /// `BooleanEquals`, `IsPresent`.
    Compare {
        variable: String,
        operator: String,
        value: Value,
    },
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

impl Condition {
    pub fn string_equals(variable: &str, value: &str) -> Condition {
        Condition::Compare {
            variable: variable.into(),
            operator: "StringEquals".into(),
            value: Value::String(value.into()),
        }
    }

    fn to_json(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        match self {
            Condition::Compare {
                variable,
                operator,
                value,
            } => {
                m.insert("Variable".into(), Value::String(variable.clone()));
                m.insert(operator.clone(), value.clone());
            }
            Condition::And(cs) | Condition::Or(cs) => {
                let key = if matches!(self, Condition::And(_)) {
                    "And"
                } else {
                    "Or"
                };
                let list = cs.iter().map(|c| Value::Object(c.to_json())).collect();
                m.insert(key.into(), Value::Array(list));
            }
            Condition::Not(c) => {
                m.insert("Not".into(), Value::Object(c.to_json()));
            }
        }
        m
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
}

impl Serialize for ChoiceRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = self.condition.to_json();
        m.insert("Next".into(), Value::String(self.next.clone()));
        m.serialize(s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Choice {
    pub choices: Vec<ChoiceRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Map {
    pub item_processor: ItemProcessor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_selector: Option<Value>,
    pub max_concurrency: u32,
    #[serde(flatten)]
    pub io: Io,
    #[serde(flatten)]
    pub transition: Transition,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retrier>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<Catcher>,
}

/// An inline Map's states.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemProcessor(pub Graph);

impl Serialize for ItemProcessor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        v["ProcessorConfig"] = serde_json::json!({ "Mode": "INLINE" });
        v.serialize(s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parallel {
    pub branches: Vec<Graph>,
    #[serde(flatten)]
    pub io: Io,
    #[serde(flatten)]
    pub transition: Transition,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retrier>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pass {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(flatten)]
    pub io: Io,
    #[serde(flatten)]
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum WaitFor {
    #[serde(rename = "Seconds")]
    Seconds(u32),
    #[serde(rename = "SecondsPath")]
    SecondsPath(String),
    #[serde(rename = "TimestampPath")]
    TimestampPath(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wait {
    #[serde(flatten)]
    pub wait_for: WaitFor,
    #[serde(flatten)]
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Fail {
    pub error: String,
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "Type")]
pub enum State {
    Task(Task),
    Choice(Choice),
    Map(Map),
    Parallel(Parallel),
    Pass(Pass),
    Wait(Wait),
    Succeed {},
    Fail(Fail),
}
