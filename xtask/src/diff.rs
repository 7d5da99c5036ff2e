//! Resource- and property-level differences between two templates, readable.

use std::collections::BTreeSet;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Added,
    Removed,
    /// (property path, old, new)
    Modified(Vec<(String, Option<Value>, Option<Value>)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDiff {
    pub id: String,
    pub type_name: String,
    pub change: Change,
}

/// Differences in `Resources`, then in `Outputs` and `Parameters` as pseudo-resources.
pub fn diff(old: &Value, new: &Value) -> Vec<ResourceDiff> {
    let mut out = Vec::new();
    for section in ["Resources", "Parameters", "Outputs"] {
        let empty = serde_json::Map::new();
        let o = old
            .get(section)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let n = new
            .get(section)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let ids: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for id in ids {
            let type_name = |v: &Value| v.get("Type").and_then(Value::as_str).map(str::to_string);
            let t = match section {
                "Resources" => n
                    .get(id)
                    .or(o.get(id))
                    .and_then(type_name)
                    .unwrap_or_default(),
                "Parameters" => "Parameter".into(),
                _ => "Output".into(),
            };
            let change = match (o.get(id), n.get(id)) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(a), Some(b)) if a != b => {
                    let mut props = Vec::new();
                    walk("", a, b, &mut props);
                    Change::Modified(props)
                }
                _ => continue,
            };
            out.push(ResourceDiff {
                id: id.clone(),
                type_name: t,
                change,
            });
        }
    }
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<(String, Option<Value>, Option<Value>)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if !is_intrinsic(x) && !is_intrinsic(y) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) if va != vb => walk(&p, va, vb, out),
                    (Some(va), None) => out.push((p, Some(va.clone()), None)),
                    (None, Some(vb)) => out.push((p, None, Some(vb.clone()))),
                    _ => {}
                }
            }
        }
        _ if a != b => out.push((path.to_string(), Some(a.clone()), Some(b.clone()))),
        _ => {}
    }
}

fn is_intrinsic(m: &serde_json::Map<String, Value>) -> bool {
    m.len() == 1
        && m.keys()
            .next()
            .is_some_and(|k| k == "Ref" || k.starts_with("Fn::"))
}

/// Lines for the terminal: `+ Id (Type)`, `- Id`, `~ Id` with `path: old → new` below.
pub fn render(diffs: &[ResourceDiff]) -> Vec<String> {
    let short = |v: &Option<Value>| match v {
        None => "(none)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 100 {
                format!("{}…", s.chars().take(100).collect::<String>())
            } else {
                s
            }
        }
    };
    let mut lines = Vec::new();
    for d in diffs {
        match &d.change {
            Change::Added => lines.push(format!("+ {} ({})", d.id, d.type_name)),
            Change::Removed => lines.push(format!("- {} ({})", d.id, d.type_name)),
            Change::Modified(props) => {
                lines.push(format!("~ {} ({})", d.id, d.type_name));
                for (p, a, b) in props {
                    lines.push(format!("    {p}: {} → {}", short(a), short(b)));
                }
            }
        }
    }
    lines
}

/// `cargo xtask diff --stage S [--service S]`: exit 0 when every stack equals its deployment.
pub async fn run(stage: infra::stage::Stage, service: Option<&str>) -> anyhow::Result<bool> {
    let stacks = infra::synth_stage(&stage, service)?;
    let clients = crate::aws::Clients::connect(&stage).await?;
    let mut equal = true;
    for s in &stacks {
        let deployed = match crate::deployed::describe(&clients.cfn, &s.name).await? {
            Some(_) => {
                serde_json::from_str(&crate::deployed::template(&clients.cfn, &s.name).await?)?
            }
            None => Value::Null,
        };
        let new: Value = serde_json::from_str(&s.body)?;
        let d = diff(&deployed, &new);
        if d.is_empty() {
            println!("{}: no differences", s.name);
            continue;
        }
        equal = false;
        println!(
            "{}{}",
            crate::ui::bold(&s.name),
            if deployed.is_null() {
                " (not deployed)"
            } else {
                ""
            }
        );
        for line in render(&d) {
            println!("  {line}");
        }
    }
    Ok(equal)
}

impl crate::flags::Diff {
    /// Exit 0 when deployed and synthesized templates are equal, 1 when they differ.
    pub async fn run(self) -> anyhow::Result<i32> {
        let stage = crate::synth::load_stage(&self.stage)?;
        Ok(if run(stage, self.service.as_deref()).await? {
            0
        } else {
            1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_added_removed_and_modified_properties() {
        let old = json!({"Resources": {
            "A": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30, "Tags": [1]}},
            "B": {"Type": "AWS::SNS::Topic"}
        }});
        let new = json!({"Resources": {
            "A": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60, "Name": {"Ref": "X"}, "Tags": [1]}},
            "C": {"Type": "AWS::S3::Bucket"}
        }, "Outputs": {"Url": {"Value": "u"}}});
        let d = diff(&old, &new);
        assert_eq!(d.len(), 4);
        assert_eq!(
            d[0].change,
            Change::Modified(vec![
                ("Properties.Name".into(), None, Some(json!({"Ref": "X"}))),
                (
                    "Properties.VisibilityTimeout".into(),
                    Some(json!(30)),
                    Some(json!(60))
                ),
            ])
        );
        assert_eq!(d[1].change, Change::Removed);
        assert_eq!((d[2].id.as_str(), &d[2].change), ("C", &Change::Added));
        assert_eq!(
            (d[3].type_name.as_str(), &d[3].change),
            ("Output", &Change::Added)
        );
        let lines = render(&d);
        assert!(lines.contains(&"    Properties.VisibilityTimeout: 30 → 60".to_string()));
        assert!(diff(&new, &new).is_empty());
    }
}
