//! Fakes of third-party APIs for the local stage, so local invocations return data without
//! reaching the internet. Run as a background process of `cargo xtask local up`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use infra::stage::Stage;

use crate::project_root;

/// The token the fake MIPS hands out and then requires.
const TOKEN: &str = "local-mips-token";

#[derive(Clone)]
struct Data {
    dir: PathBuf,
}

impl Data {
    fn file(&self, name: &str) -> Response {
        match std::fs::read_to_string(self.dir.join(name)) {
            Ok(body) => ([("content-type", "application/json")], body).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("Authorization-Token")
        .is_some_and(|v| v == TOKEN)
}

async fn login(body: axum::Json<Value>) -> Response {
    let has = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    if !(has("username") && has("password") && has("org")) {
        return (
            StatusCode::UNAUTHORIZED,
            "username, password and org are required",
        )
            .into_response();
    }
    axum::Json(serde_json::json!({ "AccessToken": TOKEN })).into_response()
}

async fn segments(State(d): State<Data>, h: HeaderMap) -> Response {
    if !authorized(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    d.file("segments.json")
}

async fn accounts(State(d): State<Data>, h: HeaderMap) -> Response {
    if !authorized(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    d.file("accounts.json")
}

/// The `GetAccountBalances` body MIPS expects (docs/mips-cache.md), for the dates given.
fn balances_body(from: &str, to: &str) -> Value {
    serde_json::json!({
        "BOInformation": {"constructor": {}, "ModelFields": {
            "fields": [{"DISPBAL_DATEFROM": from}, {"DISPBAL_DATETO": to}],
            "DISPBAL_SEGINFO": [{"fields": [
                {"GRID_PHY_ID": 0}, {"FILTER_SELECT": true}, {"FILTER_ORDER": -1},
                {"FILTER_FIX": false}, {"FILTER_DATATYPE": 10}, {"FILTER_FIELDTYPE": 40},
                {"FILTER_ITEM": "GL"}, {"FILTER_OPERATOR": "<>"},
                {"FILTER_CRITERIA1": "<Blank>"}, {"FILTER_CRITERIA2": ""}
            ]}]
        }},
        "MethodParameters": {"strJson": "{\"level\":1}"}
    })
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

async fn balances(State(d): State<Data>, h: HeaderMap, body: axum::Json<Value>) -> Response {
    if !authorized(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let date = |i: usize, k: &str| {
        body.pointer(&format!("/BOInformation/ModelFields/fields/{i}/{k}"))
            .and_then(Value::as_str)
            .filter(|v| is_date(v))
            .map(str::to_string)
    };
    let (Some(from), Some(to)) = (date(0, "DISPBAL_DATEFROM"), date(1, "DISPBAL_DATETO")) else {
        return (
            StatusCode::BAD_REQUEST,
            "DISPBAL_DATEFROM/DISPBAL_DATETO as YYYY-MM-DD",
        )
            .into_response();
    };
    if body.0 != balances_body(&from, &to) {
        return (
            StatusCode::BAD_REQUEST,
            "not the GetAccountBalances body of the GL segment",
        )
            .into_response();
    }
    d.file("balances.json")
}

async fn logout(h: HeaderMap) -> StatusCode {
    if authorized(&h) {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// Serve the fakes on their ports until killed.
pub async fn serve(mips: Option<u16>, dap: Option<u16>) -> Result<()> {
    let mips = async {
        match mips {
            Some(port) => serve_mips(port).await,
            None => std::future::pending().await,
        }
    };
    let dap = async {
        match dap {
            Some(port) => canvas_data::fake::local_stage()
                .serve(port)
                .await
                .with_context(|| format!("serving the fake DAP API on 127.0.0.1:{port}")),
            None => std::future::pending().await,
        }
    };
    tokio::try_join!(mips, dap)?;
    Ok(())
}

/// Where `local serve` runs skill-sync's fakes.
pub struct SkillSyncPorts {
    pub airtable: Option<u16>,
    pub badgr: Option<u16>,
    pub github: Option<u16>,
}

/// Serve skill-sync's fakes of Airtable, Badgr and GitHub (the sample data of
/// `skill_sync::fake::sample`) on the ports given, until killed.
pub async fn serve_skill_sync(
    airtable: Option<u16>,
    badgr: Option<u16>,
    github: Option<u16>,
) -> Result<()> {
    if airtable.is_none() && badgr.is_none() && github.is_none() {
        return std::future::pending().await;
    }
    skill_sync::fake::sample()
        .serve(airtable, badgr, github)
        .await
        .context("serving the fake Airtable, Badgr and GitHub")
}

/// Serve the MIPS fake on `port` until killed.
async fn serve_mips(port: u16) -> Result<()> {
    let data = Data {
        dir: project_root().join("functions/mips-cache/fake"),
    };
    let app = Router::new()
        .route("/api/v1/sso/mipadv/login", post(login))
        .route("/api/coa/segments", get(segments))
        .route("/api/coa/segments/accounts", get(accounts))
        .route(
            "/api/model/CBODispBal/methods/GetAccountBalances",
            post(balances),
        )
        .route("/api/security/logout", post(logout))
        .with_state(data);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the fake MIPS to 127.0.0.1:{port}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// Where `local serve` runs upload-processor's fake mentor GraphQL: the next port after
/// skill-sync's fakes. (The stage has no upload-processor settings naming it yet; when it has,
/// `served` should read the port from its GraphQL URL as it does for the others.)
pub const GRAPHQL_PORT: u16 = 5106;

/// Serve upload-processor's fake mentor GraphQL (`upload_processor::fake`, its default JWT
/// secret and API key) on `port` until killed. When the stage names a secret header, the fake
/// refuses calls without it, with the value the local seed gives its secret.
pub async fn serve_graphql(stage: &Stage, port: Option<u16>) -> Result<()> {
    let Some(port) = port else {
        return std::future::pending().await;
    };
    let config = upload_processor::fake::FakeConfig {
        secret_header: stage
            .services
            .upload_processor
            .graphql_secret_header(stage)
            .map(|(name, _)| {
                (
                    name,
                    upload_processor::fake::SECRET_HEADER_VALUE.to_string(),
                )
            }),
        ..Default::default()
    };
    upload_processor::fake::serve_with(config, ([127, 0, 0, 1], port).into())
        .await
        .with_context(|| format!("serving the fake mentor GraphQL on 127.0.0.1:{port}"))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_graphql_fake_serves_graphql_and_its_seeding_routes() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let local = crate::synth::load_stage("local").unwrap();
        let served_stage = local.clone();
        tokio::spawn(async move { super::serve_graphql(&served_stage, Some(port)).await });
        let base = format!("http://127.0.0.1:{port}");
        let http = support::tls::http_client();
        let mut calls = None;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/_fake/calls")).send().await {
                calls = Some(r.json::<serde_json::Value>().await.unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(calls, Some(serde_json::json!([])));
        // every GraphQL call is recorded, for the end-to-end test to read back; the local
        // stage names a secret header, so a call without it is refused
        let (name, _) = local
            .services
            .upload_processor
            .graphql_secret_header(&local)
            .expect("local.yaml names a GraphQL secret header");
        let query = serde_json::json!({"query": "{ question(id: \"q\") { name } }"});
        let without = http
            .post(format!("{base}/graphql"))
            .json(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(without.status(), 403);
        let with = http
            .post(format!("{base}/graphql"))
            .header(&name, upload_processor::fake::SECRET_HEADER_VALUE)
            .json(&query)
            .send()
            .await
            .unwrap();
        assert_ne!(with.status(), 403, "{}", with.text().await.unwrap());
        let calls: serde_json::Value = http
            .get(format!("{base}/_fake/calls"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(calls.as_array().map(Vec::len), Some(2), "{calls}");
        let served = super::super::served(&local);
        assert!(
            served.contains(&("fake GraphQL", super::GRAPHQL_PORT, "--graphql-port")),
            "{served:?}"
        );
    }
}
