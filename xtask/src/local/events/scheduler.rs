//! Firing schedules on their times, as EventBridge does for the deployed rules: each firing
//! goes through `trigger::fire`, the same path as `cargo xtask trigger`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};

use super::log;
use super::schedule_expression::Timing;
use crate::local::wiring::Schedule;

/// How long the scheduler sleeps at most: a wall-clock change (a suspended laptop, an NTP step)
/// is noticed within this, instead of after a sleep computed from the old clock.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Fire each schedule on its `rate(...)`/`cron(...)` times until the task is aborted. A schedule
/// whose expression does not parse is reported and left out; the others run.
pub async fn run_schedules(schedules: Vec<Schedule>, clients: crate::aws::Clients) -> Result<()> {
    let clients = Arc::new(clients);
    let (mut plan, invalid) = Plan::new(schedules, Utc::now());
    for e in invalid {
        log(&format!("{e:#}"));
    }
    for (s, next) in plan.upcoming() {
        log(&format!(
            "schedule {} ({}): first firing at {next}",
            s.display_name(),
            s.expression
        ));
    }
    loop {
        for s in plan.take_due(Utc::now()) {
            let clients = clients.clone();
            tokio::spawn(async move {
                let what = format!("schedule {} ({})", s.display_name(), s.expression);
                match crate::trigger::fire(&s, &clients).await {
                    Ok(lines) => log(&format!("{what} fired: {}", lines.join("; "))),
                    Err(e) => log(&format!("{what} fired and failed: {e:#}")),
                }
            });
        }
        let wait = plan
            .wait(Utc::now())
            .map_or(MAX_SLEEP, |w| w.min(MAX_SLEEP));
        tokio::time::sleep(wait).await;
    }
}

pub(super) struct Plan {
    start: DateTime<Utc>,
    entries: Vec<Entry>,
}

struct Entry {
    schedule: Schedule,
    timing: Timing,
    next: Option<DateTime<Utc>>,
}

impl Plan {
    /// The plan from `start`, and an error naming each schedule whose expression is invalid.
    pub fn new(schedules: Vec<Schedule>, start: DateTime<Utc>) -> (Plan, Vec<anyhow::Error>) {
        let mut entries = Vec::new();
        let mut invalid = Vec::new();
        for schedule in schedules {
            match Timing::parse(&schedule.expression) {
                Ok(timing) => entries.push(Entry {
                    next: timing.next_after(start, start),
                    schedule,
                    timing,
                }),
                Err(e) => invalid.push(anyhow!(
                    "schedule {} ({} of {}): `{}` is not a schedule expression EventBridge accepts: {e:#}",
                    schedule.display_name(),
                    schedule.logical,
                    schedule.service,
                    schedule.expression
                )),
            }
        }
        (Plan { start, entries }, invalid)
    }

    pub fn upcoming(&self) -> impl Iterator<Item = (&Schedule, DateTime<Utc>)> {
        self.entries
            .iter()
            .filter_map(|e| Some((&e.schedule, e.next?)))
    }

    /// The schedules due at `now`, each moved on to its next time after `now`: times missed
    /// while the machine slept fire once, not once each, as EventBridge does not catch up.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Schedule> {
        let mut due = Vec::new();
        for e in &mut self.entries {
            if e.next.is_some_and(|t| t <= now) {
                due.push(e.schedule.clone());
                e.next = e.timing.next_after(now, self.start);
                if e.next.is_none() {
                    log(&format!(
                        "schedule {} ({}) has no later time and will not fire again",
                        e.schedule.display_name(),
                        e.schedule.expression
                    ));
                }
            }
        }
        due
    }

    /// Until the earliest next time; `None` when nothing will fire again.
    pub fn wait(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.entries
            .iter()
            .filter_map(|e| e.next)
            .min()
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
    }
}
