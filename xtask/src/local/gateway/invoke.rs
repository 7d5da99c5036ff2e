//! Synchronous invocations through the local Lambda service, as API Gateway's AWS_PROXY
//! integrations and authorizers make them.

use anyhow::{bail, Context, Result};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Lambda {
    client: reqwest::Client,
    endpoint: String,
}

/// A completed invocation.
#[derive(Debug)]
pub enum Outcome {
    Payload(Vec<u8>),
    /// `X-Amz-Function-Error` was set. The error document stays out of the gateway's log: it
    /// is the function's to log, and may carry what it was processing.
    FunctionError {
        kind: String,
    },
}

impl Lambda {
    pub fn new(endpoint: String) -> Lambda {
        Lambda {
            client: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    /// `Err` when the Lambda service could not run the function at all (unknown function,
    /// service down): API Gateway reports that as an integration failure.
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Outcome> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.endpoint
        );
        let response = self
            .client
            .post(&url)
            .header("X-Amz-Invocation-Type", "RequestResponse")
            .body(serde_json::to_vec(event)?)
            .send()
            .await
            .with_context(|| format!("invoking {function} through {}", self.endpoint))?;
        let status = response.status();
        let error = response
            .headers()
            .get("X-Amz-Function-Error")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let payload = response.bytes().await?.to_vec();
        if !status.is_success() {
            bail!(
                "the Lambda service answered {status} for {function}: {}",
                String::from_utf8_lossy(&payload)
            );
        }
        Ok(match error {
            Some(kind) => Outcome::FunctionError { kind },
            None => Outcome::Payload(payload),
        })
    }
}
