//! `cargo xtask logs <function> --stage S [--since 10m] [--follow]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use infra::stage::Stage;

use crate::{aws, invoke};

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

pub async fn run(stage: Stage, function: &str, since: &str, follow: bool) -> Result<()> {
    let target = invoke::find(stage, function)?;
    let group = format!("/aws/lambda/{}", target.function.physical_name);
    let clients = aws::Clients::new(&target.stage).await;
    let mut start = (SystemTime::now() - parse_since(since)?)
        .duration_since(UNIX_EPOCH)?
        .as_millis() as i64;
    loop {
        let mut pages = clients
            .logs
            .filter_log_events()
            .log_group_name(&group)
            .start_time(start)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws::explain("logs:FilterLogEvents", &group, e))?;
            for e in page.events() {
                let ts = e.timestamp().unwrap_or_default();
                println!("{} {}", ts, e.message().unwrap_or_default().trim_end());
                start = start.max(ts + 1);
            }
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
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
}
