//! Intake and worker against the local emulator's SQS, and fakes for the file, destination and
//! callback. Needs the emulator: `cargo xtask local up` (`cargo xtask test` does it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Secret;
use webhook_runner::handlers::{self, Env};
use webhook_runner::seal::Sealer;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn endpoint() -> String {
    support::emulator_endpoint()
}

async fn env() -> Env {
    let aws = support::emulator_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let name = format!(
        "jobs-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the AWS emulator at {} is not reachable ({e}); run `cargo xtask local up`",
                endpoint()
            )
        });
    Env {
        http: reqwest::Client::new(),
        sqs,
        queue_url: queue.queue_url().unwrap().to_string(),
        sealer: Sealer::new(&Secret::new("test key")),
        allow_http: true,
        max_receive_count: 3,
    }
}

#[derive(Clone, Default)]
struct Destination(Arc<Mutex<Vec<u64>>>);

impl Respond for Destination {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        self.0.lock().unwrap().extend(
            body.as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_u64().unwrap()),
        );
        ResponseTemplate::new(200)
    }
}

fn http_event(body: &Value) -> Value {
    json!({"routeKey": "POST /jobs", "rawPath": "/jobs", "requestContext": {"http": {"method": "POST"}}, "body": body.to_string(), "isBase64Encoded": false})
}

async fn receive(env: &Env) -> Vec<Value> {
    let out = env
        .sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for m in out.messages() {
        env.sqs
            .delete_message()
            .queue_url(&env.queue_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        records.push(json!({"messageId": m.message_id(), "body": m.body(), "attributes": {"ApproximateReceiveCount": "1"}}));
    }
    records
}

#[tokio::test]
async fn a_job_flows_from_intake_through_continuations_to_the_destination() {
    let env = env().await;
    let server = MockServer::start().await;
    let data: String = (1..=30).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    Mock::given(method("GET"))
        .and(path("/file.ndjson"))
        .respond_with(ResponseTemplate::new(200).set_body_string(data))
        .mount(&server)
        .await;
    let dest = Destination::default();
    Mock::given(method("POST"))
        .and(path("/records"))
        .respond_with(dest.clone())
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cb/wh-9"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let job = json!({
        "settings": {"destination_url": format!("{}/records", server.uri()), "batch_size": 4, "requests_per_minute": 600},
        "label_name": "l", "data_url": format!("{}/file.ndjson", server.uri()), "access_token": "clear-token-value",
        "webhook_id": "wh-9", "callback_url": format!("{}/cb/", server.uri())
    });
    let resp = handlers::intake(&env, &http_event(&job)).await;
    assert_eq!(resp["statusCode"], 202, "{resp}");
    let mut runs = 0;
    loop {
        let records = receive(&env).await;
        if records.is_empty() {
            break;
        }
        for r in &records {
            let body = r["body"].as_str().unwrap();
            assert!(
                !body.contains("clear-token-value"),
                "the access token travels sealed: {body}"
            );
        }
        // a deadline that forces a continuation every few batches
        let out = handlers::worker(
            &env,
            &json!({"Records": records}),
            Instant::now() + Duration::from_millis(350),
        )
        .await;
        assert_eq!(out["batchItemFailures"], json!([]));
        runs += 1;
        assert!(runs < 50);
    }
    assert!(runs >= 2, "expected continuations, got {runs} run(s)");
    let ids = dest.0.lock().unwrap().clone();
    assert_eq!(
        ids,
        (1..=30).collect::<Vec<u64>>(),
        "every record once, in order"
    );
}

#[tokio::test]
async fn intake_refuses_bad_jobs_with_the_field_named_and_queues_nothing() {
    let env = env().await;
    let resp = handlers::intake(
        &env,
        &http_event(&json!({"settings": {"destination_url": "https://x.example.org/r"}})),
    )
    .await;
    assert_eq!(resp["statusCode"], 400);
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "error");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`data_url` is required"),
        "{body}"
    );
    assert!(receive(&env).await.is_empty());
}

#[tokio::test]
async fn undecodable_messages_are_returned_for_retry() {
    let env = env().await;
    let event = json!({"Records": [{"messageId": "m1", "body": "{}", "attributes": {"ApproximateReceiveCount": "1"}}]});
    let out = handlers::worker(&env, &event, Instant::now() + Duration::from_secs(30)).await;
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
}

#[tokio::test]
async fn the_last_receive_before_the_dlq_tells_amperity_failed() {
    let env = env().await;
    let server = MockServer::start().await;
    // the callback refuses `running`, so every run fails before sending anything
    Mock::given(method("PUT"))
        .and(path("/cb/wh-dlq"))
        .and(wiremock::matchers::body_partial_json(
            json!({"state": "running"}),
        ))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cb/wh-dlq"))
        .and(wiremock::matchers::body_partial_json(
            json!({"state": "failed"}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let job = json!({
        "settings": {"destination_url": format!("{}/records", server.uri())},
        "label_name": "l", "data_url": format!("{}/file.ndjson", server.uri()), "access_token": "t",
        "webhook_id": "wh-dlq", "callback_url": format!("{}/cb/", server.uri())
    });
    assert_eq!(
        handlers::intake(&env, &http_event(&job)).await["statusCode"],
        202
    );
    let mut records = receive(&env).await;
    for (receive_count, expect_failed_report) in [(1, false), (3, true)] {
        records[0]["attributes"]["ApproximateReceiveCount"] = json!(receive_count.to_string());
        let out = handlers::worker(
            &env,
            &json!({"Records": records.clone()}),
            Instant::now() + Duration::from_secs(30),
        )
        .await;
        assert_eq!(
            out["batchItemFailures"].as_array().unwrap().len(),
            1,
            "the message goes back to SQS"
        );
        let failed_reports = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("\"failed\""))
            .count();
        assert_eq!(
            failed_reports == 1,
            expect_failed_report,
            "receive {receive_count}"
        );
    }
    server.verify().await;
}
