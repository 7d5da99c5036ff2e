//! The per-table lag (now − the last recorded `until`) as a CloudWatch embedded-metric-format
//! line on stdout: per table for dashboards, and per stage (no table) for the alarm, which
//! watches the maximum.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const NAMESPACE: &str = "CanvasData";
pub const LAG_METRIC: &str = "LagHours";

/// Hours between `until` and `now`; `None` when `until` is not an RFC 3339 time.
pub fn lag_hours(until: &str, now: OffsetDateTime) -> Option<f64> {
    let until = OffsetDateTime::parse(until, &Rfc3339).ok()?;
    Some(((now - until).as_seconds_f64() / 3600.0).max(0.0))
}

/// The EMF document for one table's lag.
pub fn lag_document(stage: &str, table: &str, hours: f64, now: OffsetDateTime) -> Value {
    json!({
        "_aws": {
            "Timestamp": (now.unix_timestamp_nanos() / 1_000_000) as i64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stage", "Table"], ["Stage"]],
                "Metrics": [{ "Name": LAG_METRIC, "Unit": "None" }]
            }]
        },
        "Stage": stage,
        "Table": table,
        LAG_METRIC: (hours * 100.0).round() / 100.0,
    })
}

/// Writes the lag line; Lambda sends stdout to CloudWatch Logs, which extracts the metric.
/// Printed directly because the JSON log layer would nest it under `fields`.
pub fn emit_lag(stage: &str, table: &str, until: &str) {
    let now = OffsetDateTime::now_utc();
    if let Some(hours) = lag_hours(until, now) {
        println!("{}", lag_document(stage, table, hours, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_hours_since_until_in_emf_shape() {
        let now = OffsetDateTime::parse("2026-11-02T06:30:00Z", &Rfc3339).unwrap();
        let hours = lag_hours("2026-11-02T00:00:00Z", now).unwrap();
        assert_eq!(hours, 6.5);
        assert_eq!(lag_hours("not a time", now), None);
        let doc = lag_document("dev", "accounts", hours, now);
        assert_eq!(doc["LagHours"], 6.5);
        assert_eq!(doc["Table"], "accounts");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "CanvasData"
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stage", "Table"], ["Stage"]])
        );
        assert_eq!(doc["_aws"]["Timestamp"], now.unix_timestamp() * 1000);
    }
}
