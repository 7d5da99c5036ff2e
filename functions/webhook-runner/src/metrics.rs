//! One CloudWatch embedded-metric-format line per run of a job: CloudWatch Logs turns it into
//! metrics (namespace [`NAMESPACE`], dimension `Stage`), and it is a structured log line too.

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "WebhookRunner";

/// Counts of one run, and where the job stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMetrics {
    pub webhook_id: String,
    /// `succeeded`, `continued`, `failed` (told Amperity) or `error` (returned to SQS).
    pub outcome: &'static str,
    pub records_sent: u64,
    pub batches: u64,
    pub errors: u64,
    pub bytes: u64,
    pub offset: u64,
    pub duration_ms: u64,
    /// Runs of the job so far.
    pub runs: u32,
    /// Since the job's first run started.
    pub job_duration_ms: u64,
}

impl RunMetrics {
    /// The EMF document (one JSON line).
    pub fn document(&self, stage: &str, timestamp_ms: u64) -> Value {
        let failures = u64::from(matches!(self.outcome, "failed" | "error"));
        let metrics: [(&str, u64, &str); 8] = [
            ("RecordsSent", self.records_sent, "Count"),
            ("Batches", self.batches, "Count"),
            ("Errors", self.errors, "Count"),
            ("Runs", 1, "Count"),
            ("Bytes", self.bytes, "Bytes"),
            ("Offset", self.offset, "Bytes"),
            ("Duration", self.duration_ms, "Milliseconds"),
            ("Failures", failures, "Count"),
        ];
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stage"]],
                    "Metrics": metrics.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
                }]
            }),
        );
        doc.insert("Stage".into(), stage.into());
        for (name, value, _) in metrics {
            doc.insert(name.into(), value.into());
        }
        doc.insert("message".into(), "job run metrics".into());
        doc.insert("webhook_id".into(), self.webhook_id.clone().into());
        doc.insert("outcome".into(), self.outcome.into());
        doc.insert("job_runs".into(), self.runs.into());
        doc.insert("job_duration_ms".into(), self.job_duration_ms.into());
        Value::Object(doc)
    }

    /// Print the document on stdout, where Lambda sends it to CloudWatch Logs.
    pub fn emit(&self) {
        let stage = std::env::var("STAGE").unwrap_or_else(|_| "unknown".into());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        println!("{}", self.document(&stage, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_declared_and_present() {
        let m = RunMetrics {
            webhook_id: "wh-1".into(),
            outcome: "failed",
            records_sent: 10,
            batches: 2,
            bytes: 1000,
            offset: 900,
            runs: 3,
            ..Default::default()
        };
        let doc = m.document("dev", 1_700_000_000_000);
        let decl = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], NAMESPACE);
        assert_eq!(decl["Dimensions"], json!([["Stage"]]));
        for d in decl["Metrics"].as_array().unwrap() {
            let name = d["Name"].as_str().unwrap();
            assert!(doc[name].is_u64(), "{name} has no value");
        }
        assert_eq!(doc["Stage"], "dev");
        assert_eq!(
            (doc["RecordsSent"].as_u64(), doc["Failures"].as_u64()),
            (Some(10), Some(1))
        );
        assert_eq!(doc["webhook_id"], "wh-1");
    }
}
