//! EventBridge schedule expressions: `rate(N unit)` counted from the start, and AWS's six-field
//! `cron(minutes hours day-of-month month day-of-week year)`, evaluated in UTC.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, TimeDelta, Utc};
use croner::parser::{CronParser, Seconds, Year};

pub(super) enum Timing {
    Rate(Duration),
    Cron(Box<croner::Cron>),
}

impl Timing {
    pub fn parse(expression: &str) -> Result<Timing> {
        let e = expression.trim();
        let inner = |prefix: &str| e.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
        if let Some(r) = inner("rate(") {
            rate(r)
        } else if let Some(c) = inner("cron(") {
            cron(c)
        } else {
            bail!("expected rate(N minutes|hours|days) or cron(minutes hours day-of-month month day-of-week year)")
        }
    }

    /// The first time strictly after `after`. A rate counts whole periods from `start`, as
    /// EventBridge counts them from the rule's creation; `None` when a cron's years are over.
    pub fn next_after(&self, after: DateTime<Utc>, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::Rate(period) => {
                let period = TimeDelta::from_std(*period).ok()?.num_milliseconds();
                let elapsed = (after - start).num_milliseconds();
                let periods = (elapsed.div_euclid(period) + 1).max(1);
                Some(start + TimeDelta::milliseconds(periods.checked_mul(period)?))
            }
            Timing::Cron(c) => c.find_next_occurrence(&after, false).ok(),
        }
    }
}

fn rate(inner: &str) -> Result<Timing> {
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        bail!("a rate is a value and a unit, e.g. rate(5 minutes)");
    };
    let n: u64 = value
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow!("the rate's value `{value}` is not a positive whole number"))?;
    let (seconds, singular) = match unit {
        "minute" => (60, true),
        "minutes" => (60, false),
        "hour" => (3600, true),
        "hours" => (3600, false),
        "day" => (86_400, true),
        "days" => (86_400, false),
        _ => bail!("the rate's unit `{unit}` is not one of minute(s), hour(s), day(s)"),
    };
    // AWS rejects rate(1 hours) and rate(5 hour); accepting them here would pass a local test
    // that the deploy then fails.
    if (n == 1) != singular {
        bail!("a rate of 1 takes a singular unit (rate(1 hour)), any other a plural one (rate(5 hours))");
    }
    Ok(Timing::Rate(Duration::from_secs(n * seconds)))
}

fn cron(inner: &str) -> Result<Timing> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [minutes, hours, dom, month, dow, year] = fields[..] else {
        bail!(
            "a cron has 6 fields (minutes hours day-of-month month day-of-week year), this one {}",
            fields.len()
        );
    };
    match (dom == "?", dow == "?") {
        (true, true) => bail!("only one of day-of-month and day-of-week may be `?`"),
        (false, false) => bail!(
            "one of day-of-month (`{dom}`) and day-of-week (`{dow}`) must be `?`: AWS does not combine them"
        ),
        _ => {}
    }
    if fields.iter().any(|f| f.contains('?') && *f != "?") {
        bail!("`?` stands alone, in day-of-month or day-of-week");
    }
    // `L` alone in day-of-week is the week's last day: Saturday (7) in AWS's numbering.
    let dow = if dow.eq_ignore_ascii_case("L") {
        "7"
    } else {
        dow
    };
    // croner reads six fields as seconds..day-of-week, so the seconds are spelled out and the
    // year made required; its alternative (Quartz) weekdays are AWS's 1 = SUN ... 7 = SAT.
    let pattern = format!("0 {minutes} {hours} {dom} {month} {dow} {year}");
    let parsed = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .build()
        .parse(&pattern)
        .map_err(|e| {
            // croner does not say which field is wrong: give AWS's ranges to check against
            anyhow!("{e} (AWS's fields: minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT, year 1970-2199)")
        })?;
    Ok(Timing::Cron(Box::new(parsed)))
}
