//! What the clients send to each upstream: the shapes the original sends (spec §3–§5), which
//! the real services expect, and the improvements on top (paging, token renewal, 429 waits).
//! The clients are the handler's, loaded by `Env::load`.

mod common;

use common::harness;
use skill_sync::fake;

#[tokio::test]
async fn airtable_lists_the_assessments_table_with_the_token_and_follows_offsets() {
    let h = harness("rq_airtable").await;
    h.airtable.page_size(3);
    h.airtable.throttle(1);
    let env = h.env().await;
    let records = env.airtable.assessments().await.unwrap();
    assert_eq!(records.len(), 4);
    let seen = h.airtable.requests();
    // a 429, the same request again after the wait, then the second page
    assert_eq!(seen.len(), 3);
    for r in &seen {
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, format!("/v0/{}/assessments", fake::AIRTABLE_BASE));
        let expected = format!("Bearer {}", fake::AIRTABLE_TOKEN);
        assert_eq!(r.header("authorization"), Some(expected.as_str()));
    }
    // like pyairtable: the first request has no parameters at all
    assert_eq!(seen[0].query, None);
    assert_eq!(seen[1].query, None);
    assert_eq!(
        seen[2].query_param("offset").as_deref(),
        Some("itr3/rec00000000000003")
    );
    h.drop().await;
}

#[tokio::test]
async fn badgr_logs_in_once_with_the_password_grant_and_renews_on_401() {
    let h = harness("rq_badgr").await;
    let env = h.env().await;
    assert_eq!(env.badgr.badge_classes().await.unwrap().len(), 2);
    h.badgr.expire_tokens();
    assert_eq!(env.badgr.assertions().await.unwrap().len(), 3);
    // one token for the run, one more after it stopped working
    assert_eq!(h.badgr.logins(), 2);
    let seen = h.badgr.requests();
    let login = &seen[0];
    assert_eq!(
        (login.method.as_str(), login.path.as_str()),
        ("POST", "/o/token/")
    );
    assert_eq!(
        login.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    for (k, v) in [
        ("username", fake::BADGR_USERNAME),
        ("password", fake::BADGR_PASSWORD),
        ("scope", "rw:issuer rw:backpack"),
        ("grant_type", "password"),
        ("client_id", "public"),
    ] {
        assert_eq!(login.form_param(k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(login.form_param("client_secret"), None);
    let classes = &seen[1];
    assert_eq!(
        classes.path,
        format!("/v2/issuers/{}/badgeclasses", fake::BADGR_ISSUER)
    );
    assert_eq!(
        classes.header("authorization"),
        Some("Bearer local-badgr-token-1")
    );
    assert_eq!(classes.header("content-type"), Some("application/json"));
    let paths: Vec<_> = seen
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let assertions = format!("/v2/issuers/{}/assertions", fake::BADGR_ISSUER);
    assert_eq!(
        paths[2..],
        [
            ("GET".to_string(), assertions.clone()),
            ("POST".into(), "/o/token/".into()),
            ("GET".into(), assertions),
        ]
    );
    assert_eq!(
        seen[4].header("authorization"),
        Some("Bearer local-badgr-token-2")
    );
    h.drop().await;
}

#[tokio::test]
async fn github_is_asked_for_the_commit_and_the_zipball_of_the_hard_coded_org() {
    let h = harness("rq_github").await;
    let env = h.env().await;
    let sha = env
        .github
        .commit("R-Programming-II", "v0.0.1a")
        .await
        .unwrap();
    assert_eq!(sha, fake::sample::R_COMMIT);
    let zip = env
        .github
        .zipball("R-Programming-II", "v0.0.1a", 1 << 20)
        .await
        .unwrap();
    assert!(zip.starts_with(b"PK"));
    let seen = h.github.requests();
    assert_eq!(
        seen[0].path,
        "/repos/Bioinformatics-Research-Network/R-Programming-II/commits/v0.0.1a"
    );
    assert_eq!(seen[0].header("accept"), Some("application/vnd.github.sha"));
    // the original's download: this path, then GitHub's redirect to codeload
    assert_eq!(
        seen[1].path,
        "/repos/Bioinformatics-Research-Network/R-Programming-II/zipball/v0.0.1a"
    );
    assert_eq!(seen[1].method, "GET");
    assert_eq!(
        seen[2].path,
        "/codeload/Bioinformatics-Research-Network/R-Programming-II/legacy.zip/v0.0.1a"
    );
    // no token configured: anonymous, as the original; GitHub refuses requests without a UA
    assert!(seen.iter().all(|r| r.header("authorization").is_none()));
    assert!(seen.iter().all(|r| r
        .header("user-agent")
        .is_some_and(|u| u.starts_with("skill-sync/"))));
    h.drop().await;
}

#[tokio::test]
async fn a_github_token_from_its_secret_is_sent_as_a_bearer_token() {
    let mut h = harness("rq_ghtoken").await;
    let aws = support::emulator_config().await;
    let name = format!("test/skill-sync/{}/github", h.name);
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let _ = secrets
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await;
    secrets
        .create_secret()
        .name(&name)
        .secret_string("ghp_localtoken")
        .send()
        .await
        .unwrap();
    h.settings.github_token_secret = Some(name);
    let env = h.env().await;
    env.github
        .commit("R-Programming-II", "v0.0.1a")
        .await
        .unwrap();
    assert_eq!(
        h.github.requests()[0].header("authorization"),
        Some("Bearer ghp_localtoken")
    );
    h.drop().await;
}

#[tokio::test]
async fn a_github_token_secret_that_is_missing_or_blank_means_anonymous_requests() {
    let mut h = harness("rq_ghanon").await;
    let aws = support::emulator_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let blank = format!("test/skill-sync/{}/github-blank", h.name);
    let _ = secrets
        .delete_secret()
        .secret_id(&blank)
        .force_delete_without_recovery(true)
        .send()
        .await;
    secrets
        .create_secret()
        .name(&blank)
        .secret_string(" \n")
        .send()
        .await
        .unwrap();
    for name in [format!("test/skill-sync/{}/no-such-secret", h.name), blank] {
        h.settings.github_token_secret = Some(name);
        let env = h.env().await;
        env.github
            .commit("R-Programming-II", "v0.0.1a")
            .await
            .unwrap();
        let seen = h.github.requests();
        assert_eq!(seen.last().unwrap().header("authorization"), None);
    }
    h.drop().await;
}
