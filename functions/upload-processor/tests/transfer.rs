//! Mentor transfer: both routes through `Api::handle` with payload 2.0 events (authorizer
//! contexts from the real authorizer), and the worker through the binary's own entry
//! (`Worker::from_env`, then `transfer::handle_sqs_event`) against the emulator's S3, SQS and
//! Secrets Manager and a GraphQL fake that requires the stage's secret header and serves the
//! media. Cases that need the emulator on 127.0.0.1:5000 (`cargo xtask local up`) print a note
//! and pass without it.

mod common;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::{
    assert_sent_as, calls_to, create_bucket, emulator_up, get_object, token, unique, Event, MENTOR,
    OTHER, USER,
};
use serde_json::{json, Value};
use upload_processor::api::transfer::{Transfer, TransferApi};
use upload_processor::api::{self, upload_url};
use upload_processor::fake::{self, AuthKind, Call, FakeConfig, GraphqlFake};
use upload_processor::graphql::{GraphqlClient, SecretHeader};
use upload_processor::transfer::job::{self, JobRecord, JobStatus, Phase};
use upload_processor::transfer::{self, export, JobStore, Worker};
use uuid::Uuid;

const Q1: &str = "607766dec525bac93868e79c";
const Q2: &str = "607766dec525ba87bf68e79b";
const START: &str = "POST /transfer/mentor";
const STATUS: &str = "GET /transfer/status/{id}";
const SECRET_HEADER: &str = "x-mentorpal-secret";

fn request(answers: Vec<Value>) -> Value {
    json!({
        "mentor": MENTOR,
        "mentorExportJson": {
            "id": "6184d850068d43dc682509bf",
            "mentorInfo": {"name": "Kayla Carr", "firstName": "Kayla", "title": "Programmer",
                "email": "kayla@example.org", "thumbnail": "", "allowContact": false,
                "defaultSubject": null, "mentorType": "VIDEO"},
            "subjects": [], "questions": [], "answers": answers, "userQuestions": []
        },
        "replacedMentorDataChanges": {"questionChanges": [], "answerChanges": []}
    })
}

/// An exported answer with web and subtitle media needing a transfer where given.
fn answer(question: &str, web: Option<&str>, vtt: Option<&str>) -> Value {
    let media = |kind: &str, tag: &str, url: Option<&str>| {
        url.map_or(
            Value::Null,
            |u| json!({"type": kind, "tag": tag, "url": u, "needsTransfer": true}),
        )
    };
    json!({
        "_id": format!("a{question}"), "transcript": "I'm a programmer.", "status": "COMPLETE",
        "hasEditedTranscript": false, "hasUntransferredMedia": web.is_some() || vtt.is_some(),
        "question": {"_id": question, "question": "What is your job?", "type": "QUESTION",
            "name": "", "paraphrases": [], "mentor": null, "mentorType": null,
            "minVideoLength": null},
        "webMedia": media("video", "web", web),
        "mobileMedia": null,
        "vttMedia": media("subtitles", "en", vtt),
    })
}

