//! How a call travels (spec §2.1): a JSON POST of `{"query","variables"}` to the endpoint, with
//! the caller's credentials and the stage's secret header, and a per-request timeout (the
//! original had none, so a hung server used up the whole Lambda, §10.2 #22). Tokens and the
//! secret header's value reach only the wire: never a log line, never an error.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use support::Secret;

/// Who a call acts for.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// The end user's JWT as `Authorization: Bearer <jwt>`. The original sends this on every
    /// call, replaying it in the asynchronous steps.
    User(Secret),
    /// A server-to-server key: `Authorization: Bearer <key>` plus `mentor-graphql-req: true`,
    /// which makes mentor-graphql use its API-key strategy instead of the JWT one. The original
    /// never sends this; it exists for steps that must not depend on a user's token staying valid.
    ServiceKey(Secret),
}

impl Credentials {
    pub fn user(jwt: impl Into<String>) -> Credentials {
        Credentials::User(Secret::new(jwt))
    }

    pub fn service_key(key: impl Into<String>) -> Credentials {
        Credentials::ServiceKey(Secret::new(key))
    }
}

/// The header mentor-graphql reads to choose its API-key strategy.
pub const SERVICE_REQUEST_HEADER: &str = "mentor-graphql-req";

/// The stage's extra header (`SECRET_HEADER_NAME: SECRET_HEADER_VALUE`), sent on every call.
#[derive(Debug, Clone)]
pub struct SecretHeader {
    name: HeaderName,
    value: Secret,
}

impl SecretHeader {
    /// Refuses what cannot be a header, instead of sending the literal `None` the original sent
    /// for an unset parameter.
    pub fn new(name: &str, value: Secret) -> Result<SecretHeader, InvalidSecretHeader> {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| InvalidSecretHeader::Name(name.to_string()))?;
        if value.expose().is_empty() || HeaderValue::from_str(value.expose()).is_err() {
            return Err(InvalidSecretHeader::Value(name.to_string()));
        }
        Ok(SecretHeader { name, value })
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvalidSecretHeader {
    #[error("the GraphQL secret header name {0:?} is not a valid HTTP header name")]
    Name(String),
    #[error("the value of the GraphQL secret header {0} is empty or not a valid header value")]
    Value(String),
}

/// Which operation a call was: its name and root fields, since names repeat across documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    pub fields: &'static str,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.fields)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GraphqlError {
    #[error("GraphQL {operation}: the request to {endpoint} failed: {source}")]
    Send {
        operation: Operation,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GraphQL {operation}: HTTP {status}: {body}")]
    Status {
        operation: Operation,
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    #[error("GraphQL {operation}: {}", messages.join("; "))]
    Graphql {
        operation: Operation,
        messages: Vec<String>,
    },
    #[error("GraphQL {operation}: unexpected answer: {message}")]
    Decode {
        operation: Operation,
        message: String,
    },
}

impl GraphqlError {
    pub fn operation(&self) -> Operation {
        match self {
            GraphqlError::Send { operation, .. }
            | GraphqlError::Status { operation, .. }
            | GraphqlError::Graphql { operation, .. }
            | GraphqlError::Decode { operation, .. } => *operation,
        }
    }

    /// The HTTP status, when the server answered with one of 400 and above.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphqlError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server refused the credentials (HTTP 401/403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }
}

#[derive(Serialize)]
struct Request<'a, V> {
    query: &'a str,
    variables: &'a V,
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<serde_json::Value>,
    #[serde(default)]
    errors: Option<Vec<ErrorItem>>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    message: String,
    #[serde(default)]
    path: Option<Vec<serde_json::Value>>,
}

impl ErrorItem {
    fn describe(&self) -> String {
        match &self.path {
            Some(path) if !path.is_empty() => {
                let path: Vec<String> = path
                    .iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                    .collect();
                format!("{} (at {})", self.message, path.join("."))
            }
            _ => self.message.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Transport {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub secret_header: Option<SecretHeader>,
    pub timeout: Duration,
}

impl Transport {
    pub async fn execute<V: Serialize, D: DeserializeOwned>(
        &self,
        operation: Operation,
        document: &str,
        credentials: &Credentials,
        variables: &V,
    ) -> Result<D, GraphqlError> {
        let mut request = self
            .http
            .post(&self.endpoint)
            .timeout(self.timeout)
            .json(&Request {
                query: document,
                variables,
            });
        request = match credentials {
            Credentials::User(jwt) => request.header(AUTHORIZATION, bearer(jwt)),
            Credentials::ServiceKey(key) => request
                .header(AUTHORIZATION, bearer(key))
                .header(SERVICE_REQUEST_HEADER, "true"),
        };
        if let Some(h) = &self.secret_header {
            let mut value = HeaderValue::from_str(h.value.expose()).expect("checked in new");
            value.set_sensitive(true);
            request = request.header(h.name.clone(), value);
        }
        tracing::debug!(%operation, "GraphQL call");
        let response = request.send().await.map_err(|source| GraphqlError::Send {
            operation,
            endpoint: self.endpoint.clone(),
            source: source.without_url(),
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| GraphqlError::Send {
                operation,
                endpoint: self.endpoint.clone(),
                source: source.without_url(),
            })?;
        if status.as_u16() >= 400 {
            let body: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            tracing::warn!(%operation, status = status.as_u16(), "GraphQL call refused");
            return Err(GraphqlError::Status {
                operation,
                status: status.as_u16(),
                body,
            });
        }
        // Errors first: with errors, `data` may be null or partial and fail to decode as `D`.
        let envelope: Envelope =
            serde_json::from_slice(&body).map_err(|e| GraphqlError::Decode {
                operation,
                message: e.to_string(),
            })?;
        if let Some(errors) = envelope.errors.filter(|e| !e.is_empty()) {
            let messages: Vec<String> = errors.iter().map(ErrorItem::describe).collect();
            tracing::warn!(%operation, errors = messages.len(), "GraphQL errors");
            return Err(GraphqlError::Graphql {
                operation,
                messages,
            });
        }
        let data = envelope.data.ok_or_else(|| GraphqlError::Decode {
            operation,
            message: "no data and no errors".into(),
        })?;
        serde_json::from_value(data).map_err(|e| GraphqlError::Decode {
            operation,
            message: e.to_string(),
        })
    }
}

fn bearer(token: &Secret) -> HeaderValue {
    // A token that cannot be a header value is sent as an empty bearer, which the server
    // refuses with a status this client reports, rather than a panic or an echo of the token.
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer "));
    value.set_sensitive(true);
    value
}
