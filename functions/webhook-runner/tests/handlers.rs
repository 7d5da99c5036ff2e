//! Authorizer, intake and worker against the local emulator's SQS and Secrets Manager, and fakes
//! for the file, destination and callback. Needs the emulator: `cargo xtask local up` (`cargo
//! xtask test` does it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Secret;
use webhook_runner::auth::Authorizer;
use webhook_runner::handlers::{self, http_client, Env};
use webhook_runner::keys::{self, IntakeKeys, KeyPair, Keys};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "intake-key-now";
const OLD_KEY: &str = "intake-key-before";

fn endpoint() -> String {
    support::emulator_endpoint()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// An environment as the functions build it, on a fresh queue; the token key is `token_key`
/// (with `previous` as the key before a rotation).
async fn env_with(token_key: &str, previous: Option<&str>) -> Env {
    let aws = support::emulator_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = sqs
        .create_queue()
        .queue_name(unique("jobs"))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the AWS emulator at {} is not reachable ({e}); run `cargo xtask local up`",
                endpoint()
            )
        });
    let token = KeyPair {
        current: Secret::new(token_key),
        previous: previous.map(Secret::new),
    };
    Env {
        http: http_client(),
        sqs,
        queue_url: queue.queue_url().unwrap().to_string(),
        token_keys: Keys::fixed(&token, keys::sealer),
        allow_http: true,
        max_receive_count: 3,
        max_runs_without_progress: 5,
    }
}

async fn env() -> Env {
    env_with("test key", None).await
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

/// An HTTP API request as API Gateway sends it to the intake, with `authorizer` as its
/// `requestContext.authorizer` when it is not null.
fn http_event_with(body: &Value, authorizer: Value) -> Value {
    let mut context = json!({"http": {"method": "POST", "path": "/jobs"}, "requestId": "r1"});
    if !authorizer.is_null() {
        context["authorizer"] = authorizer;
    }
    json!({"version": "2.0", "routeKey": "POST /jobs", "rawPath": "/jobs",
           "headers": {"content-type": "application/json", "x-api-key": KEY},
           "requestContext": context, "body": body.to_string(), "isBase64Encoded": false})
}

/// An HTTP API request whose key the authorizer accepted.
fn http_event(body: &Value) -> Value {
    http_event_with(body, json!({"lambda": {"verdict": "ok"}}))
}

/// The authorizer's event for a request with `x-api-key: key`.
fn authorizer_event(key: &str) -> Value {
    json!({"version": "2.0", "type": "REQUEST",
           "routeArn": "arn:aws:execute-api:us-east-1:000000000000:api/$default/POST/jobs",
           "identitySource": [key], "routeKey": "POST /jobs", "rawPath": "/jobs",
           "headers": {"content-type": "application/json", "x-api-key": key},
           "requestContext": {"http": {"method": "POST", "path": "/jobs"}, "requestId": "r1"}})
}

/// A POST of `job` as API Gateway handles it: 401 without a key, else the authorizer's answer
/// (which must allow) goes to the intake as its `requestContext.authorizer.lambda`.
async fn post(authorizer: &Authorizer, env: &Env, job: &Value, key: Option<&str>) -> Value {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return json!({"statusCode": 401, "body": json!({"message": "Unauthorized"}).to_string()});
    };
    let event = serde_json::from_value(authorizer_event(key)).unwrap();
    let answer = serde_json::to_value(authorizer.authorize(&event).await).unwrap();
    assert_eq!(answer["isAuthorized"], true, "{answer}");
    intake(
        env,
        http_event_with(job, json!({"lambda": answer["context"]})),
    )
    .await
}

/// Call the intake with an event; the answer as JSON.
async fn intake(env: &Env, event: Value) -> Value {
    let req = serde_json::from_value(event).unwrap();
    serde_json::to_value(handlers::intake(env, &req).await).unwrap()
}

async fn worker(env: &Env, records: &[Value], deadline: Instant) -> Value {
    let event = serde_json::from_value(json!({ "Records": records })).unwrap();
    serde_json::to_value(handlers::worker(env, &event, deadline).await).unwrap()
}