fn squeeze(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The functions' variables, all cleared before a worker or an API is built and after.
const VARS: [&str; 12] = [
    "GRAPHQL_ENDPOINT",
    "GRAPHQL_API_KEY_SECRET",
    "GRAPHQL_SECRET_HEADER_NAME",
    "GRAPHQL_SECRET_HEADER_SECRET",
    "TRANSFER_BUCKET",
    "STATIC_BUCKET",
    "TRANSFER_ALLOWED_HOSTS",
    "TRANSFER_ALLOW_HTTP",
    "TRANSFER_MEDIA_MAX_BYTES",
    "TRANSFER_MEDIA_TIMEOUT_SECONDS",
    "TRANSFER_CONCURRENCY",
    "TRANSFER_QUEUE_URL",
];

/// The process environment is shared by the tests of this binary: one function is built at a time.
static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What `build` returns when it runs with exactly `vars` of [`VARS`] set (an empty value unsets),
/// as a cold start reads them; all cleared again after.
async fn with_env<T, F: std::future::Future<Output = T>>(
    vars: &[(&str, &str)],
    build: impl FnOnce() -> F,
) -> T {
    let _env = ENV.lock().await;
    for name in VARS {
        std::env::remove_var(name);
    }
    for (name, value) in vars {
        if value.is_empty() {
            std::env::remove_var(name);
        } else {
            std::env::set_var(name, value);
        }
    }
    let built = build().await;
    for name in VARS {
        std::env::remove_var(name);
    }
    built
}

struct Setup {
    fake: GraphqlFake,
    aws: support::SdkConfig,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    transfer_bucket: String,
    static_bucket: String,
    queue_url: String,
    token: String,
}

impl Setup {
    /// A fake that requires the secret header, `USER` allowed to edit `MENTOR`; AWS names that
    /// do not exist (for the cases answered before any AWS call).
    async fn new() -> Setup {
        let fake = GraphqlFake::start_with(FakeConfig {
            secret_header: Some((SECRET_HEADER.into(), fake::SECRET_HEADER_VALUE.into())),
            ..FakeConfig::default()
        })
        .await;
        fake.grant(USER, MENTOR);
        let aws = support::emulator_config().await;
        Setup {
            fake,
            s3: support::s3_client(&aws),
            sqs: aws_sdk_sqs::Client::new(&aws),
            transfer_bucket: "no-such-transfer-bucket".into(),
            static_bucket: "no-such-static-bucket".into(),
            queue_url: format!(
                "{}/123456789012/no-such-queue",
                support::emulator_endpoint()
            ),
            token: token(USER),
            aws,
        }
    }

    /// With fresh buckets and a fresh queue in the emulator.
    async fn with_emulator() -> Setup {
        let mut s = Setup::new().await;
        s.transfer_bucket = unique("transfer");
        s.static_bucket = unique("static");
        for bucket in [&s.transfer_bucket, &s.static_bucket] {
            create_bucket(&s.s3, bucket).await;
        }
        let queue = s
            .sqs
            .create_queue()
            .queue_name(unique("transfer"))
            .send()
            .await
            .unwrap();
        s.queue_url = queue.queue_url().unwrap().to_string();
        s
    }

    fn transfer(&self) -> Transfer {
        Transfer {
            bucket: self.transfer_bucket.clone(),
            queue_url: self.queue_url.clone(),
            sqs: Some(self.sqs.clone()),
            ..Transfer::default()
        }
    }

    /// The transfer API as the binary builds it but for its endpoints, and without reading the
    /// secret header's value from Secrets Manager (the tests that need no emulator use it too);
    /// `api_from_env` builds it from the environment.
    fn api(&self) -> TransferApi {
        self.api_with(self.transfer())
    }

    fn api_with(&self, transfer: Transfer) -> TransferApi {
        let header = SecretHeader::new(
            SECRET_HEADER,
            support::Secret::new(fake::SECRET_HEADER_VALUE),
        )
        .unwrap();
        let graphql = GraphqlClient::new(api::http_client(), self.fake.endpoint())
            .with_timeout(api::GRAPHQL_TIMEOUT)
            .with_secret_header(header);
        TransferApi {
            s3: support::s3_client(&self.aws),
            graphql,
            transfer,
        }
    }

    /// `TransferApi::from_env`, as `upload-processor-transfer-api` starts: this setup's bucket
    /// and queue, the secret header's value in the emulator's Secrets Manager. `vars` override
    /// those; an empty value unsets.
    async fn api_from_env(
        &self,
        vars: &[(&str, &str)],
    ) -> Result<TransferApi, upload_processor::api::ApiError> {
        let header_secret = self
            .secret("graphql-secret-header", fake::SECRET_HEADER_VALUE)
            .await;
        let endpoint = self.fake.endpoint();
        let mut all = vec![
            ("GRAPHQL_ENDPOINT", endpoint.as_str()),
            ("GRAPHQL_SECRET_HEADER_NAME", SECRET_HEADER),
            ("GRAPHQL_SECRET_HEADER_SECRET", header_secret.as_str()),
            ("TRANSFER_BUCKET", self.transfer_bucket.as_str()),
            ("TRANSFER_QUEUE_URL", self.queue_url.as_str()),
        ];
        all.extend_from_slice(vars);
        with_env(&all, || {
            TransferApi::from_env(&self.aws, api::http_client())
        })
        .await
    }

    /// A new secret holding `value`; its name.
    async fn secret(&self, name: &str, value: &str) -> String {
        let name = unique(name);
        aws_sdk_secretsmanager::Client::new(&self.aws)
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        name
    }

    async fn post(&self, body: &str) -> (u16, Value) {
        let e = Event::new(START).bearer(&self.token).body(body).build();
        common::call(&self.api(), &e).await
    }

    async fn status(&self, id: &str, token: &str) -> (u16, Value) {
        let e = Event::new(STATUS).bearer(token).path("id", id).build();
        common::call(&self.api(), &e).await
    }

    /// POSTs the request, which must be queued; its job id.
    async fn submit(&self, request: &Value) -> Uuid {
        let (status, body) = self.post(&request.to_string()).await;
        assert_eq!(status, 202, "{body}");
        body["data"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// The next message on the queue as the event source mapping delivers it.
    async fn next_event(&self) -> SqsEvent {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(5)
            .send()
            .await
            .unwrap();
        let m = &out.messages()[0];
        serde_json::from_value(json!({"Records": [{
            "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
            "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}
        }]}))
        .unwrap()
    }

    /// `127.0.0.1:<port>` of the fake (its media host).
    fn host(&self) -> String {
        self.fake
            .base_url()
            .trim_start_matches("http://")
            .to_string()
    }

    /// A worker built by `Worker::from_env`, as the binary builds it: the GraphQL service key
    /// and the secret header's value read from the emulator's Secrets Manager. `vars` override
    /// the defaults (the fake as the only allowed host, http allowed); an empty value unsets.
    async fn worker(&self, vars: &[(&str, &str)]) -> Worker {
        let key_secret = self.secret("graphql-api-key", fake::API_KEY).await;
        let header_secret = self
            .secret("graphql-secret-header", fake::SECRET_HEADER_VALUE)
            .await;
        let endpoint = self.fake.endpoint();
        let host = self.host();
        let mut all = vec![
            ("GRAPHQL_ENDPOINT", endpoint.as_str()),
            ("GRAPHQL_API_KEY_SECRET", key_secret.as_str()),
            ("GRAPHQL_SECRET_HEADER_NAME", SECRET_HEADER),
            ("GRAPHQL_SECRET_HEADER_SECRET", header_secret.as_str()),
            ("TRANSFER_BUCKET", self.transfer_bucket.as_str()),
            ("STATIC_BUCKET", self.static_bucket.as_str()),
            ("TRANSFER_ALLOWED_HOSTS", host.as_str()),
            ("TRANSFER_ALLOW_HTTP", "true"),
        ];
        all.extend_from_slice(vars);
        with_env(&all, || Worker::from_env(&self.aws))
            .await
            .unwrap()
    }

    fn jobs(&self) -> JobStore {
        JobStore::new(self.s3.clone(), &self.transfer_bucket)
    }

    async fn record(&self, id: &Uuid) -> JobRecord {
        self.jobs().record(id).await.unwrap().unwrap()
    }

    /// Submits the request and runs its message through a worker built with `vars`.
    async fn run(&self, request: &Value, vars: &[(&str, &str)]) -> (Uuid, JobRecord) {
        let worker = self.worker(vars).await;
        let id = self.submit(request).await;
        let event = self.next_event().await;
        let out = transfer::handle_sqs_event(&worker, &event, None).await;
        assert_eq!(out, SqsBatchResponse::default(), "no message to retry");
        (id, self.record(&id).await)
    }

    async fn object(&self, key: &str) -> Option<(Vec<u8>, Option<String>)> {
        get_object(&self.s3, &self.static_bucket, key).await.ok()
    }
}

// --- the export's schema ---

#[test]
fn schema_errors_name_the_path() {
    assert_eq!(
        export::validate(&request(vec![answer(Q1, None, None)])),
        Ok(())
    );

    let mut bad = request(vec![answer(Q1, None, None)]);
    bad["mentorExportJson"]["answers"][0]["question"]["_id"] = json!(7);
    bad["mentorExportJson"]["mentorInfo"]["allowContact"] = json!("yes");
    bad["replacedMentorDataChanges"]
        .as_object_mut()
        .unwrap()
        .remove("answerChanges");
    let e = export::validate(&bad).unwrap_err();
    let paths: Vec<&str> = e.errors.iter().map(|e| e.path.as_str()).collect();
    for path in [
        "/mentorExportJson/answers/0/question/_id",
        "/mentorExportJson/mentorInfo/allowContact",
        "/replacedMentorDataChanges",
    ] {
        assert!(paths.contains(&path), "{path} not in {paths:?}");
    }
    let missing = e
        .errors
        .iter()
        .find(|e| e.path == "/replacedMentorDataChanges")
        .unwrap();
    assert!(missing.message.contains("answerChanges"), "{missing:?}");
    assert_eq!(e.total, 3);
}

// --- POST /transfer/mentor ---

#[tokio::test]
async fn both_routes_are_401_without_a_valid_verdict() {
    let s = Setup::new().await;
    for (route, id) in [(START, None), (STATUS, Some(Uuid::nil().to_string()))] {
        let body = request(vec![]).to_string();
        let with_id = |e: Event| match &id {
            Some(id) => e.path("id", id).build(),
            None => e.build(),
        };
        let e = with_id(Event::new(route).body(&body));
        let (status, _) = common::call(&s.api(), &e).await;
        assert_eq!(status, 401, "{route}");
        let e = with_id(Event::new(route).bearer("not.a.jwt").body(&body));
        let (status, _) = common::call(&s.api(), &e).await;
        assert_eq!(status, 401, "{route}");
    }
    assert!(s.fake.calls().is_empty());
}

#[tokio::test]
async fn post_is_400_naming_each_schema_violation() {
    let s = Setup::new().await;
    let (status, body) = s.post("{not json").await;
    assert_eq!(
        (status, body["data"]["field"].as_str()),
        (400, Some("body"))
    );

    let mut bad = request(vec![answer(Q1, None, None)]);
    bad["mentorExportJson"]["answers"][0]["hasEditedTranscript"] = json!("no");
    bad["unexpected"] = json!(true);
    let (status, body) = s.post(&bad.to_string()).await;
    assert_eq!(status, 400, "{body}");
    let data = &body["data"];
    assert_eq!(data["errorCount"], 2);
    let paths: Vec<&str> = data["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/mentorExportJson/answers/0/hasEditedTranscript"));
    assert!(paths.contains(&""), "the top level's extra key: {paths:?}");
    assert!(data["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid payload at "));

    let mut bad = request(vec![]);
    bad["mentor"] = json!("../other");
    let (status, body) = s.post(&bad.to_string()).await;
    assert_eq!(
        (status, body["data"]["field"].as_str()),
        (400, Some("mentor"))
    );
    assert!(
        s.fake.calls().is_empty(),
        "nothing called before validation"
    );
}

#[tokio::test]
async fn post_is_413_over_the_size_cap() {
    let s = Setup::new().await;
    let api = s.api_with(Transfer {
        max_body_bytes: 100,
        ..s.transfer()
    });
    let body = request(vec![answer(Q1, None, None)]).to_string();
    let (status, reply) = common::call(
        &api,
        &Event::new(START).bearer(&s.token).body(&body).build(),
    )
    .await;
    assert_eq!(status, 413, "{reply}");
    assert!(s.fake.calls().is_empty());
}

#[tokio::test]
async fn the_transfer_api_names_the_variable_it_misses() {
    if !emulator_up("the_transfer_api_names_the_variable_it_misses") {
        return;
    }
    let s = Setup::new().await;
    for name in ["GRAPHQL_ENDPOINT", "TRANSFER_BUCKET", "TRANSFER_QUEUE_URL"] {
        let Err(e) = s.api_from_env(&[(name, "")]).await else {
            panic!("built without {name}");
        };
        assert!(e.to_string().contains(name), "{name}: {e}");
    }
}

#[tokio::test]
async fn each_api_function_answers_only_its_own_routes() {
    let s = Setup::new().await;
    let e = Event::new(upload_url::ROUTE).bearer(&s.token).build();
    let (status, body) = common::call(&s.api(), &e).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains(upload_url::ROUTE), "{body}");
    let graphql = GraphqlClient::new(api::http_client(), s.fake.endpoint());
    let uploads = common::api(graphql, &s.aws);
    for route in [START, STATUS] {
        let e = Event::new(route).bearer(&s.token).path("id", "x").build();
        let (status, body) = common::call(&uploads, &e).await;
        assert_eq!(status, 404, "{route}: {body}");
    }
    assert!(s.fake.calls().is_empty());
}

#[tokio::test]
async fn post_is_403_when_the_caller_may_not_edit_and_stores_nothing() {
    let s = Setup::new().await;
    s.fake.revoke(USER, MENTOR);
    let (status, body) = s.post(&request(vec![]).to_string()).await;
    assert_eq!(status, 403, "{body}");
    let calls = s.fake.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].has_field("mentorCanEdit"));
    assert_eq!(calls[0].variables, json!({"mentor": MENTOR}));
    assert_sent_as(&calls[0], USER);
}

