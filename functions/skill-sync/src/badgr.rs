//! Badgr's API v2: one password-grant token per run (renewed once on a 401), then the issuer's
//! badge classes and assertions, following `Link: <…>; rel="next"` to the last page.

use serde::Serialize;
use serde_json::Value;
use support::Secret;
use tokio::sync::Mutex;

use crate::http::{checked, json, sent};
use crate::Error;

const SERVICE: &str = "Badgr";

#[derive(Debug, Clone)]
pub struct BadgrSettings {
    pub api_url: String,
    pub issuer_id: String,
    pub username: String,
    pub password: Secret,
    pub scope: String,
    pub grant_type: String,
    pub client_id: String,
}

pub struct Badgr {
    http: reqwest::Client,
    s: BadgrSettings,
    token: Mutex<Option<Secret>>,
}

#[derive(Serialize)]
struct TokenForm<'a> {
    username: &'a str,
    password: &'a str,
    scope: &'a str,
    grant_type: &'a str,
    client_id: &'a str,
}

impl Badgr {
    pub fn new(http: reqwest::Client, mut s: BadgrSettings) -> Badgr {
        s.api_url = s.api_url.trim_end_matches('/').into();
        Badgr {
            http,
            s,
            token: Mutex::new(None),
        }
    }

    async fn login(&self) -> Result<Secret, Error> {
        let url = format!("{}/o/token/", self.s.api_url);
        let form = TokenForm {
            username: &self.s.username,
            password: self.s.password.expose(),
            scope: &self.s.scope,
            grant_type: &self.s.grant_type,
            client_id: &self.s.client_id,
        };
        let r = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(sent(SERVICE, &url))?;
        let body = json(SERVICE, &url, checked(SERVICE, &url, r).await?).await?;
        match body["access_token"].as_str() {
            Some(t) if !t.is_empty() => Ok(Secret::new(t)),
            _ => Err(Error::Decode {
                service: SERVICE,
                url,
                message: "no access_token in the token answer".into(),
            }),
        }
    }

    /// The run's token; a new one when `renew` (the old one got a 401).
    async fn token(&self, renew: bool) -> Result<Secret, Error> {
        let mut held = self.token.lock().await;
        if renew || held.is_none() {
            *held = Some(self.login().await?);
        }
        Ok(held.clone().expect("set above"))
    }

    pub async fn badge_classes(&self) -> Result<Vec<Value>, Error> {
        self.all(&format!(
            "{}/v2/issuers/{}/badgeclasses",
            self.s.api_url, self.s.issuer_id
        ))
        .await
    }

    /// Revoked and expired assertions too: the open-source server leaves them out unless asked,
    /// and a revocation must reach `assertions.revoked`.
    pub async fn assertions(&self) -> Result<Vec<Value>, Error> {
        self.all(&format!(
            "{}/v2/issuers/{}/assertions?include_revoked=true&include_expired=true",
            self.s.api_url, self.s.issuer_id
        ))
        .await
    }

    async fn all(&self, first: &str) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(Error::Decode {
                    service: SERVICE,
                    url,
                    message: "more than 10000 pages; the next links loop".into(),
                });
            }
            // a token that stops working mid-run (expired, revoked) is renewed once
            let mut renew = false;
            let response = loop {
                let token = self.token(renew).await?;
                let r = self
                    .http
                    .get(&url)
                    .header("Content-Type", "application/json")
                    .bearer_auth(token.expose())
                    .send()
                    .await
                    .map_err(sent(SERVICE, &url))?;
                if r.status() == reqwest::StatusCode::UNAUTHORIZED && !renew {
                    renew = true;
                    continue;
                }
                break r;
            };
            next = next_link(response.headers());
            let body = json(SERVICE, &url, checked(SERVICE, &url, response).await?).await?;
            match body["result"].as_array() {
                Some(items) => out.extend(items.iter().cloned()),
                None => {
                    return Err(Error::Decode {
                        service: SERVICE,
                        url,
                        message: "no `result` list".into(),
                    })
                }
            }
        }
        Ok(out)
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288).
pub fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            is_next.then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
        })
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue, LINK};

    use super::next_link;

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                "<https://api.badgr.io/v2/x?num=2&after=a>; rel=\"prev\", <https://api.badgr.io/v2/x?num=2&after=b>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.badgr.io/v2/x?num=2&after=b")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
