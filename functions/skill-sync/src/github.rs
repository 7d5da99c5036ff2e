//! GitHub: the commit a release ref points at (one small request, to tell whether the release
//! changed) and its zipball. A token is optional: it lifts the anonymous rate limit and reaches
//! private template repositories.

use support::Secret;

use crate::http::{checked, sent};
use crate::Error;

const SERVICE: &str = "GitHub";

pub struct GitHub {
    http: reqwest::Client,
    api_url: String,
    /// The organization of the template repositories (the original hard-codes it).
    org: String,
    token: Option<Secret>,
}

impl GitHub {
    pub fn new(http: reqwest::Client, api_url: &str, org: &str, token: Option<Secret>) -> GitHub {
        GitHub {
            http,
            api_url: api_url.trim_end_matches('/').into(),
            org: org.into(),
            token: token.filter(|t| !t.expose().is_empty()),
        }
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let r = self
            .http
            .get(url)
            .header("X-GitHub-Api-Version", "2022-11-28");
        match &self.token {
            Some(t) => r.bearer_auth(t.expose()),
            None => r,
        }
    }

    /// The commit sha `reference` (tag, branch or sha) resolves to, as 40 hex digits.
    pub async fn commit(&self, repo: &str, reference: &str) -> Result<String, Error> {
        let url = format!(
            "{}/repos/{}/{repo}/commits/{reference}",
            self.api_url, self.org
        );
        let r = self
            .get(&url)
            // the bare sha instead of the commit's JSON
            .header("Accept", "application/vnd.github.sha")
            .send()
            .await
            .map_err(sent(SERVICE, &url))?;
        let sha = checked(SERVICE, &url, r)
            .await?
            .text()
            .await
            .map_err(sent(SERVICE, &url))?;
        let sha = sha.trim().to_string();
        if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(sha)
        } else {
            Err(Error::Decode {
                service: SERVICE,
                url,
                message: "not a commit sha".into(),
            })
        }
    }

    /// `GET /repos/{org}/{repo}/zipball/{ref}`, following the redirect to codeload; refused
    /// past `max_bytes`.
    pub async fn zipball(
        &self,
        repo: &str,
        reference: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, Error> {
        let url = format!(
            "{}/repos/{}/{repo}/zipball/{reference}",
            self.api_url, self.org
        );
        let mut r = checked(
            SERVICE,
            &url,
            self.get(&url).send().await.map_err(sent(SERVICE, &url))?,
        )
        .await?;
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(sent(SERVICE, &url))? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > max_bytes {
                return Err(Error::Zip {
                    release: format!("{repo}@{reference}"),
                    message: format!("larger than {max_bytes} bytes"),
                });
            }
        }
        Ok(body)
    }
}
