//! The function's output as Lambda logs it: `START`, the output lines, `END` and `REPORT`, in a
//! stream named like Lambda's (`2026/11/23/[$LATEST]<id>`) of `/aws/lambda/<function>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use sha2::{Digest, Sha256};

use crate::build::hex;
use crate::invoke::local::Finished;

/// CloudWatch Logs takes at most 10,000 events per PutLogEvents.
const BATCH: usize = 10_000;

pub fn stream_name() -> String {
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(time::macros::format_description!("[year]/[month]/[day]"))
        .unwrap_or_default();
    let id = hex(&Sha256::digest(format!(
        "{}-{}",
        std::process::id(),
        now.unix_timestamp_nanos()
    )));
    format!("{date}/[$LATEST]{}", &id[..32])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The invocation's log lines with their times.
pub fn lines(f: &Finished, memory_mb: u64) -> Vec<(SystemTime, String)> {
    let id = &f.request_id;
    let end = f
        .output
        .last()
        .map_or_else(SystemTime::now, |(t, _)| *t)
        .max(SystemTime::now());
    let start = end - f.duration - f.init.unwrap_or_default();
    let mut lines = vec![(start, format!("START RequestId: {id} Version: $LATEST"))];
    lines.extend(f.output.iter().cloned());
    lines.push((end, format!("END RequestId: {id}")));
    let billed = f.duration.as_millis().max(1);
    let mut report = format!(
        "REPORT RequestId: {id}\tDuration: {}\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB",
        ms(f.duration)
    );
    if let Some(init) = f.init {
        report.push_str(&format!("\tInit Duration: {}", ms(init)));
    }
    lines.push((end, report));
    lines
}

/// Append the lines to a new stream of the function's log group, creating the group if the
/// stack did not.
pub async fn put(
    client: &aws_sdk_cloudwatchlogs::Client,
    function: &str,
    stream: &str,
    lines: &[(SystemTime, String)],
) -> Result<()> {
    let group = format!("/aws/lambda/{function}");
    if let Err(e) = client
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
    {
        if e.code() != Some("ResourceAlreadyExistsException") {
            return Err(e).with_context(|| format!("creating {group}"));
        }
    }
    client
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name(stream)
        .send()
        .await
        .with_context(|| format!("creating {group} {stream}"))?;
    let mut lines = lines.to_vec();
    // stdout and stderr are read apart; CloudWatch wants the events in time order
    lines.sort_by_key(|(t, _)| *t);
    for chunk in lines.chunks(BATCH) {
        let events = chunk
            .iter()
            .map(|(t, message)| {
                let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
                InputLogEvent::builder()
                    .timestamp(ms)
                    .message(if message.is_empty() { " " } else { message })
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        client
            .put_log_events()
            .log_group_name(&group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
            .with_context(|| format!("writing to {group} {stream}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::runtime_api::{Outcome, RuntimeApi};

    #[tokio::test]
    async fn an_invocation_logs_start_its_output_end_and_report() {
        let t = SystemTime::now();
        let f = Finished {
            api: RuntimeApi::start("arn").await.unwrap(),
            request_id: "req-9".into(),
            outcome: Outcome::Response(Default::default()),
            init: Some(Duration::from_millis(120)),
            duration: Duration::from_millis(42),
            answered: Duration::from_millis(162),
            output: vec![(t, "{\"level\":\"INFO\"}".into())],
        };
        let lines = lines(&f, 256);
        let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(text[0], "START RequestId: req-9 Version: $LATEST");
        assert_eq!(text[1], "{\"level\":\"INFO\"}");
        assert_eq!(text[2], "END RequestId: req-9");
        assert!(text[3].starts_with("REPORT RequestId: req-9\tDuration: 42.00 ms\tBilled Duration: 42 ms\tMemory Size: 256 MB\tInit Duration: 120.00 ms"), "{}", text[3]);
        assert!(lines[0].0 <= lines[1].0, "START comes before the output");
        let name = stream_name();
        assert!(
            name.contains("/[$LATEST]") && name.len() == "2026/11/23/[$LATEST]".len() + 32,
            "{name}"
        );
    }
}
