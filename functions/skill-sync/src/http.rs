//! The one HTTP client every source uses: rustls, timeouts on connecting and on each request (the
//! original had none, so a hung source burned the whole Lambda timeout), redirects followed (GitHub
//! answers a zipball with a redirect to codeload; reqwest drops `Authorization` when a redirect
//! leaves the host).

use std::time::Duration;

use crate::Error;

pub fn client() -> reqwest::Client {
    support::tls::http_builder()
        .user_agent(concat!("skill-sync/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .expect("a TLS backend is compiled in")
}

/// `Err(Status)` with the start of the body for a non-2xx answer.
pub(crate) async fn checked(
    service: &'static str,
    url: &str,
    r: reqwest::Response,
) -> Result<reqwest::Response, Error> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status().as_u16();
    let body: String = r
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    Err(Error::Status {
        service,
        url: url.into(),
        status,
        body,
    })
}

pub(crate) fn sent(service: &'static str, url: &str) -> impl FnOnce(reqwest::Error) -> Error {
    let url = url.to_string();
    move |source| Error::Http {
        service,
        url,
        source,
    }
}

pub(crate) async fn json(
    service: &'static str,
    url: &str,
    r: reqwest::Response,
) -> Result<serde_json::Value, Error> {
    let body = r.bytes().await.map_err(sent(service, url))?;
    serde_json::from_slice(&body).map_err(|e| Error::Decode {
        service,
        url: url.into(),
        message: format!("not JSON ({e})"),
    })
}
