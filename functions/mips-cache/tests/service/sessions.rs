//! Every MIPS session ends with a logout: through the client the functions build, on success,
//! on an upstream error and when a call hangs.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::fake::{self, item, success, TOKEN};
use crate::{call, env, env_with, get};

#[tokio::test]
async fn each_upstream_call_has_the_documented_shape() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    e.mips
        .balances(
            "2024-06-01",
            "2024-06-20",
            success(vec![item("1000", 1, 1.0, "B")]),
        )
        .await;
    let (status, _, body) = call(&e.app, get("/balances", &[("target_date", "2024-06-20")])).await;
    assert_eq!(status, 200, "{body}");
    let requests = e.mips.server.received_requests().await.unwrap();
    let calls: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_string()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST".to_string(), fake::LOGIN.to_string()),
            ("GET".into(), fake::SEGMENTS.into()),
            ("GET".into(), fake::ACCOUNTS.into()),
            ("POST".into(), fake::BALANCES.into()),
            ("POST".into(), fake::LOGOUT.into()),
        ]
    );
    let login: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        login,
        json!({"username": "svc", "password": "s3cret-pw", "org": "ORG1"})
    );
    assert!(requests[0].headers.get("Authorization-Token").is_none());
    for r in &requests[1..] {
        assert_eq!(
            r.headers
                .get("Authorization-Token")
                .map(|v| v.to_str().unwrap()),
            Some(TOKEN),
            "{} {}",
            r.method,
            r.url.path()
        );
    }
    let balances: Value = serde_json::from_slice(&requests[3].body).unwrap();
    assert_eq!(balances, fake::balances_body("2024-06-01", "2024-06-20"));
    assert_eq!(
        requests[3]
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
}

/// Run one request against a MIPS set up by `mount`; return (logins, logouts, HTTP status).
async fn session_of(
    mount: impl AsyncFnOnce(&crate::fake::Mips),
    deadline: Instant,
    call_timeout: Option<Duration>,
) -> (usize, usize, i64) {
    let e = env_with(|c| {
        if let Some(t) = call_timeout {
            c.timeouts.call = t;
        }
    })
    .await;
    mount(&e.mips).await;
    let r = e.app.handle(get("/accounts", &[]), deadline).await.unwrap();
    let (logins, logouts) = e.mips.logins_and_logouts().await;
    (logins, logouts, r["statusCode"].as_i64().unwrap())
}

#[tokio::test]
async fn logins_equal_logouts_on_success_error_and_timeouts() {
    let soon = || Instant::now() + Duration::from_secs(30);
    let hang = ResponseTemplate::new(200)
        .set_body_json(fake::segments())
        .set_delay(Duration::from_secs(60));

    let ok = session_of(
        async |m| {
            m.sessions().await;
            m.chart().await;
        },
        soon(),
        None,
    )
    .await;
    assert_eq!(ok, (1, 1, 200), "success");

    let error = session_of(
        async |m| {
            m.sessions().await;
            m.get(fake::SEGMENTS, ResponseTemplate::new(503)).await;
        },
        soon(),
        None,
    )
    .await;
    assert_eq!(
        error,
        (1, 1, 502),
        "upstream error (retried once, same session)"
    );

    let denied = session_of(
        async |m| {
            m.sessions().await;
            m.get(fake::SEGMENTS, ResponseTemplate::new(401)).await;
        },
        soon(),
        None,
    )
    .await;
    assert_eq!(denied, (1, 1, 502), "an error not worth retrying");

    // the request's deadline: data calls stop at the logout's reserve, the logout still runs
    let reserve = mips_cache::mips::Timeouts::default().logout_reserve;
    let cut = session_of(
        async |m| {
            m.sessions().await;
            m.get(fake::SEGMENTS, hang.clone()).await;
        },
        Instant::now() + reserve + Duration::from_secs(1),
        None,
    )
    .await;
    assert_eq!(cut, (1, 1, 502), "deadline mid-call");

    // each call's own timeout, with its retry
    let slow = session_of(
        async |m| {
            m.sessions().await;
            m.get(fake::SEGMENTS, hang.clone()).await;
        },
        soon(),
        Some(Duration::from_millis(300)),
    )
    .await;
    assert_eq!(slow, (1, 1, 502), "call timeout mid-session");

    let no_login = session_of(
        async |m| {
            m.logout(ResponseTemplate::new(200)).await;
            wiremock::Mock::given(wiremock::matchers::path(fake::LOGIN))
                .respond_with(ResponseTemplate::new(401))
                .mount(&m.server)
                .await;
        },
        soon(),
        None,
    )
    .await;
    assert_eq!(no_login, (1, 0, 502), "no session, nothing to log out");
}

#[tokio::test]
async fn a_failed_logout_is_retried() {
    let e = env().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(fake::LOGOUT))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&e.mips.server)
        .await;
    e.mips.sessions().await;
    e.mips.chart().await;
    let (status, _, _) = call(&e.app, get("/tags", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(e.mips.count(fake::LOGIN).await, 1);
    assert_eq!(
        e.mips.count(fake::LOGOUT).await,
        2,
        "one 503, then the logout"
    );
}

#[tokio::test]
async fn no_credential_reaches_an_answer() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.get(fake::SEGMENTS, ResponseTemplate::new(500)).await;
    let (status, _, body) = call(&e.app, get("/tags", &[])).await;
    assert_eq!(status, 502);
    assert!(body.contains("segments"), "names the failed call: {body}");
    assert!(!body.contains("s3cret") && !body.contains(TOKEN), "{body}");
}