async fn receive(env: &Env) -> Vec<Value> {
    let out = env
        .sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .max_number_of_messages(10)
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

fn body_of(resp: &Value) -> Value {
    serde_json::from_str(resp["body"].as_str().unwrap()).unwrap()
}

/// A server with a 30-line file, a destination and a callback for `wh-9`.
async fn job_server() -> (MockServer, Destination, Value) {
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
        "label_name": "l", "data_url": format!("{}/file.ndjson?X-Amz-Signature=presigned", server.uri()), "access_token": "clear-token-value",
        "webhook_id": "wh-9", "callback_url": format!("{}/cb/", server.uri())
    });
    (server, dest, job)
}

/// Run the worker on whatever the queue holds until it is empty; the number of runs.
async fn drain(env: &Env, budget: Duration) -> u32 {
    let mut runs = 0;
    loop {
        let records = receive(env).await;
        if records.is_empty() {
            return runs;
        }
        let out = worker(env, &records, Instant::now() + budget).await;
        assert_eq!(out["batchItemFailures"], json!([]));
        runs += 1;
        assert!(runs < 50);
    }
}

async fn reports(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_job_flows_from_intake_through_continuations_to_the_destination() {
    let env = env().await;
    let (server, dest, job) = job_server().await;
    let resp = intake(&env, http_event(&job)).await;
    assert_eq!(resp["statusCode"], 202, "{resp}");
    let mut runs = 0;
    loop {
        let records = receive(&env).await;
        if records.is_empty() {
            break;
        }
        for r in &records {
            let body = r["body"].as_str().unwrap();
            for clear in ["clear-token-value", "X-Amz-Signature", "file.ndjson"] {
                assert!(!body.contains(clear), "`{clear}` travels sealed: {body}");
            }
        }
        // a deadline that forces a continuation every few batches
        let out = worker(&env, &records, Instant::now() + Duration::from_secs(1)).await;
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
    assert_eq!(reports(&server).await.last().unwrap()["state"], "succeeded");
}

#[tokio::test]
async fn a_job_needs_a_valid_key_and_nothing_is_queued_without_one() {
    let env = env().await;
    let authorizer = Authorizer::new(Keys::fixed(
        &KeyPair {
            current: Secret::new(KEY),
            previous: Some(Secret::new(OLD_KEY)),
        },
        IntakeKeys::new,
    ));
    let (_server, _dest, job) = job_server().await;
    for key in [None, Some(""), Some("wrong-key"), Some("intake-key-no")] {
        let resp = post(&authorizer, &env, &job, key).await;
        assert_eq!(resp["statusCode"], 401, "{key:?}: {resp}");
        assert_eq!(
            body_of(&resp),
            json!({"message": "Unauthorized"}),
            "no detail"
        );
    }
    assert!(receive(&env).await.is_empty(), "nothing queued");
    // the current key, and the previous one during a rotation
    for key in [KEY, OLD_KEY] {
        let resp = post(&authorizer, &env, &job, Some(key)).await;
        assert_eq!(resp["statusCode"], 202, "{resp}");
    }
    assert_eq!(receive(&env).await.len(), 2);
}

#[tokio::test]
async fn the_intake_answers_401_to_anything_but_an_ok_verdict() {
    let env = env().await;
    let (_server, _dest, job) = job_server().await;
    // no authorizer on the route (the header alone is not enough), a refused key, a verdict
    // the intake does not know
    for authorizer in [
        Value::Null,
        json!({"lambda": {}}),
        json!({"lambda": {"verdict": "refused"}}),
        json!({"lambda": {"verdict": "yes"}}),
    ] {
        let resp = intake(&env, http_event_with(&job, authorizer.clone())).await;
        assert_eq!(resp["statusCode"], 401, "{authorizer}: {resp}");
        assert_eq!(body_of(&resp), json!({"message": "Unauthorized"}));
    }
    assert!(receive(&env).await.is_empty(), "nothing queued");
}

#[tokio::test]
async fn the_authorizer_follows_a_rotation_of_the_key_secret() {
    let aws = support::emulator_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let name = unique("test/webhook-runner/intake-key");
    sm.create_secret()
        .name(&name)
        .secret_string("key-one")
        .send()
        .await
        .unwrap();
    // re-read at once on an unknown key (30 s apart in Lambda)
    let authorizer = Authorizer::new(
        Keys::load(sm.clone(), &name, IntakeKeys::new)
            .await
            .unwrap(),
    )
    .with_reread_interval(Duration::ZERO);
    assert!(authorizer.accepts(Some("key-one")).await);
    assert!(!authorizer.accepts(Some("key-two")).await);
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string("key-two")
        .send()
        .await
        .unwrap();
    // the new key while warm, and the old one as the previous version
    assert!(authorizer.accepts(Some("key-two")).await);
    assert!(authorizer.accepts(Some("key-one")).await);
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string("key-three")
        .send()
        .await
        .unwrap();
    assert!(authorizer.accepts(Some("key-three")).await);
    assert!(authorizer.accepts(Some("key-two")).await);
    assert!(
        !authorizer.accepts(Some("key-one")).await,
        "two rotations ago"
    );
}

#[tokio::test]
async fn intake_refuses_bad_jobs_with_the_field_named_and_queues_nothing() {
    let env = env().await;
    let resp = intake(
        &env,
        http_event(&json!({"settings": {"destination_url": "https://x.example.org/r"}})),
    )
    .await;
    assert_eq!(resp["statusCode"], 400);
    let body = body_of(&resp);
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
async fn unknown_settings_are_warnings_for_amperity_and_typos_are_refused() {
    let env = env().await;
    let (server, dest, mut job) = job_server().await;
    job["settings"]["batch_sise"] = json!(10);
    let resp = intake(&env, http_event(&job)).await;
    assert_eq!(resp["statusCode"], 400);
    assert_eq!(
        body_of(&resp)["message"],
        "unknown setting `settings.batch_sise`: did you mean `settings.batch_size`?"
    );
    assert!(receive(&env).await.is_empty());

    job["settings"]
        .as_object_mut()
        .unwrap()
        .remove("batch_sise");
    job["settings"]["list_id"] = json!("weekly");
    let resp = intake(&env, http_event(&job)).await;
    assert_eq!(resp["statusCode"], 202, "{resp}");
    let warning = "setting `settings.list_id` is not used by this destination and was ignored";
    assert_eq!(body_of(&resp)["warnings"], json!([warning]));
    drain(&env, Duration::from_secs(30)).await;
    assert_eq!(dest.0.lock().unwrap().len(), 30);
    let r = reports(&server).await;
    assert_eq!(r[0]["state"], "running");
    assert_eq!(
        r[0]["errors"],
        json!([warning]),
        "the warning is in the job's status"
    );
}

#[tokio::test]
async fn a_message_sealed_with_the_previous_token_key_still_runs() {
    let before = env_with("token key one", None).await;
    let (server, dest, job) = job_server().await;
    assert_eq!(intake(&before, http_event(&job)).await["statusCode"], 202);
    let records = receive(&before).await;
    // the key was rotated: the worker has a new current key and the old one as previous
    let mut after = env_with("token key two", Some("token key one")).await;
    after.queue_url = before.queue_url.clone();
    let out = worker(&after, &records, Instant::now() + Duration::from_secs(30)).await;
    assert_eq!(out["batchItemFailures"], json!([]), "{out}");
    assert_eq!(dest.0.lock().unwrap().len(), 30);
    assert_eq!(reports(&server).await.last().unwrap()["state"], "succeeded");
    // and without the previous key the message cannot be opened
    let (_s, _d, job) = job_server().await;
    assert_eq!(intake(&before, http_event(&job)).await["statusCode"], 202);
    let records = receive(&before).await;
    let only_new = env_with("token key two", None).await;
    let out = worker(
        &only_new,
        &records,
        Instant::now() + Duration::from_secs(30),
    )
    .await;
    assert_eq!(out["batchItemFailures"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn undecodable_messages_are_returned_for_retry() {
    let env = env().await;
    let records =
        [json!({"messageId": "m1", "body": "{}", "attributes": {"ApproximateReceiveCount": "1"}})];
    let out = worker(&env, &records, Instant::now() + Duration::from_secs(30)).await;
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
}

/// A job whose callback answers `running` with `status`; its queued message.
async fn job_with_running_answer(env: &Env, server: &MockServer, status: u16) -> Vec<Value> {
    Mock::given(method("PUT"))
        .and(path("/cb/wh-dlq"))
        .and(body_partial_json(json!({"state": "running"})))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
    let job = json!({
        "settings": {"destination_url": format!("{}/records", server.uri())},
        "label_name": "l", "data_url": format!("{}/file.ndjson", server.uri()), "access_token": "t",
        "webhook_id": "wh-dlq", "callback_url": format!("{}/cb/", server.uri())
    });
    assert_eq!(intake(env, http_event(&job)).await["statusCode"], 202);
    receive(env).await
}

#[tokio::test]
async fn the_last_receive_before_the_dlq_tells_amperity_failed() {
    let env = env().await;
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/cb/wh-dlq"))
        .and(body_partial_json(json!({"state": "failed"})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    // the callback fails `running` with a 500, so every run fails before sending anything
    let mut records = job_with_running_answer(&env, &server, 500).await;
    for (receive_count, expect_failed_report) in [(1, false), (3, true)] {
        records[0]["attributes"]["ApproximateReceiveCount"] = json!(receive_count.to_string());
        let out = worker(&env, &records, Instant::now() + Duration::from_secs(30)).await;
        assert_eq!(
            out["batchItemFailures"].as_array().unwrap().len(),
            1,
            "the message goes back to SQS"
        );
        let failed: Vec<Value> = reports(&server)
            .await
            .into_iter()
            .filter(|r| r["state"] == "failed")
            .collect();
        assert_eq!(
            failed.len() == 1,
            expect_failed_report,
            "receive {receive_count}"
        );
        if let Some(f) = failed.first() {
            let reason = f["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("the job failed 3 times and was set aside: "),
                "{reason}"
            );
            assert!(reason.contains("HTTP 500"), "{reason}");
        }
    }
    server.verify().await;
}

#[tokio::test]
async fn a_refused_running_report_ends_the_job_at_once() {
    let env = env().await;
    let server = MockServer::start().await;
    let records = job_with_running_answer(&env, &server, 401).await;
    let out = worker(&env, &records, Instant::now() + Duration::from_secs(30)).await;
    assert_eq!(
        out["batchItemFailures"],
        json!([]),
        "not returned to SQS for retries"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        1,
        "one refused PUT, no download, no `failed`"
    );
    assert!(receive(&env).await.is_empty(), "no continuation");
}

#[tokio::test]
async fn keys_are_read_with_their_previous_version_from_secrets_manager() {
    let aws = support::emulator_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let name = unique("test/webhook-runner/token-key");
    sm.create_secret()
        .name(&name)
        .secret_string("first")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys::load_pair(&sm, &name).await.unwrap(),
        KeyPair::one("first")
    );
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string("second")
        .send()
        .await
        .unwrap();
    let pair = keys::load_pair(&sm, &name).await.unwrap();
    assert_eq!(pair.current.expose(), "second");
    assert_eq!(pair.previous.as_ref().map(Secret::expose), Some("first"));
    let err = keys::load_pair(&sm, &unique("test/missing"))
        .await
        .unwrap_err();
    assert!(err.contains("ResourceNotFound"), "{err}");
}

#[tokio::test]
async fn the_sample_events_carry_the_authorizer_verdict() {
    let env = env().await;
    let event = |name: &str| -> Value {
        let path = format!("{}/events/intake/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    assert_eq!(intake(&env, event("job")).await["statusCode"], 202);
    assert_eq!(intake(&env, event("smoke")).await["statusCode"], 400);
    let mut stripped = event("job");
    stripped["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    assert_eq!(
        intake(&env, stripped).await["statusCode"],
        401,
        "the key alone, without a verdict"
    );
    let worker_smoke = format!("{}/events/worker/smoke.json", env!("CARGO_MANIFEST_DIR"));
    let event: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_str(&std::fs::read_to_string(worker_smoke).unwrap()).unwrap();
    let out = handlers::worker(&env, &event, Instant::now() + Duration::from_secs(10)).await;
    assert_eq!(out.batch_item_failures.len(), 1);
}