#[tokio::test]
async fn post_queues_the_job_and_sends_g14_as_the_user() {
    if !emulator_up("post_queues_the_job_and_sends_g14_as_the_user") {
        return;
    }
    let s = Setup::with_emulator().await;
    let raw = request(vec![answer(
        Q1,
        Some("https://static.example.org/web.mp4"),
        None,
    )])
    .to_string();
    // A base64 body is decoded before it is stored (the original's gzip step crashed on it).
    let e = Event::new(START)
        .bearer(&s.token)
        .body(&raw)
        .base64()
        .build();
    // built from its environment, as the function starts
    let api = s.api_from_env(&[]).await.unwrap();
    let (status, body) = common::call(&api, &e).await;
    assert_eq!(status, 202, "{body}");
    let id: Uuid = body["data"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        body["data"],
        json!({"id": id, "mentor": MENTOR, "status": "QUEUED",
            "statusUrl": format!("/transfer/status/{id}")})
    );

    let record = s.record(&id).await;
    assert_eq!(
        (record.status, record.mentor.as_str()),
        (JobStatus::Queued, MENTOR)
    );
    assert_eq!(record.created, record.updated);
    assert_eq!(s.jobs().export(&id).await.unwrap(), raw.as_bytes());
    let message = s.next_event().await;
    assert_eq!(
        message.records[0].body.as_deref(),
        Some(json!({"id": id}).to_string().as_str())
    );

    // G14 exactly as the original sends it, with the caller's token.
    let g14 = calls_to(&s.fake, "api.importTaskCreate");
    assert_eq!(g14.len(), 1);
    assert_eq!(g14[0].operation_name.as_deref(), Some("ImportTaskCreate"));
    assert_eq!(
        g14[0].variables,
        json!({"mentor": MENTOR, "graphQLUpdate": {"status": "QUEUED"},
            "s3VideoMigrate": {"status": "QUEUED"}})
    );
    assert_sent_as(&g14[0], USER);
    assert!(g14[0].has_header(SECRET_HEADER));
    assert_eq!(
        s.fake.import_history(MENTOR)["graphQLUpdate"],
        vec!["QUEUED".to_string()]
    );
}

