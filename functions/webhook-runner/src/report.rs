//! Progress reports to Amperity: `PUT {callback_url}{webhook_id}`.

use std::time::Duration;

use serde_json::json;

use crate::job::Job;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Succeeded,
    Failed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the Amperity callback answered HTTP {status}")]
    Status { status: u16 },
    #[error("the Amperity callback could not be reached: {0}")]
    Transport(String),
}

impl CallbackError {
    /// A 4xx other than 408 and 429: the token or the webhook is wrong, and asking again later
    /// gets the same answer.
    pub fn is_refusal(&self) -> bool {
        matches!(self, CallbackError::Status { status } if (400..500).contains(status) && *status != 408 && *status != 429)
    }
}

/// At most this many new errors go in one report.
pub const ERRORS_PER_REPORT: usize = 10;

/// PUT one report; `timeout` bounds the whole call, retries included.
pub async fn send(
    http: &reqwest::Client,
    job: &Job,
    state: State,
    progress: f64,
    errors: &[String],
    reason: Option<&str>,
    timeout: Duration,
) -> Result<(), CallbackError> {
    let url = format!("{}{}", job.callback_url, job.webhook_id);
    let mut body = json!({
        "state": state.as_str(),
        "progress": progress.clamp(0.0, 1.0),
        "errors": &errors[..errors.len().min(ERRORS_PER_REPORT)],
    });
    if let Some(r) = reason {
        body["reason"] = r.into();
    }
    let until = std::time::Instant::now() + timeout;
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        let left = until.saturating_duration_since(std::time::Instant::now());
        let mut req = http
            .put(&url)
            .bearer_auth(job.access_token.expose())
            .timeout(left.max(Duration::from_millis(1)))
            .json(&body);
        if let Some(t) = &job.tenant_id {
            req = req.header("X-Amperity-Tenant", t);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            // 502/503/504 are retried three times, within the time given
            Ok(r)
                if matches!(r.status().as_u16(), 502..=504)
                    && attempt <= 3
                    && std::time::Instant::now() + Duration::from_millis(400 * attempt) < until =>
            {
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Ok(r) => {
                return Err(CallbackError::Status {
                    status: r.status().as_u16(),
                })
            }
            Err(e) => return Err(CallbackError::Transport(e.without_url().to_string())),
        }
    }
}
