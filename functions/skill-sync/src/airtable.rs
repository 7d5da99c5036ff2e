//! Airtable's REST API: every record of the base's `assessments` table, page by page (`offset`),
//! at most 5 requests a second per base as Airtable asks, and after a 429 the 30 seconds Airtable
//! says it takes before requests succeed again.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use support::Secret;

use crate::http::{checked, json, sent};
use crate::Error;

const SERVICE: &str = "Airtable";
/// The table the app reads; the original asks for this literal, lower-case name.
pub const TABLE: &str = "assessments";

#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Between two requests: 5 per second per base.
    pub interval: Duration,
    /// After a 429.
    pub throttled_wait: Duration,
    /// 429s in a row before the step fails.
    pub max_throttled: u32,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            interval: Duration::from_millis(200),
            throttled_wait: Duration::from_secs(30),
            max_throttled: 3,
        }
    }
}

pub struct Airtable {
    http: reqwest::Client,
    api_url: String,
    base_id: String,
    token: Secret,
    pub pacing: Pacing,
}

impl Airtable {
    pub fn new(http: reqwest::Client, api_url: &str, base_id: &str, token: Secret) -> Airtable {
        Airtable {
            http,
            api_url: api_url.trim_end_matches('/').into(),
            base_id: base_id.into(),
            token,
            pacing: Pacing::default(),
        }
    }

    /// The `fields` of every record, in Airtable's order.
    pub async fn assessments(&self) -> Result<Vec<Map<String, Value>>, Error> {
        let url = format!("{}/v0/{}/{TABLE}", self.api_url, self.base_id);
        let mut records = Vec::new();
        let mut offset: Option<String> = None;
        let mut last: Option<Instant> = None;
        let mut throttled = 0;
        loop {
            if let Some(at) = last {
                tokio::time::sleep(self.pacing.interval.saturating_sub(at.elapsed())).await;
            }
            last = Some(Instant::now());
            let mut request = self.http.get(&url).bearer_auth(self.token.expose());
            if let Some(o) = &offset {
                request = request.query(&[("offset", o)]);
            }
            let response = request.send().await.map_err(sent(SERVICE, &url))?;
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
                && throttled < self.pacing.max_throttled
            {
                throttled += 1;
                tracing::warn!(
                    "Airtable answered 429; waiting {:?} as it asks",
                    self.pacing.throttled_wait
                );
                tokio::time::sleep(self.pacing.throttled_wait).await;
                continue;
            }
            throttled = 0;
            let page = json(SERVICE, &url, checked(SERVICE, &url, response).await?).await?;
            let Some(list) = page["records"].as_array() else {
                return Err(Error::Decode {
                    service: SERVICE,
                    url,
                    message: "no `records` list".into(),
                });
            };
            for r in list {
                if let Some(fields) = r["fields"].as_object() {
                    records.push(fields.clone());
                }
            }
            match page["offset"].as_str() {
                Some(o) => offset = Some(o.to_string()),
                None => return Ok(records),
            }
        }
    }
}
