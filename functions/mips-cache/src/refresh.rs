//! The refresh function: rebuild the canonical objects (also after a purge) and the variants
//! callers asked for recently, from one MIPS session; drop variants nobody asks for any more.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use time::Date;

use crate::balances::Period;
use crate::handler::{App, Error};
use crate::query::Variant;

/// What a refresh did (or, dry, would do), by cache key.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub action: &'static str,
    pub dry_run: bool,
    /// Rebuilt (or, dry, to be rebuilt): the canonical objects first.
    pub refreshed: Vec<String>,
    /// Keys and why they could not be rebuilt; the others were still rebuilt.
    pub failed: BTreeMap<String, String>,
    /// Variants nobody asked for within the expiry, and objects no request can reach: deleted.
    pub expired: Vec<String>,
    /// Asked for recently, but beyond the most recent `refresh_max_variants`: left as they are.
    pub skipped: Vec<String>,
}

/// `{"action": "refresh"}`, optionally with `"dry_run": true` (plan only: reads the cache
/// bucket, neither MIPS nor writes).
pub async fn handle(app: &App, event: Value, deadline: Instant) -> Result<Report, Error> {
    if event.get("action").and_then(Value::as_str) != Some("refresh") {
        return Err(Error::Event(
            "expected {\"action\": \"refresh\"} (optionally with \"dry_run\": true)".into(),
        ));
    }
    let dry_run = match event.get("dry_run") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Error::Event(format!(
                "dry_run must be true or false, not {other}"
            )))
        }
    };
    refresh(app, crate::balances::today(), deadline, dry_run).await
}

pub async fn refresh(
    app: &App,
    today: Date,
    deadline: Instant,
    dry_run: bool,
) -> Result<Report, Error> {
    let mut report = Report {
        action: "refresh",
        dry_run,
        ..Report::default()
    };
    let canonical = Variant::canonical(today);
    let canonical_keys: BTreeSet<String> = canonical.iter().map(Variant::key).collect();
    let expired_before = crate::cache::now().saturating_sub(app.config.cache_expiry.as_secs());
    let mut candidates: Vec<(u64, String, Variant)> = Vec::new();
    let mut drop = Vec::new();
    for key in app.cache.keys().await? {
        if canonical_keys.contains(&key) {
            continue;
        }
        let variant = match Variant::from_key(&key) {
            Ok(v) => v,
            Err(why) => {
                tracing::warn!(key, why, "dropping an object no request can reach");
                drop.push(key);
                continue;
            }
        };
        match app.cache.asked_at(&key).await {
            Ok(Some(asked)) if asked >= expired_before => candidates.push((asked, key, variant)),
            Ok(Some(_)) => drop.push(key),
            Ok(None) => {}
            Err(e) => {
                report.failed.insert(key, e.to_string());
            }
        }
    }
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let max = app.config.refresh_max_variants;
    if candidates.len() > max {
        report.skipped = candidates.split_off(max).into_iter().map(|c| c.1).collect();
        tracing::warn!(
            skipped = report.skipped.len(),
            max,
            "more variants asked for than a refresh rebuilds; the least recent are left as they are"
        );
    }
    let variants: Vec<Variant> = canonical
        .into_iter()
        .chain(candidates.into_iter().map(|c| c.2))
        .collect();
    if dry_run {
        report.refreshed = variants.iter().map(Variant::key).collect();
        report.expired = drop;
        return Ok(report);
    }
    for key in drop {
        match app.cache.delete(&key).await {
            Ok(()) => report.expired.push(key),
            Err(e) => {
                report.failed.insert(key, e.to_string());
            }
        }
    }
    let periods: BTreeSet<Period> = variants
        .iter()
        .filter_map(|v| match v {
            Variant::Balances(p) => Some(*p),
            _ => None,
        })
        .collect();
    let periods: Vec<Period> = periods.into_iter().collect();
    let mut fetched = app.fetch(&periods, deadline).await?;
    for variant in &variants {
        let key = variant.key();
        let outcome = async {
            let (body, content_type) = app.render(variant, &mut fetched)?;
            let previous = app.cache.get(&key).await?;
            app.cache
                .put(&key, body, content_type, previous.as_ref(), false)
                .await?;
            Ok::<_, Error>(())
        }
        .await;
        match outcome {
            Ok(()) => report.refreshed.push(key),
            Err(e) => {
                tracing::error!(key, error = %e, "refreshing a cached object failed");
                report.failed.insert(key, e.to_string());
            }
        }
    }
    tracing::info!(
        refreshed = report.refreshed.len(),
        failed = report.failed.len(),
        expired = report.expired.len(),
        skipped = report.skipped.len(),
        "refresh done"
    );
    Ok(report)
}
