//! `cargo xtask local messages TOPIC`: what was published to a local SNS topic.
//!
//! The emulator's launcher keeps every message published to a topic and serves them on
//! `/_local/sns/messages`; SNS itself has no API to read them back.

use anyhow::{bail, Context, Result};
use infra::stage::Stage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{aws, deployed, ui};

#[derive(clap::Args)]
pub struct Args {
    /// The topic: its name, the stack's logical id, or its ARN.
    pub topic: String,
    /// Print the topic and its messages as JSON: {"TopicArn", "Messages": [{"MessageId",
    /// "Subject", "Message", "MessageAttributes", "MessageGroupId", "Timestamp"}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Published {
    pub topic_arn: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    pub message_id: String,
    pub subject: Option<String>,
    pub message: String,
    #[serde(default)]
    pub message_attributes: Value,
    pub message_group_id: Option<String>,
    /// RFC 3339, UTC, milliseconds.
    pub timestamp: Option<String>,
}

impl Args {
    pub async fn run(self, stage: &Stage) -> Result<i32> {
        let Some(endpoint) = stage.aws_endpoint() else {
            bail!(
                "`local messages` reads the local emulator; stage `{}` is not local",
                stage.name
            );
        };
        let topics = topics(&endpoint).await?;
        let logical = deployed_ids(stage).await?;
        let Some(arn) = resolve(&self.topic, &stage.name, &topics, &logical) else {
            eprintln!("no topic `{}` in the local stage", self.topic);
            if topics.is_empty() {
                eprintln!("there are no topics: deploy first (`cargo xtask deploy --stage local`)");
            } else {
                eprintln!("topics:");
                for t in &topics {
                    let ids: Vec<&str> = logical
                        .iter()
                        .filter(|(_, physical)| physical == t)
                        .map(|(id, _)| id.as_str())
                        .collect();
                    eprintln!("  {} {}", name_of(t), ui::dim(&ids.join(", ")));
                }
            }
            return Ok(1);
        };
        let published = fetch(&endpoint, &arn).await?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&published)?);
        } else {
            print!("{}", render(&published));
        }
        Ok(0)
    }
}

/// Every topic's ARN, from the launcher (any account, any region).
pub async fn topics(endpoint: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Topics {
        #[serde(rename = "Topics")]
        topics: Vec<String>,
    }
    let t: Topics = local_get(&format!("{endpoint}/_local/sns/topics")).await?;
    Ok(t.topics)
}

/// The messages published to the topic, oldest first.
pub async fn fetch(endpoint: &str, topic_arn: &str) -> Result<Published> {
    let url = reqwest::Url::parse_with_params(
        &format!("{endpoint}/_local/sns/messages"),
        [("TopicArn", topic_arn)],
    )?;
    local_get(url.as_str()).await
}

async fn local_get<T: serde::de::DeserializeOwned>(url: &str) -> Result<T> {
    let response = support::tls::http_client()
        .get(url)
        .send()
        .await
        .with_context(|| {
            format!("GET {url}: is the local stage running? (`cargo xtask local up`)")
        })?;
    if response.status() == reqwest::StatusCode::NOT_FOUND && url.contains("/_local/sns/topics") {
        bail!("the emulator runs without the launcher of this xtask; `cargo xtask local up` restarts it");
    }
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("GET {url}: unexpected answer {body}"))
}

/// Logical id → physical id of every resource of the stage's deployed stacks.
async fn deployed_ids(stage: &Stage) -> Result<Vec<(String, String)>> {
    let clients = aws::Clients::new(stage).await;
    let mut out = Vec::new();
    for stack in infra::synth_stage(stage, None)? {
        let ids = deployed::physical_ids(&clients.cfn, &stack.name).await?;
        out.extend(ids.into_iter().flatten());
    }
    Ok(out)
}

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// The topic the operator means: an ARN, a name, a name without the `-<stage>` suffix, or the
/// logical id of a deployed topic.
pub fn resolve(
    query: &str,
    stage: &str,
    topics: &[String],
    logical: &[(String, String)],
) -> Option<String> {
    let suffixed = format!("{query}-{stage}");
    topics
        .iter()
        .find(|t| t.as_str() == query)
        .or_else(|| topics.iter().find(|t| name_of(t) == query))
        .or_else(|| topics.iter().find(|t| name_of(t) == suffixed))
        .or_else(|| {
            logical
                .iter()
                .filter(|(id, _)| id == query)
                .find_map(|(_, physical)| topics.iter().find(|t| *t == physical))
        })
        .cloned()
}

/// The messages as an operator reads them: time, subject, the message (pretty when JSON).
pub fn render(p: &Published) -> String {
    let mut out = String::new();
    for m in &p.messages {
        let time = m.timestamp.as_deref().unwrap_or("(time unknown)");
        let subject = m.subject.as_deref().unwrap_or("(no subject)");
        out.push_str(&format!("{} {}\n", ui::dim(time), ui::bold(subject)));
        let body = serde_json::from_str::<Value>(&m.message)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| m.message.clone());
        for line in body.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        if m.message_attributes
            .as_object()
            .is_some_and(|a| !a.is_empty())
        {
            out.push_str(&format!(
                "  {} {}\n",
                ui::dim("attributes"),
                m.message_attributes
            ));
        }
    }
    out.push_str(&format!(
        "{} message(s) on {}\n",
        p.messages.len(),
        p.topic_arn
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_found_by_arn_name_short_name_or_logical_id() {
        let arn = "arn:aws:sns:us-east-1:123456789012:canvas-data-summary-local".to_string();
        let other = "arn:aws:sns:us-east-1:123456789012:alarms-local".to_string();
        let topics = vec![other.clone(), arn.clone()];
        let logical = vec![("SummaryTopic".to_string(), arn.clone())];
        for q in [
            arn.as_str(),
            "canvas-data-summary-local",
            "canvas-data-summary",
            "SummaryTopic",
        ] {
            assert_eq!(
                resolve(q, "local", &topics, &logical),
                Some(arn.clone()),
                "{q}"
            );
        }
        assert_eq!(resolve("nope", "local", &topics, &logical), None);
    }

    #[test]
    fn json_messages_are_pretty_printed_under_their_time_and_subject() {
        let p = Published {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
            messages: vec![
                Message {
                    message_id: "1".into(),
                    subject: Some("Canvas Data refresh summary".into()),
                    message: r#"{"counts":{"failed":0}}"#.into(),
                    message_attributes: Value::Null,
                    message_group_id: None,
                    timestamp: Some("2026-11-26T17:30:34.254Z".into()),
                },
                Message {
                    message_id: "2".into(),
                    subject: None,
                    message: "plain text".into(),
                    message_attributes: serde_json::json!({}),
                    message_group_id: None,
                    timestamp: None,
                },
            ],
        };
        let text = render(&p);
        assert!(
            text.starts_with(
                "2026-11-26T17:30:34.254Z Canvas Data refresh summary\n  {\n    \"counts\": {\n      \"failed\": 0\n    }\n  }\n"
            ),
            "{text}"
        );
        assert!(text.contains("(no subject)\n  plain text\n"), "{text}");
        assert!(text.ends_with("2 message(s) on arn:aws:sns:us-east-1:123456789012:t\n"));
    }
}
