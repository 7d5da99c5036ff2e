//! `GET /balances` in MIPS's protocol: the GL chart, GetAccountBalances for the target date's
//! period, and the CSV.

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::fake::{self, item, success};
use crate::{call, env, get};

const HEADER: &str =
    "AccountNumber,AccountName,PeriodStart,PeriodEnd,StartBalance,Activity,EndBalance";

fn items() -> Vec<Value> {
    vec![
        item("1000", 1, 1250.5, "Beginning Balance"),
        item("1000", 2, -200.25, "Activity"),
        item("1000", 3, 1050.25, "Ending Balance"),
        item("4100", 1, -75.0, "Beginning Balance"),
        item("4100", 2, 0.1, "Activity"),
        item("4100", 3, -74.9, "Ending Balance"),
    ]
}

#[tokio::test]
async fn day_5_reports_the_whole_previous_month() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    // 2024 is a leap year: February ends on the 29th
    e.mips
        .balances("2024-02-01", "2024-02-29", success(items()))
        .await;
    let (status, cache, csv) =
        call(&e.app, get("/balances", &[("target_date", "2024-03-05")])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("MISS")), "{csv}");
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            HEADER,
            "1000,Cash,2024-02-01,2024-02-29,1250.50,-200.25,1050.25",
            "4100,\"Grants, Restricted\",2024-02-01,2024-02-29,-75.00,0.10,-74.90",
        ],
        "inactive GL accounts keep their names"
    );
    assert_eq!(e.mips.count(fake::BALANCES).await, 1);
}

#[tokio::test]
async fn day_20_reports_the_month_to_date_and_dates_of_one_period_share_a_cached_object() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    e.mips
        .balances("2024-06-01", "2024-06-20", success(items()))
        .await;
    let (status, cache, csv) =
        call(&e.app, get("/balances", &[("target_date", "2024-06-20")])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("MISS")), "{csv}");
    assert_eq!(
        csv.lines().nth(1),
        Some("1000,Cash,2024-06-01,2024-06-20,1250.50,-200.25,1050.25")
    );
    assert_eq!(
        e.keys().await,
        ["cache/balances?from=2024-06-01&to=2024-06-20"]
    );
    assert_eq!(
        e.body("cache/balances?from=2024-06-01&to=2024-06-20").await,
        csv
    );
}

#[tokio::test]
async fn the_default_target_date_is_today_in_utc() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    let today = time::OffsetDateTime::now_utc().date();
    let first = today.replace_day(1).unwrap();
    let (from, to) = if today.day() <= 7 {
        let last = first.previous_day().unwrap();
        (last.replace_day(1).unwrap(), last)
    } else {
        (first, today)
    };
    e.mips
        .balances(&from.to_string(), &to.to_string(), success(items()))
        .await;
    let (status, _, csv) = call(&e.app, get("/balances", &[])).await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains(&format!(",{from},{to},")), "{csv}");
}

#[tokio::test]
async fn a_result_other_than_success_is_a_502_naming_it() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    e.mips
        .balances(
            "2024-06-01",
            "2024-06-20",
            ResponseTemplate::new(200).set_body_json(json!({
                "executionResult": "FAILURE",
                "extraInformation": {}
            })),
        )
        .await;
    let (status, cache, body) =
        call(&e.app, get("/balances", &[("target_date", "2024-06-20")])).await;
    assert_eq!((status, cache), (502, None));
    assert!(body.contains("`FAILURE`"), "{body}");
    assert!(e.keys().await.is_empty(), "a failure is not cached");
}

#[tokio::test]
async fn unknown_types_and_accounts_missing_from_the_chart_are_skipped() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    let mut answer = items();
    answer.insert(1, item("1000", 4, 999.0, "Budget"));
    answer.push(item("7777", 1, 5.0, "Beginning Balance"));
    answer.push(item("7777", 3, 5.0, "Ending Balance"));
    // a Program code is not a GL account either
    answer.push(item("101300", 1, 1.0, "Beginning Balance"));
    e.mips
        .balances("2024-06-01", "2024-06-20", success(answer))
        .await;
    let (status, _, csv) = call(&e.app, get("/balances", &[("target_date", "2024-06-20")])).await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            HEADER,
            "1000,Cash,2024-06-01,2024-06-20,1250.50,-200.25,1050.25",
            "4100,\"Grants, Restricted\",2024-06-01,2024-06-20,-75.00,0.10,-74.90",
        ]
    );
}

#[tokio::test]
async fn a_bad_target_date_is_a_400_naming_it_and_never_reaches_mips() {
    let e = env().await;
    for date in ["2024-02-30", "06/20/2024", "yesterday"] {
        let (status, _, body) = call(&e.app, get("/balances", &[("target_date", date)])).await;
        assert_eq!(status, 400, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["parameter"], "target_date");
        assert!(body["error"].as_str().unwrap().contains(date), "{body}");
    }
    let (status, _, body) = call(&e.app, get("/balances", &[("limit", "3")])).await;
    assert_eq!(status, 400, "{body}");
    assert!(e.mips.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_chart_without_a_gl_segment_is_a_502_naming_it() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips
        .get(
            fake::SEGMENTS,
            ResponseTemplate::new(200)
                .set_body_json(json!({"COA_SEGID": [{"COA_SEGID": 2, "TITLE": "Program"}]})),
        )
        .await;
    e.mips
        .get(
            fake::ACCOUNTS,
            ResponseTemplate::new(200).set_body_json(fake::accounts()),
        )
        .await;
    e.mips
        .balances("2024-06-01", "2024-06-20", success(items()))
        .await;
    let (status, _, body) = call(&e.app, get("/balances", &[("target_date", "2024-06-20")])).await;
    assert_eq!(status, 502);
    assert!(body.contains("`GL`"), "{body}");
}