#[tokio::test]
async fn post_is_502_and_marks_the_job_failed_when_the_queue_is_missing() {
    if !emulator_up("post_is_502_and_marks_the_job_failed_when_the_queue_is_missing") {
        return;
    }
    let mut s = Setup::with_emulator().await;
    s.queue_url = format!(
        "{}/123456789012/no-such-queue",
        support::emulator_endpoint()
    );
    let (status, body) = s.post(&request(vec![]).to_string()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["data"]["status"], "FAILED");
    let id: Uuid = body["data"]["id"].as_str().unwrap().parse().unwrap();
    let record = s.record(&id).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(record.errors[0]
        .reason
        .starts_with("queueing the job failed"));
    // The import task G14 created is not left QUEUED (the original's orphan, §10.2 #17).
    assert_eq!(
        s.fake.import_history(MENTOR)["graphQLUpdate"],
        ["QUEUED", "FAILED"]
    );
}

#[tokio::test]
async fn post_is_502_before_any_import_task_when_the_job_cannot_be_stored() {
    if !emulator_up("post_is_502_before_any_import_task_when_the_job_cannot_be_stored") {
        return;
    }
    let s = Setup::new().await;
    let (status, body) = s.post(&request(vec![]).to_string()).await;
    assert_eq!(status, 502, "{body}");
    assert!(calls_to(&s.fake, "api.importTaskCreate").is_empty());
    assert!(s.fake.import_task(MENTOR).is_none());
}

