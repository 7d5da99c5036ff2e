//! Property values: a literal of the property's type, or a CloudFormation intrinsic function.

use serde::{Serialize, Serializer};
use serde_json::{json, Value};

/// An intrinsic function. Serializes to the `{"Fn::…": …}` form CloudFormation reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Intrinsic {
    Ref(String),
    GetAtt(String, String),
    /// `Fn::Sub` with `${Name}` references resolved by CloudFormation.
    Sub(String),
    SubWith(String, Vec<(String, Val<String>)>),
    Join(String, Vec<Val<String>>),
    Select(usize, Box<Intrinsic>),
    ImportValue(Box<Val<String>>),
}

impl Intrinsic {
    pub fn to_json(&self) -> Value {
        match self {
            Intrinsic::Ref(id) => json!({ "Ref": id }),
            Intrinsic::GetAtt(id, attr) => json!({ "Fn::GetAtt": [id, attr] }),
            Intrinsic::Sub(s) => json!({ "Fn::Sub": s }),
            Intrinsic::SubWith(s, vars) => {
                let vars: serde_json::Map<String, Value> =
                    vars.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
                json!({ "Fn::Sub": [s, vars] })
            }
            Intrinsic::Join(sep, parts) => {
                let parts: Vec<Value> = parts.iter().map(Val::to_json).collect();
                json!({ "Fn::Join": [sep, parts] })
            }
            Intrinsic::Select(i, list) => json!({ "Fn::Select": [i, list.to_json()] }),
            Intrinsic::ImportValue(v) => json!({ "Fn::ImportValue": v.to_json() }),
        }
    }
}

impl Serialize for Intrinsic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// A property value of type `T`: a literal or an intrinsic that CloudFormation resolves to a `T`.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<T> {
    Lit(T),
    Fn(Intrinsic),
}

impl<T: Serialize> Val<T> {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("property values are always representable as JSON")
    }
}

impl<T: Serialize> Serialize for Val<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Lit(v) => v.serialize(s),
            Val::Fn(f) => f.serialize(s),
        }
    }
}

impl<T> From<Intrinsic> for Val<T> {
    fn from(f: Intrinsic) -> Self {
        Val::Fn(f)
    }
}

impl From<&str> for Val<String> {
    fn from(s: &str) -> Self {
        Val::Lit(s.to_string())
    }
}

impl From<String> for Val<String> {
    fn from(s: String) -> Self {
        Val::Lit(s)
    }
}

impl From<&String> for Val<String> {
    fn from(s: &String) -> Self {
        Val::Lit(s.clone())
    }
}

macro_rules! lit_from {
    ($($t:ty => $target:ty),*) => {$(
        impl From<$t> for Val<$target> {
            fn from(v: $t) -> Self {
                Val::Lit(v.into())
            }
        }
    )*};
}
lit_from!(i64 => i64, i32 => i64, u32 => i64, u16 => i64, u8 => i64, bool => bool, f64 => f64);

/// Shorthands that read like the template they produce.
pub fn r#ref(id: impl Into<String>) -> Intrinsic {
    Intrinsic::Ref(id.into())
}

pub fn get_att(id: impl Into<String>, attr: impl Into<String>) -> Intrinsic {
    Intrinsic::GetAtt(id.into(), attr.into())
}

pub fn sub(template: impl Into<String>) -> Intrinsic {
    Intrinsic::Sub(template.into())
}

/// The partition-, region- and account-aware ARN prefix `arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:`.
pub fn arn_prefix(service: &str) -> String {
    format!("arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_serialize_bare_and_intrinsics_as_functions() {
        assert_eq!(Val::from("x").to_json(), json!("x"));
        assert_eq!(Val::<i64>::from(5).to_json(), json!(5));
        let v: Val<String> = get_att("Fn", "Arn").into();
        assert_eq!(v.to_json(), json!({"Fn::GetAtt": ["Fn", "Arn"]}));
        let j: Val<String> =
            Intrinsic::Join("-".into(), vec!["a".into(), r#ref("AWS::Region").into()]).into();
        assert_eq!(
            j.to_json(),
            json!({"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]})
        );
        let s: Val<String> =
            Intrinsic::SubWith("${A}-x".into(), vec![("A".into(), r#ref("B").into())]).into();
        assert_eq!(
            s.to_json(),
            json!({"Fn::Sub": ["${A}-x", {"A": {"Ref": "B"}}]})
        );
    }
}
