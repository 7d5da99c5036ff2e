//! The stage's access log: one JSON line per request in the format the template gives the
//! `$default` stage, written to stderr (the local stage's background log).

use serde::Serialize;

/// Field for field the stage's `AccessLogSettings.Format`; like API Gateway's `$context`
/// variables every value is text and an empty one is `-`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLine {
    pub request_id: String,
    pub route_key: String,
    pub status: String,
    pub latency: String,
    pub integration_error: String,
}

impl AccessLine {
    pub fn new(
        request_id: &str,
        route_key: Option<&str>,
        status: u16,
        latency_ms: u128,
        integration_error: Option<&str>,
    ) -> AccessLine {
        let or_dash = |v: Option<&str>| {
            v.filter(|v| !v.is_empty())
                .map_or_else(|| "-".to_string(), str::to_string)
        };
        AccessLine {
            request_id: request_id.to_string(),
            route_key: or_dash(route_key),
            status: status.to_string(),
            latency: latency_ms.to_string(),
            integration_error: or_dash(integration_error),
        }
    }

    pub fn emit(&self) {
        if let Ok(line) = serde_json::to_string(self) {
            eprintln!("{line}");
        }
    }
}