// --- GET /transfer/status/{id} ---

#[tokio::test]
async fn status_is_400_for_an_id_that_is_not_a_uuid() {
    let s = Setup::new().await;
    let (status, body) = s.status("../jobs", &s.token).await;
    assert_eq!((status, body["data"]["field"].as_str()), (400, Some("id")));
    let e = Event::new(STATUS).bearer(&s.token).build();
    assert_eq!(common::call(&s.api(), &e).await.0, 400);
}

#[tokio::test]
async fn status_is_404_for_an_unknown_job_and_403_for_another_mentor() {
    if !emulator_up("status_is_404_for_an_unknown_job_and_403_for_another_mentor") {
        return;
    }
    let s = Setup::with_emulator().await;
    let (status, _) = s.status(&Uuid::new_v4().to_string(), &s.token).await;
    assert_eq!(status, 404);

    let id = s.submit(&request(vec![])).await;
    let (status, body) = s.status(&id.to_string(), &token(OTHER)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.status(&id.to_string(), &s.token).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["status"], "QUEUED");
    assert_eq!(data["statusUrl"], format!("/transfer/status/{id}"));
    assert_eq!(
        data["counts"],
        json!({"answers": 0, "media": 0, "transferred": 0, "failed": 0})
    );
    assert_eq!(data["errors"], json!([]));
    assert_eq!(data["created"], data["updated"]);
}

