//! The event Lambda's SQS event source mapping hands a function: one record per message, in
//! Lambda's own field names (camelCase, `eventSourceARN`), not the SQS API's.

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{Message, MessageAttributeValue};
use base64::Engine;
use serde_json::{json, Map, Value};

/// The ARN of a queue from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or the
/// emulator's `http://127.0.0.1:5000/<account>/<name>`): both end in the account and the name,
/// which is all the ARN needs, so no GetQueueAttributes round trip is spent on it.
pub(super) fn queue_arn(queue_url: &str, region: &str) -> String {
    let mut parts = queue_url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

pub(super) fn event(messages: &[Message], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| record(m, queue_arn, region))
        .collect();
    json!({ "Records": records })
}

fn record(m: &Message, queue_arn: &str, region: &str) -> Value {
    // Lambda passes every system attribute SQS returned under SQS's own names
    // (ApproximateReceiveCount, SentTimestamp, MessageGroupId, AWSTraceHeader, ...).
    let attributes: Map<String, Value> = m
        .attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
        .collect();
    let message_attributes: Map<String, Value> = m
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), message_attribute(v)))
        .collect();
    let mut r = json!({
        "messageId": m.message_id().unwrap_or_default(),
        "receiptHandle": m.receipt_handle().unwrap_or_default(),
        "body": m.body().unwrap_or_default(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body().unwrap_or_default(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    });
    if let Some(md5) = m.md5_of_message_attributes() {
        r["md5OfMessageAttributes"] = json!(md5);
    }
    r
}

fn message_attribute(v: &MessageAttributeValue) -> Value {
    let b64 = |b: &Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    let mut a = Map::new();
    if let Some(s) = v.string_value() {
        a.insert("stringValue".into(), json!(s));
    }
    if let Some(b) = v.binary_value() {
        a.insert("binaryValue".into(), json!(b64(b)));
    }
    a.insert("stringListValues".into(), json!(v.string_list_values()));
    let binaries: Vec<String> = v.binary_list_values().iter().map(b64).collect();
    a.insert("binaryListValues".into(), json!(binaries));
    a.insert("dataType".into(), json!(v.data_type()));
    Value::Object(a)
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::MessageSystemAttributeName;

    use super::*;

    #[test]
    fn the_arn_comes_from_the_url_of_aws_and_of_the_emulator() {
        assert_eq!(
            queue_arn(
                "https://sqs.eu-west-1.amazonaws.com/111122223333/jobs",
                "eu-west-1"
            ),
            "arn:aws:sqs:eu-west-1:111122223333:jobs"
        );
        assert_eq!(
            queue_arn("http://127.0.0.1:5000/123456789012/jobs-dlq", "us-east-1"),
            "arn:aws:sqs:us-east-1:123456789012:jobs-dlq"
        );
    }

    #[test]
    fn a_fifo_message_keeps_its_group_and_a_binary_attribute_is_base64() {
        let m = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh")
            .body("{}")
            .md5_of_body("99914b932bd37a50b983c5e7c90ae93b")
            .attributes(MessageSystemAttributeName::MessageGroupId, "g1")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .message_attributes(
                "blob",
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(Blob::new(vec![1u8, 2, 3]))
                    .build()
                    .unwrap(),
            )
            .build();
        let e = event(&[m], "arn:aws:sqs:us-east-1:1:q.fifo", "us-east-1");
        let r = &e["Records"][0];
        assert_eq!(r["attributes"]["MessageGroupId"], "g1");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
        assert_eq!(
            r["messageAttributes"]["blob"],
            json!({"binaryValue": "AQID", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"})
        );
        assert!(r.get("md5OfMessageAttributes").is_none());
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:1:q.fifo");
    }
}
