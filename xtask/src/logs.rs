//! `cargo xtask logs <function> --stage S [--since 10m] [--follow]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use infra::stage::Stage;

use crate::{aws, invoke, ui};

/// `90s`, `10m`, `2h`, `1d`.
pub fn parse_since(s: &str) -> Result<Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .with_context(|| format!("--since `{s}`: write e.g. 90s, 10m, 2h, 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => bail!("--since `{s}`: unknown unit `{unit}` (s, m, h, d)"),
    };
    Ok(Duration::from_secs(secs))
}

/// Milliseconds since the epoch as `2026-11-23T10:04:05.123Z`.
fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// The events of `group` from `start` (ms) on, oldest first: (time, stream, message).
pub async fn fetch(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start: i64,
) -> Result<Vec<(i64, String, String)>> {
    let mut out = Vec::new();
    let mut pages = logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(start)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws::explain("logs:FilterLogEvents", group, e))?;
        for e in page.events() {
            out.push((
                e.timestamp().unwrap_or_default(),
                e.log_stream_name().unwrap_or_default().to_string(),
                e.message().unwrap_or_default().trim_end().to_string(),
            ));
        }
    }
    out.sort_by_key(|(t, _, _)| *t);
    Ok(out)
}

pub async fn run(stage: Stage, function: &str, since: &str, follow: bool) -> Result<()> {
    let target = invoke::find(stage, function)?;
    let group = format!("/aws/lambda/{}", target.function.physical_name);
    let clients = aws::Clients::connect(&target.stage).await?;
    let mut start = (SystemTime::now() - parse_since(since)?)
        .duration_since(UNIX_EPOCH)?
        .as_millis() as i64;
    let mut printed = 0;
    loop {
        for (ts, stream, message) in fetch(&clients.logs, &group, start).await? {
            // the stream's last part tells invocations (sandboxes) apart, as in the console
            let sandbox = stream.rsplit(']').next().unwrap_or(&stream);
            let sandbox = &sandbox[..sandbox.len().min(8)];
            println!(
                "{} {} {message}",
                ui::dim(&format_time(ts)),
                ui::dim(sandbox)
            );
            start = start.max(ts + 1);
            printed += 1;
        }
        if !follow {
            if printed == 0 {
                ui::warn(format!("no log events in {group} in the last {since}"));
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

impl crate::flags::Logs {
    pub async fn run(self) -> Result<i32> {
        let stage = crate::synth::load_stage(&self.stage)?;
        run(stage, &self.function, &self.since, self.follow).await?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_takes_units() {
        assert_eq!(parse_since("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_since("10m").unwrap().as_secs(), 600);
        assert_eq!(parse_since("2h").unwrap().as_secs(), 7200);
        assert!(parse_since("2w").is_err());
        assert!(parse_since("x").is_err());
    }

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(
            super::format_time(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
    }
}