// --- the worker ---

#[tokio::test]
async fn the_worker_imports_copies_and_records_one_failure() {
    if !emulator_up("the_worker_imports_copies_and_records_one_failure") {
        return;
    }
    let s = Setup::with_emulator().await;
    let video: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    s.fake.put_media("web-q1.mp4", video.clone());
    let missing = s.fake.media_url("missing.vtt");
    let request = request(vec![
        answer(
            Q1,
            Some(&s.fake.media_url("web-q1.mp4")),
            Some(&format!("{missing}?token=secret")),
        ),
        answer(Q2, None, None),
    ]);
    let (id, record) = s.run(&request, &[]).await;

    assert_eq!(record.status, JobStatus::Done, "{record:?}");
    assert_eq!(
        serde_json::to_value(record.counts).unwrap(),
        json!({"answers": 2, "media": 2, "transferred": 1, "failed": 1})
    );
    assert_eq!(record.errors.len(), 1);
    assert_eq!(
        record.errors[0].url.as_deref(),
        Some(missing.as_str()),
        "no query string"
    );
    assert_eq!(record.errors[0].reason, "HTTP 404");
    let web_key = format!("videos/{MENTOR}/{Q1}/web.mp4");
    assert_eq!(
        s.object(&web_key).await,
        Some((video, Some("video/mp4".to_string())))
    );
    assert!(s
        .object(&format!("videos/{MENTOR}/{Q1}/en.vtt"))
        .await
        .is_none());

    // What the client reads: the status route and the import task.
    let (status, body) = s.status(&id.to_string(), &s.token).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "DONE");
    assert_eq!(body["data"]["errors"][0]["url"], missing.as_str());
    let history = s.fake.import_history(MENTOR);
    assert_eq!(history["graphQLUpdate"], ["QUEUED", "IN_PROGRESS", "DONE"]);
    assert_eq!(history["s3VideoMigrate"], ["QUEUED", "IN_PROGRESS", "DONE"]);
    let task = s.fake.import_task(MENTOR).unwrap();
    assert_eq!(
        task["migrationErrors"],
        json!([format!("Failed to upload video {missing} to s3 HTTP 404")])
    );
    assert_eq!(
        s.fake.answer(MENTOR, Q1).unwrap()["webMedia"],
        json!({"url": web_key, "type": "video", "tag": "web", "needsTransfer": false})
    );

    // Every worker call used the service key and the stage's secret header, never a user's JWT.
    let worker_calls: Vec<Call> = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| !c.has_field("mentorCanEdit") && !c.has_field("api.importTaskCreate"))
        .collect();
    assert_eq!(worker_calls.len(), 6, "G15 ×4, G16, G17");
    for c in &worker_calls {
        assert_eq!(c.auth, AuthKind::ServiceKey, "{:?}", c.fields);
        assert!(c.has_header(SECRET_HEADER));
    }
}

#[tokio::test]
async fn a_redelivered_message_does_nothing() {
    if !emulator_up("a_redelivered_message_does_nothing") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    let worker = s.worker(&[]).await;
    let id = s
        .submit(&request(vec![answer(
            Q1,
            Some(&s.fake.media_url("w.mp4")),
            None,
        )]))
        .await;
    let event = s.next_event().await;
    assert_eq!(
        transfer::handle_sqs_event(&worker, &event, None).await,
        SqsBatchResponse::default()
    );
    let done = s.record(&id).await;
    assert_eq!(done.status, JobStatus::Done);

    s.fake.clear_calls();
    assert_eq!(
        transfer::handle_sqs_event(&worker, &event, None).await,
        SqsBatchResponse::default()
    );
    assert!(s.fake.calls().is_empty(), "no import, no status update");
    assert_eq!(s.record(&id).await, done);
}

#[tokio::test]
async fn an_interrupted_job_is_marked_failed_on_redelivery() {
    if !emulator_up("an_interrupted_job_is_marked_failed_on_redelivery") {
        return;
    }
    let s = Setup::with_emulator().await;
    let worker = s.worker(&[]).await;
    let id = s.submit(&request(vec![])).await;
    // What a run that died during the media phase leaves behind.
    let mut record = s.record(&id).await;
    record.status = JobStatus::InProgress;
    record.phase = Some(Phase::Media);
    s.jobs().put_record(&record).await.unwrap();

    let event = s.next_event().await;
    transfer::handle_sqs_event(&worker, &event, None).await;
    let record = s.record(&id).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(record.errors[0].reason.contains("stopped before finishing"));
    assert_eq!(
        s.fake.import_history(MENTOR)["s3VideoMigrate"],
        ["QUEUED", "FAILED"]
    );
    assert!(calls_to(&s.fake, "api.mentorImport").is_empty());
}

