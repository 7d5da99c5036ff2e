//! A stack as deployed: status, template, parameters, outputs, physical ids; and resolving
//! template references against those ids (for local invocations).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use aws_sdk_cloudformation::types::StackStatus;
use aws_sdk_cloudformation::Client;
use serde_json::Value;

use crate::aws;

/// The account id the local emulator reports.
pub const LOCAL_ACCOUNT: &str = "123456789012";

#[derive(Debug, Clone)]
pub struct Deployed {
    pub status: StackStatus,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
}

/// The stack's summary, or `None` when it does not exist (deleted stacks count as absent).
pub async fn describe(cfn: &Client, stack: &str) -> Result<Option<Deployed>> {
    let out = match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(o) => o,
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.meta()
                    .message()
                    .unwrap_or_default()
                    .contains("does not exist")
            }) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws::explain("cloudformation:DescribeStacks", stack, e)),
    };
    let Some(s) = out.stacks().first() else {
        return Ok(None);
    };
    let status = s
        .stack_status()
        .cloned()
        .unwrap_or(StackStatus::ReviewInProgress);
    if status == StackStatus::DeleteComplete {
        return Ok(None);
    }
    let parameters = s
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_string(),
                p.parameter_value()?.to_string(),
            ))
        })
        .collect();
    let outputs = s
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect();
    Ok(Some(Deployed {
        status,
        parameters,
        outputs,
    }))
}

/// The template body CloudFormation holds for the stack.
pub async fn template(cfn: &Client, stack: &str) -> Result<String> {
    let out = cfn
        .get_template()
        .stack_name(stack)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .map_err(|e| aws::explain("cloudformation:GetTemplate", stack, e))?;
    Ok(out.template_body().unwrap_or_default().to_string())
}

/// Logical id → physical id of every resource, or `None` when the stack does not exist.
pub async fn physical_ids(cfn: &Client, stack: &str) -> Result<Option<BTreeMap<String, String>>> {
    if describe(cfn, stack).await?.is_none() {
        return Ok(None);
    }
    let out = cfn
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws::explain("cloudformation:DescribeStackResources", stack, e))?;
    Ok(Some(
        out.stack_resources()
            .iter()
            .filter_map(|r| {
                Some((
                    r.logical_resource_id()?.to_string(),
                    r.physical_resource_id()?.to_string(),
                ))
            })
            .collect(),
    ))
}

/// A template value with `Ref`s and `Fn::Sub`s replaced by the deployed physical ids.
pub fn resolve(v: &Value, ids: &BTreeMap<String, String>, region: &str) -> Result<String> {
    let pseudo = |name: &str| -> Option<String> {
        Some(match name {
            "AWS::Region" => region.into(),
            "AWS::AccountId" => LOCAL_ACCOUNT.into(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            _ => return None,
        })
    };
    let lookup = |name: &str| -> Result<String> {
        pseudo(name)
            .or_else(|| ids.get(name).cloned())
            .ok_or_else(|| anyhow::anyhow!("`{name}` is not a deployed resource of the stack"))
    };
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Object(m) => {
            if let Some(Value::String(id)) = m.get("Ref") {
                return lookup(id);
            }
            if let Some(Value::String(s)) = m.get("Fn::Sub") {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let end = rest[start..]
                        .find('}')
                        .map(|e| start + e)
                        .unwrap_or(rest.len());
                    out.push_str(&lookup(&rest[start + 2..end])?);
                    rest = &rest[(end + 1).min(rest.len())..];
                }
                out.push_str(rest);
                return Ok(out);
            }
            bail!("cannot resolve {v} locally")
        }
        other => bail!("cannot resolve {other} locally"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_refs_subs_and_pseudo_parameters() {
        let ids: BTreeMap<String, String> = [(
            "CacheBucket".to_string(),
            "mips-cache-cache-local-123".to_string(),
        )]
        .into();
        assert_eq!(
            resolve(&json!("plain"), &ids, "us-east-1").unwrap(),
            "plain"
        );
        assert_eq!(
            resolve(&json!({"Ref": "CacheBucket"}), &ids, "us-east-1").unwrap(),
            "mips-cache-cache-local-123"
        );
        assert_eq!(
            resolve(
                &json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${CacheBucket}/x"}),
                &ids,
                "eu-west-1"
            )
            .unwrap(),
            "arn:aws:s3:::mips-cache-cache-local-123/x"
        );
        let err = resolve(&json!({"Ref": "Missing"}), &ids, "us-east-1").unwrap_err();
        assert!(err.to_string().contains("`Missing`"));
    }
}
