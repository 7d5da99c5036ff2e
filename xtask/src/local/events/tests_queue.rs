//! The SQS poller against the emulator's queues, with a fake Lambda endpoint.

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use serde_json::{json, Value};

use super::poll_queue;
use super::tests_support::{emulator, wait_until, FakeLambda, Reply, EMULATOR};
use crate::local::wiring::QueueSource;

fn unique(what: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("xtask-events-{what}-{}", &id[..8])
}

async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&emulator().await)
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        req = req.attributes(k.clone(), v);
    }
    req.send().await.unwrap().queue_url.unwrap()
}

async fn delete_queues(sqs: &aws_sdk_sqs::Client, urls: &[&str]) {
    for url in urls {
        sqs.delete_queue().queue_url(*url).send().await.unwrap();
    }
}

/// Messages visible plus in flight.
async fn messages_left(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    out.attributes()
        .into_iter()
        .flatten()
        .map(|(_, v)| v.parse::<u64>().unwrap())
        .sum()
}

async fn send_all(sqs: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
                    .unwrap()
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed().is_empty(), "{:?}", out.failed());
        ids.extend(out.successful().iter().map(|s| s.message_id().to_string()));
    }
    ids
}

fn source(url: &str, batch_size: u32, window: u32, report: bool) -> QueueSource {
    QueueSource {
        service: "test".into(),
        function: "test-consumer".into(),
        queue_url: url.into(),
        batch_size,
        batching_window_seconds: window,
        report_batch_item_failures: report,
        max_concurrency: None,
        enabled: true,
    }
}

fn start(
    source: QueueSource,
    sqs: &aws_sdk_sqs::Client,
    lambda: &FakeLambda,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let sqs = sqs.clone();
    let lambda = lambda.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        // never asked to stop: these tests abort it
        let _stop = stop;
        poll_queue(source, sqs.clone(), lambda.url.clone(), stopped).await
    })
}

fn by_body<'a>(records: &'a [Value], body: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["body"] == body).collect()
}