#[tokio::test]
async fn a_failed_import_fails_the_job_and_the_import_phase() {
    if !emulator_up("a_failed_import_fails_the_job_and_the_import_phase") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.fail_next_mentor_import("mentor import exploded");
    let (_, record) = s.run(&request(vec![answer(Q1, None, None)]), &[]).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(
        record.errors[0].reason.contains("mentor import exploded"),
        "{record:?}"
    );
    let history = s.fake.import_history(MENTOR);
    assert_eq!(
        history["graphQLUpdate"],
        ["QUEUED", "IN_PROGRESS", "FAILED"]
    );
    assert_eq!(history["s3VideoMigrate"], ["QUEUED"]);
}

#[tokio::test]
async fn messages_that_name_no_job_are_retried() {
    if !emulator_up("messages_that_name_no_job_are_retried") {
        return;
    }
    let s = Setup::with_emulator().await;
    let worker = s.worker(&[]).await;
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "bad", "body": "{\"token\": \"x\"}"},
        {"messageId": "unknown", "body": json!({"id": Uuid::new_v4()}).to_string()},
    ]}))
    .unwrap();
    let out = transfer::handle_sqs_event(&worker, &event, None).await;
    let ids: Vec<&str> = out
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, ["bad", "unknown"]);
}

/// A job with one media file at `url`, run by a worker with `vars`: the recorded error.
async fn single_failure(s: &Setup, url: &str, vars: &[(&str, &str)]) -> String {
    let (_, record) = s
        .run(&request(vec![answer(Q1, Some(url), None)]), vars)
        .await;
    assert_eq!(record.status, JobStatus::Done, "{record:?}");
    assert_eq!((record.counts.transferred, record.counts.failed), (0, 1));
    assert!(s
        .object(&format!("videos/{MENTOR}/{Q1}/web.mp4"))
        .await
        .is_none());
    record.errors[0].reason.clone()
}

#[tokio::test]
async fn http_is_refused_without_transfer_allow_http() {
    if !emulator_up("http_is_refused_without_transfer_allow_http") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    let reason = single_failure(
        &s,
        &s.fake.media_url("w.mp4"),
        &[("TRANSFER_ALLOW_HTTP", "")],
    )
    .await;
    assert_eq!(reason, "refused: only https URLs are fetched");
}

