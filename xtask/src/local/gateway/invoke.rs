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
            client: support::tls::http_client(),
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
        let service_error = response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(|t| t.split(':').next().unwrap_or(t).to_string());
        let payload = response.bytes().await?.to_vec();
        if !status.is_success() {
            // the type only: the answer's message may quote the function's error document,
            // which goes no further than the function's own log
            let kind = service_error
                .or_else(|| error_type(&payload))
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            bail!("the Lambda service answered {status}{kind} for {function}");
        }
        Ok(match error {
            Some(kind) => Outcome::FunctionError { kind },
            None => Outcome::Payload(payload),
        })
    }
}

/// The error type of a JSON error answer (`errorType`, `__type` or `Type`), never its message.
fn error_type(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    ["errorType", "__type", "Type"].iter().find_map(|k| {
        let t = v.get(*k)?.as_str()?;
        (t.len() <= 100 && !t.contains(char::is_whitespace)).then(|| t.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    /// A Lambda service whose every answer is `status` with an error document carrying a
    /// secret in its message.
    async fn service(status: StatusCode, function_error: bool) -> String {
        let app = axum::Router::new().fallback(move || async move {
            let body = axum::Json(serde_json::json!({
                "errorType": "Runtime.Secret",
                "errorMessage": "password=hunter2",
            }));
            let mut r = (status, body).into_response();
            if function_error {
                r.headers_mut()
                    .insert("X-Amz-Function-Error", "Unhandled".parse().unwrap());
            }
            r
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn error_answers_are_reported_by_type_and_status_without_their_message() {
        let lambda = Lambda::new(service(StatusCode::INTERNAL_SERVER_ERROR, false).await);
        let e = lambda
            .invoke("f", &serde_json::json!({}))
            .await
            .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("500") && text.contains("Runtime.Secret"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");

        let lambda = Lambda::new(service(StatusCode::OK, true).await);
        match lambda.invoke("f", &serde_json::json!({})).await.unwrap() {
            Outcome::FunctionError { kind } => assert_eq!(kind, "Unhandled"),
            other => panic!("{other:?}"),
        }
    }
}
