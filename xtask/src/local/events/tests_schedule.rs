//! Schedule expressions and the plan that fires them, on fixed times (no clock, no waiting).

use chrono::{DateTime, TimeZone, Utc};

use super::schedule_expression::Timing;
use super::scheduler::Plan;
use crate::local::wiring::{Schedule, ScheduleTarget, TargetKind};

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn next(expression: &str, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Timing::parse(expression)
        .unwrap_or_else(|e| panic!("{expression}: {e:#}"))
        .next_after(after, after)
}

fn nexts(expression: &str, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let timing = Timing::parse(expression).unwrap();
    let mut out = Vec::new();
    let mut t = after;
    for _ in 0..n {
        t = timing.next_after(t, after).unwrap();
        out.push(t);
    }
    out
}

fn error(expression: &str) -> String {
    match Timing::parse(expression) {
        Ok(_) => panic!("{expression} parsed"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn weekdays_use_aws_numbering_and_names() {
    // Saturday 2026-01-03: the next weekday 10:00 is Monday the 5th
    let sat = at(2026, 1, 3, 12, 0);
    assert_eq!(
        nexts("cron(0 10 ? * MON-FRI *)", sat, 6),
        [5, 6, 7, 8, 9, 12].map(|d| at(2026, 1, d, 10, 0))
    );
    // 2-6 is MON-FRI in AWS's 1 = SUN numbering
    assert_eq!(
        nexts("cron(0 10 ? * 2-6 *)", sat, 6),
        nexts("cron(0 10 ? * MON-FRI *)", sat, 6)
    );
    // 1 is Sunday, 7 Saturday
    assert_eq!(next("cron(30 8 ? * 1 *)", sat), Some(at(2026, 1, 4, 8, 30)));
    assert_eq!(
        next("cron(30 8 ? * 7 *)", at(2026, 1, 4, 0, 0)),
        Some(at(2026, 1, 10, 8, 30))
    );
}

#[test]
fn last_weekday_of_the_month_within_a_year() {
    // 6L: the last Friday of each month of 2026
    let fridays = nexts("cron(15 10 ? * 6L 2026)", at(2026, 1, 1, 0, 0), 3);
    assert_eq!(
        fridays,
        [
            at(2026, 1, 30, 10, 15),
            at(2026, 2, 27, 10, 15),
            at(2026, 3, 27, 10, 15)
        ]
    );
    // after the last one of December 2026 there is none
    assert_eq!(
        next("cron(15 10 ? * 6L 2026)", at(2026, 12, 25, 10, 15)),
        None
    );
}

#[test]
fn day_of_month_specials_steps_lists_and_month_names() {
    assert_eq!(
        next("cron(0 8 L * ? *)", at(2026, 2, 1, 0, 0)),
        Some(at(2026, 2, 28, 8, 0))
    );
    // the 15th of August 2026 is a Saturday: the nearest weekday is Friday the 14th
    assert_eq!(
        next("cron(0 9 15W * ? *)", at(2026, 8, 1, 0, 0)),
        Some(at(2026, 8, 14, 9, 0))
    );
    // the second Tuesday (3 = TUE) of March 2026
    assert_eq!(
        next("cron(0 9 ? MAR 3#2 *)", at(2026, 1, 1, 0, 0)),
        Some(at(2026, 3, 10, 9, 0))
    );
    assert_eq!(
        nexts("cron(1/20 * * * ? *)", at(2026, 1, 1, 0, 0), 4),
        [
            at(2026, 1, 1, 0, 1),
            at(2026, 1, 1, 0, 21),
            at(2026, 1, 1, 0, 41),
            at(2026, 1, 1, 1, 1)
        ]
    );
    assert_eq!(
        nexts("cron(0 6,18 1 JAN,JUL ? *)", at(2026, 1, 1, 7, 0), 3),
        [
            at(2026, 1, 1, 18, 0),
            at(2026, 7, 1, 6, 0),
            at(2026, 7, 1, 18, 0)
        ]
    );
}

#[test]
fn rates_count_whole_periods_from_the_start() {
    let start = at(2026, 1, 1, 0, 7);
    let three_hours = Timing::parse("rate(3 hours)").unwrap();
    assert_eq!(
        three_hours.next_after(start, start),
        Some(at(2026, 1, 1, 3, 7))
    );
    // late by 10 minutes at 03:17: the next stays on the grid, 06:07
    assert_eq!(
        three_hours.next_after(at(2026, 1, 1, 3, 17), start),
        Some(at(2026, 1, 1, 6, 7))
    );
    assert_eq!(
        nexts("rate(1 minute)", start, 2),
        [at(2026, 1, 1, 0, 8), at(2026, 1, 1, 0, 9)]
    );
    assert_eq!(next("rate(2 days)", start), Some(at(2026, 1, 3, 0, 7)));
    assert_eq!(next("rate(1 day)", start), Some(at(2026, 1, 2, 0, 7)));
}

#[test]
fn invalid_expressions_say_what_is_wrong() {
    assert!(error("rate(5 hour)").contains("plural"));
    assert!(error("rate(1 hours)").contains("singular"));
    assert!(error("rate(0 minutes)").contains("positive"));
    assert!(error("rate(5 weeks)").contains("unit"));
    assert!(error("rate(5)").contains("value and a unit"));
    assert!(error("cron(0 10 * * ?)").contains("6 fields"));
    assert!(error("cron(0 10 * * * *)").contains("must be `?`"));
    assert!(error("cron(0 10 ? * ? *)").contains("only one"));
    assert!(error("cron(61 10 * * ? *)").contains("minutes 0-59"));
    // 0 is no weekday in AWS's numbering
    assert!(error("cron(0 10 ? * 0 *)").contains("day-of-week 1-7 or SUN-SAT"));
    assert!(error("cron(0 10 ? * FOO *)").contains("FOO"));
    assert!(error("every 5 minutes").contains("rate("));
}

fn schedule(logical: &str, expression: &str) -> Schedule {
    Schedule {
        service: "canvas-data".into(),
        logical: logical.into(),
        rule: format!("canvas-data-local-{logical}"),
        expression: expression.into(),
        enabled: true,
        targets: vec![ScheduleTarget {
            kind: TargetKind::Function("canvas-data-list-tables".into()),
            input: None,
        }],
    }
}

#[test]
fn an_invalid_schedule_is_named_and_left_out_while_the_others_fire() {
    let start = at(2026, 1, 1, 0, 0);
    let (mut plan, invalid) = Plan::new(
        vec![
            schedule("RefreshSchedule", "rate(10 minutes)"),
            schedule("NightlySchedule", "cron(0 2 * * * *)"),
            schedule("HourlySchedule", "cron(0 * * * ? *)"),
        ],
        start,
    );
    assert_eq!(invalid.len(), 1);
    let e = format!("{:#}", invalid[0]);
    assert!(
        e.contains("canvas-data-nightly") && e.contains("cron(0 2 * * * *)"),
        "{e}"
    );

    assert_eq!(plan.wait(start), Some(std::time::Duration::from_secs(600)));
    assert!(plan.take_due(at(2026, 1, 1, 0, 9)).is_empty());
    let due: Vec<String> = plan
        .take_due(at(2026, 1, 1, 0, 10))
        .iter()
        .map(|s| s.logical.clone())
        .collect();
    assert_eq!(due, ["RefreshSchedule"]);
    // the machine slept from 00:10 to 01:35: each schedule fires once, not once per missed time
    let due: Vec<String> = plan
        .take_due(at(2026, 1, 1, 1, 35))
        .iter()
        .map(|s| s.logical.clone())
        .collect();
    assert_eq!(due, ["RefreshSchedule", "HourlySchedule"]);
    assert_eq!(
        plan.wait(at(2026, 1, 1, 1, 35)),
        Some(std::time::Duration::from_secs(5 * 60))
    );
}