#[tokio::test]
async fn a_host_not_allowed_is_refused() {
    if !emulator_up("a_host_not_allowed_is_refused") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    let other = s.fake.media_url("w.mp4").replace("127.0.0.1", "localhost");
    let reason = single_failure(&s, &other, &[]).await;
    assert!(
        reason.contains("localhost") && reason.contains("not an allowed host"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_redirect_to_another_host_is_refused() {
    if !emulator_up("a_redirect_to_another_host_is_refused") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    let elsewhere = s.fake.media_url("w.mp4").replace("127.0.0.1", "localhost");
    let reason = single_failure(&s, &s.fake.redirect_url(&elsewhere), &[]).await;
    assert!(
        reason.starts_with("redirect refused: to another host"),
        "{reason}"
    );

    // A redirect on the same host is followed.
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    let same = s.fake.redirect_url(&s.fake.media_url("w.mp4"));
    let (_, record) = s
        .run(&request(vec![answer(Q1, Some(&same), None)]), &[])
        .await;
    assert_eq!(record.counts.transferred, 1, "{record:?}");
}

#[tokio::test]
async fn an_oversize_file_is_refused() {
    if !emulator_up("an_oversize_file_is_refused") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("big.mp4", vec![7u8; 100]);
    let reason = single_failure(
        &s,
        &s.fake.media_url("big.mp4"),
        &[("TRANSFER_MEDIA_MAX_BYTES", "10")],
    )
    .await;
    assert_eq!(reason, "larger than the limit of 10 bytes");
}

// --- the upstream calls as the fake recorded them (spec §2.2) ---

#[tokio::test]
async fn g15_sends_only_the_phase_it_updates() {
    if !emulator_up("g15_sends_only_the_phase_it_updates") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    s.run(
        &request(vec![answer(Q1, Some(&s.fake.media_url("w.mp4")), None)]),
        &[],
    )
    .await;
    let g15 = calls_to(&s.fake, "api.importTaskUpdate");
    let vars: Vec<&Value> = g15.iter().map(|c| &c.variables).collect();
    assert_eq!(
        vars,
        [
            &json!({"mentor": MENTOR, "graphQLUpdate": {"status": "IN_PROGRESS"}}),
            &json!({"mentor": MENTOR, "graphQLUpdate": {"status": "DONE"}}),
            &json!({"mentor": MENTOR, "s3VideoMigrateUpdate": {"status": "IN_PROGRESS"}}),
            &json!({"mentor": MENTOR, "s3VideoMigrateUpdate": {"status": "DONE"}}),
        ]
    );
    assert_eq!(g15[0].operation_name.as_deref(), Some("ImportTaskUpdate"));
    assert!(squeeze(&g15[0].query).contains(
        "importTaskUpdate(mentor: $mentor, graphQLUpdate: $graphQLUpdate, \
         s3VideoMigrateUpdate: $s3VideoMigrateUpdate, migrationErrors: $migrationErrors)"
    ));
}

#[tokio::test]
async fn g16_sends_the_export_and_selects_the_media() {
    if !emulator_up("g16_sends_the_export_and_selects_the_media") {
        return;
    }
    let s = Setup::with_emulator().await;
    let request = request(vec![answer(Q1, None, None), answer(Q2, None, None)]);
    s.run(&request, &[]).await;
    let g16 = calls_to(&s.fake, "api.mentorImport");
    assert_eq!(g16.len(), 1);
    assert_eq!(g16[0].operation_name.as_deref(), Some("MentorImport"));
    assert_eq!(
        g16[0].variables,
        json!({"mentor": MENTOR, "json": request["mentorExportJson"],
            "replacedMentorDataChanges": request["replacedMentorDataChanges"]})
    );
    let query = squeeze(&g16[0].query);
    assert!(
        query.contains(
            "answers { hasUntransferredMedia externalVideoIds { wistiaId } question { _id } \
         webMedia { url type tag needsTransfer } mobileMedia { url type tag needsTransfer } \
         vttMedia { url type tag needsTransfer } }"
        ),
        "{query}"
    );
}

#[tokio::test]
async fn g17_points_each_answer_at_its_copies() {
    if !emulator_up("g17_points_each_answer_at_its_copies") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    s.fake.put_media("en.vtt", b"WEBVTT\n".to_vec());
    let request = request(vec![answer(
        Q1,
        Some(&s.fake.media_url("w.mp4")),
        Some(&s.fake.media_url("en.vtt")),
    )]);
    s.run(&request, &[]).await;
    let g17 = calls_to(&s.fake, "api.updateAnswers");
    assert_eq!(g17.len(), 1);
    assert_eq!(g17[0].operation_name.as_deref(), Some("UpdateAnswers"));
    assert_eq!(
        g17[0].variables,
        json!({"mentorId": MENTOR, "answers": [
            {"questionId": Q1, "webMedia": {"url": format!("videos/{MENTOR}/{Q1}/web.mp4"),
                "type": "video", "tag": "web", "needsTransfer": false}},
            {"questionId": Q1, "vttMedia": {"url": format!("videos/{MENTOR}/{Q1}/en.vtt"),
                "type": "subtitles", "tag": "en", "needsTransfer": false}},
        ]})
    );
    assert_eq!(
        s.object(&format!("videos/{MENTOR}/{Q1}/en.vtt")).await,
        Some((b"WEBVTT\n".to_vec(), Some("text/vtt".to_string())))
    );
}

#[tokio::test]
async fn g17_goes_in_chunks_of_100() {
    if !emulator_up("g17_goes_in_chunks_of_100") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.put_media("w.mp4", vec![1u8; 10]);
    let url = s.fake.media_url("w.mp4");
    let answers = (0..101)
        .map(|i| answer(&format!("{i:024x}"), Some(&url), None))
        .collect();
    let (_, record) = s
        .run(&request(answers), &[("TRANSFER_CONCURRENCY", "8")])
        .await;
    assert_eq!(record.counts.transferred, 101, "{:?}", record.errors);
    let sizes: Vec<usize> = calls_to(&s.fake, "api.updateAnswers")
        .iter()
        .map(|c| c.variables["answers"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [100, 1]);
}

#[test]
fn the_job_keys_and_message() {
    let id = Uuid::nil();
    assert_eq!(job::status_key(&id), format!("jobs/{id}/status.json"));
    assert_eq!(job::export_key(&id), format!("jobs/{id}/export.json.gz"));
}