#[tokio::test]
async fn a_message_arrives_in_lambdas_event_shape_and_is_deleted_after_success_on_the_emulator() {
    let sqs = sqs().await;
    let name = unique("shape");
    let url = create_queue(&sqs, &name, &[]).await;
    let lambda = FakeLambda::start(|_, _| Reply::ok("null")).await;
    let poller = start(source(&url, 10, 0, false), &sqs, &lambda);
    // let the poller reach its long poll on the empty queue, so the pick-up below is measured
    // from an idle queue
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body(r#"{"job":1}"#)
        .message_attributes(
            "kind",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("video")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "raw",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![0u8, 255]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let sent_at = Instant::now();
    wait_until("the fake Lambda got the message", || async {
        !lambda.calls().is_empty()
    })
    .await;
    eprintln!(
        "picked up {:?} after sending to an idle queue",
        sent_at.elapsed()
    );

    let calls = lambda.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function, "test-consumer");
    assert_eq!(calls[0].invocation_type.as_deref(), Some("RequestResponse"));
    let records = calls[0].records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["messageId"], sent.message_id().unwrap());
    assert_eq!(r["body"], r#"{"job":1}"#);
    assert_eq!(r["md5OfBody"], sent.md5_of_message_body().unwrap());
    assert!(!r["receiptHandle"].as_str().unwrap().is_empty());
    assert_eq!(r["eventSource"], "aws:sqs");
    assert_eq!(
        r["eventSourceARN"],
        format!("arn:aws:sqs:us-east-1:123456789012:{name}")
    );
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
    for key in [
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(r["attributes"][key].is_string(), "{key} missing in {r}");
    }
    assert_eq!(
        r["messageAttributes"]["kind"],
        json!({"stringValue": "video", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
    );
    assert_eq!(r["messageAttributes"]["raw"]["binaryValue"], "AP8=");

    wait_until("the handled message is deleted", || async {
        messages_left(&sqs, &url).await == 0
    })
    .await;
    poller.abort();
    delete_queues(&sqs, &[&url]).await;
}

#[tokio::test]
async fn batches_hold_at_most_batch_size_gathered_over_several_receives_on_the_emulator() {
    let sqs = sqs().await;
    let url = create_queue(&sqs, &unique("batch"), &[]).await;
    let bodies: Vec<String> = (0..15).map(|i| format!("m{i}")).collect();
    let ids = send_all(&sqs, &url, &bodies).await;
    let lambda = FakeLambda::start(|_, _| Reply::ok("")).await;
    // 12 is more than one ReceiveMessage returns, so the first batch needs two receives
    let poller = start(source(&url, 12, 2, false), &sqs, &lambda);

    wait_until("all 15 messages are delivered and deleted", || async {
        lambda.records().len() >= 15 && messages_left(&sqs, &url).await == 0
    })
    .await;
    let calls = lambda.calls();
    let sizes: Vec<usize> = calls.iter().map(|c| c.records().len()).collect();
    assert!(sizes.iter().all(|n| *n <= 12), "batch sizes {sizes:?}");
    assert!(sizes.contains(&12), "no full batch of 12 in {sizes:?}");
    let mut delivered: Vec<String> = lambda
        .records()
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_string())
        .collect();
    delivered.sort();
    let mut sent = ids.clone();
    sent.sort();
    assert_eq!(delivered, sent, "each message exactly once");
    poller.abort();
    delete_queues(&sqs, &[&url]).await;
}

/// Three messages in one batch; the first invocation answers `first_answer(failing message id)`.
async fn partial_batch(first_answer: fn(&str) -> String) -> Vec<Value> {
    let sqs = sqs().await;
    let url = create_queue(
        &sqs,
        &unique("partial"),
        &[(QueueAttributeName::VisibilityTimeout, "1".into())],
    )
    .await;
    send_all(&sqs, &url, &["ok-1".into(), "fail".into(), "ok-2".into()]).await;
    let lambda = FakeLambda::start(move |call, index| {
        let failing = call
            .records()
            .iter()
            .find(|r| r["body"] == "fail")
            .map(|r| r["messageId"].as_str().unwrap().to_string());
        match (index, failing) {
            (0, Some(id)) => Reply::ok(&first_answer(&id)),
            _ => Reply::ok(r#"{"batchItemFailures":[]}"#),
        }
    })
    .await;
    // no batching window: with a visibility timeout of 1 s, a longer gathering would see the
    // batch's own messages come back before it was delivered
    let poller = start(source(&url, 10, 0, true), &sqs, &lambda);
    wait_until("the queue is drained", || async {
        lambda.calls().len() >= 2 && messages_left(&sqs, &url).await == 0
    })
    .await;
    poller.abort();
    delete_queues(&sqs, &[&url]).await;
    let calls = lambda.calls();
    assert_eq!(calls[0].records().len(), 3, "one batch of three first");
    lambda.records()
}

#[tokio::test]
async fn a_partial_batch_response_keeps_only_the_failed_message_on_the_emulator() {
    let records =
        partial_batch(|id| json!({"batchItemFailures": [{"itemIdentifier": id}]}).to_string())
            .await;
    assert_eq!(by_body(&records, "ok-1").len(), 1, "{records:#?}");
    assert_eq!(by_body(&records, "ok-2").len(), 1, "{records:#?}");
    let failed = by_body(&records, "fail");
    assert_eq!(
        failed.len(),
        2,
        "the failed message comes back once: {records:#?}"
    );
    assert_eq!(failed[0]["messageId"], failed[1]["messageId"]);
    assert_eq!(failed[1]["attributes"]["ApproximateReceiveCount"], "2");
}

#[tokio::test]
async fn an_unknown_item_identifier_fails_the_whole_batch_on_the_emulator() {
    let records = partial_batch(|_| {
        json!({"batchItemFailures": [{"itemIdentifier": "not-a-message-of-the-batch"}]}).to_string()
    })
    .await;
    for body in ["ok-1", "fail", "ok-2"] {
        let got = by_body(&records, body);
        assert_eq!(got.len(), 2, "{body} delivered twice: {records:#?}");
        assert_eq!(got[1]["attributes"]["ApproximateReceiveCount"], "2");
    }
}

#[tokio::test]
async fn a_function_error_redelivers_then_the_redrive_policy_dead_letters_on_the_emulator() {
    let sqs = sqs().await;
    let dlq = create_queue(&sqs, &unique("dlq"), &[]).await;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string();
    let url = create_queue(
        &sqs,
        &unique("failing"),
        &[
            (QueueAttributeName::VisibilityTimeout, "1".into()),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await;
    let ids = send_all(&sqs, &url, &["poison".into()]).await;
    let lambda = FakeLambda::start(|_, _| Reply::function_error()).await;
    let poller = start(source(&url, 10, 0, false), &sqs, &lambda);

    wait_until("the message is in the dead-letter queue", || async {
        messages_left(&sqs, &dlq).await == 1
    })
    .await;
    poller.abort();
    let records = lambda.records();
    let counts: Vec<&Value> = records
        .iter()
        .map(|r| &r["attributes"]["ApproximateReceiveCount"])
        .collect();
    assert_eq!(counts, [&json!("1"), &json!("2")], "{records:#?}");
    assert!(records.iter().all(|r| r["messageId"] == ids[0].as_str()));
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id(), Some(ids[0].as_str()));
    assert_eq!(dead[0].body(), Some("poison"));
    assert_eq!(messages_left(&sqs, &url).await, 0);
    delete_queues(&sqs, &[&url, &dlq]).await;
}

#[tokio::test]
async fn no_more_than_max_concurrency_batches_run_at_once_on_the_emulator() {
    let sqs = sqs().await;
    let url = create_queue(&sqs, &unique("concurrency"), &[]).await;
    let bodies: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    send_all(&sqs, &url, &bodies).await;
    let lambda = FakeLambda::start(|_, _| Reply::ok("")).await;
    lambda.hold(true);
    let mut s = source(&url, 1, 0, false);
    s.max_concurrency = Some(2);
    let poller = start(s, &sqs, &lambda);

    wait_until("two invocations are running", || async {
        lambda.in_flight() == 2
    })
    .await;
    // time for a third batch to start if the limit did not hold
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        lambda.calls().len(),
        2,
        "a third batch started while two ran"
    );
    lambda.hold(false);
    wait_until("all four are handled", || async {
        lambda.records().len() == 4 && messages_left(&sqs, &url).await == 0
    })
    .await;
    assert_eq!(lambda.max_in_flight(), 2);
    poller.abort();
    delete_queues(&sqs, &[&url]).await;
}

#[tokio::test]
async fn the_poller_outlives_a_missing_queue_and_serves_it_once_created_on_the_emulator() {
    let sqs = sqs().await;
    let name = unique("late");
    let url = format!("{EMULATOR}/123456789012/{name}");
    let lambda = FakeLambda::start(|_, _| Reply::ok("")).await;
    let poller = start(source(&url, 10, 0, false), &sqs, &lambda);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        !poller.is_finished(),
        "the poller stopped on a missing queue"
    );

    assert_eq!(create_queue(&sqs, &name, &[]).await, url);
    send_all(&sqs, &url, &["late".into()]).await;
    wait_until(
        "the message sent after the queue appeared is delivered",
        || async { !lambda.records().is_empty() },
    )
    .await;
    let bodies: HashMap<String, usize> =
        lambda.records().iter().fold(HashMap::new(), |mut m, r| {
            *m.entry(r["body"].as_str().unwrap().to_string())
                .or_default() += 1;
            m
        });
    assert_eq!(bodies.get("late"), Some(&1));
    poller.abort();
    delete_queues(&sqs, &[&url]).await;
}

async fn counts(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let get = |k: QueueAttributeName| -> u64 { out.attributes().unwrap()[&k].parse().unwrap() };
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn a_poller_stopped_after_receiving_leaves_the_message_to_the_next_on_the_emulator() {
    let sqs = sqs().await;
    let name = unique("handover");
    // a long visibility timeout: a message left invisible would not come back in this test
    let url = create_queue(
        &sqs,
        &name,
        &[(QueueAttributeName::VisibilityTimeout, "600".into())],
    )
    .await;
    let lambda = FakeLambda::start(|_, _| Reply::ok("")).await;
    let sent = send_all(&sqs, &url, &["job".to_string()]).await;

    // the batching window holds the first poller between its receive and the delivery
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = tokio::spawn(poll_queue(
        source(&url, 10, 5, false),
        sqs.clone(),
        lambda.url.clone(),
        stopped,
    ));
    wait_until("the first poller has received the message", || async {
        counts(&sqs, &url).await == (0, 1)
    })
    .await;
    let asked = Instant::now();
    stop.send_replace(true);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(25), first)
        .await
        .expect("the poller stops after its receive in flight");
    ended.unwrap().unwrap();
    assert!(asked.elapsed().as_secs() < 10, "{:?}", asked.elapsed());
    assert!(
        lambda.calls().is_empty(),
        "the stopped poller delivered nothing"
    );
    assert_eq!(counts(&sqs, &url).await, (1, 0), "visible again at once");

    let second = start(source(&url, 10, 0, false), &sqs, &lambda);
    wait_until("the next poller delivers it", || async {
        !lambda.records().is_empty()
    })
    .await;
    let records = lambda.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["messageId"], sent[0].as_str());
    assert_eq!(
        records[0]["attributes"]["ApproximateReceiveCount"], "2",
        "one receive by the stopped poller, one by the next"
    );
    wait_until("the message is deleted", || async {
        messages_left(&sqs, &url).await == 0
    })
    .await;
    second.abort();
    delete_queues(&sqs, &[&url]).await;
}

#[tokio::test]
async fn a_poller_asked_to_stop_while_idle_ends_after_its_long_poll_on_the_emulator() {
    let sqs = sqs().await;
    let url = create_queue(&sqs, &unique("idle"), &[]).await;
    let lambda = FakeLambda::start(|_, _| Reply::ok("")).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(poll_queue(
        source(&url, 10, 0, false),
        sqs.clone(),
        lambda.url.clone(),
        stopped,
    ));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.send_replace(true);
    // a message sent during the long poll in flight is received by it, then released
    send_all(&sqs, &url, &["late".to_string()]).await;
    tokio::time::timeout(std::time::Duration::from_secs(25), poller)
        .await
        .expect("stopped within the long poll")
        .unwrap()
        .unwrap();
    assert!(lambda.calls().is_empty());
    assert_eq!(counts(&sqs, &url).await, (1, 0));
    delete_queues(&sqs, &[&url]).await;
}
