//! `canvas-data`: a scheduled state machine keeps a PostgreSQL replica of Canvas Data 2 fresh.

use serde::Deserialize;
use serde_json::json;
use state_machines::machines::canvas_data as machine;

use super::{check, env};
use crate::constructs::*;
use crate::stage::{FunctionOverrides, ScheduleExpr, Stage};

pub const SERVICE: &str = "canvas-data";
/// What the functions write in embedded metric format (`functions/canvas-data/src/metrics.rs`).
const LAG_NAMESPACE: &str = "CanvasData";
const LAG_METRIC: &str = "LagHours";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub functions: Functions,
    pub schedule: ScheduleExpr,
    /// Tables synced at once by the state machine's Map.
    pub max_concurrency: u32,
    pub skip_tables: Vec<String>,
    /// PostgreSQL schema that holds the replica.
    pub schema: String,
    pub dap_api_url: String,
    /// Secrets Manager secret with the application's database login (JSON username, password,
    /// host, port, dbname); default `<stage>/canvas-data/database`.
    pub database_secret: Option<String>,
    /// Aurora Serverless v2 capacity (ACUs); AWS stages only.
    pub database: DatabaseSettings,
    /// Private subnets and security groups of the database; required on AWS stages.
    pub vpc: Option<VpcSettings>,
    /// Where the refresh summary is e-mailed.
    pub notify_email: Option<String>,
    /// An execution of the refresh stops after this; at most two thirds of a `rate()` schedule's
    /// interval, so two executions never work at once.
    pub execution_timeout_minutes: u32,
    /// Function runs per table in one execution; past it the table fails and the next
    /// execution resumes from its checkpoint.
    pub max_rounds: u32,
    /// Runs in a row failing the same way after which a checkpoint is dropped and the table
    /// starts over with a new snapshot.
    pub max_same_failures: u32,
    /// Alarm when a table's data is older than this (now − its last `until`).
    pub lag_alarm_hours: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    pub list_tables: Option<FunctionOverrides>,
    pub sync_table: Option<FunctionOverrides>,
    pub init_table: Option<FunctionOverrides>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub min_capacity: f64,
    pub max_capacity: f64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            min_capacity: 0.5,
            max_capacity: 4.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcSettings {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            functions: Functions::default(),
            schedule: ScheduleExpr("rate(3 hours)".into()),
            max_concurrency: 5,
            skip_tables: Vec::new(),
            schema: "canvas".into(),
            dap_api_url: "https://api-gateway.instructure.com".into(),
            database_secret: None,
            database: DatabaseSettings::default(),
            vpc: None,
            notify_email: None,
            execution_timeout_minutes: 120,
            max_rounds: 20,
            max_same_failures: 3,
            lag_alarm_hours: 24,
        }
    }
}

impl Settings {
    pub(crate) fn validate(&self, local: bool) -> Result<(), (String, String)> {
        check(
            (1..=40).contains(&self.max_concurrency),
            "max_concurrency",
            || format!("max_concurrency must be 1-40, got {}", self.max_concurrency),
        )?;
        let db = &self.database;
        check(
            (0.0..=256.0).contains(&db.min_capacity)
                && db.min_capacity <= db.max_capacity
                && db.max_capacity >= 1.0,
            "database",
            || {
                format!(
                    "capacity must satisfy 0 <= min <= max <= 256 and max >= 1, got {}-{}",
                    db.min_capacity, db.max_capacity
                )
            },
        )?;
        check(
            self.schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !self.schema.is_empty(),
            "schema",
            || {
                format!(
                    "schema `{}` must be a lower-case SQL identifier",
                    self.schema
                )
            },
        )?;
        check((1..=200).contains(&self.max_rounds), "max_rounds", || {
            format!("max_rounds must be 1-200, got {}", self.max_rounds)
        })?;
        check(
            (1..=50).contains(&self.max_same_failures),
            "max_same_failures",
            || {
                format!(
                    "max_same_failures must be 1-50, got {}",
                    self.max_same_failures
                )
            },
        )?;
        check(
            (30..=1440).contains(&self.execution_timeout_minutes),
            "execution_timeout_minutes",
            || {
                format!(
                    "execution_timeout_minutes must be 30-1440 (a function run of up to 15 minutes and a margin must fit), got {}",
                    self.execution_timeout_minutes
                )
            },
        )?;
        if let Some(interval) = rate_minutes(&self.schedule.0) {
            check(
                self.execution_timeout_minutes as u64 * 3 <= interval * 2,
                "execution_timeout_minutes",
                || {
                    format!(
                        "execution_timeout_minutes ({}) must be at most two thirds of the schedule's interval ({interval} minutes), so two refreshes never overlap",
                        self.execution_timeout_minutes
                    )
                },
            )?;
            check(
                self.lag_alarm_hours as u64 * 60 > interval,
                "lag_alarm_hours",
                || {
                    format!(
                        "lag_alarm_hours ({}) must exceed the schedule's interval ({interval} minutes), or every table alarms between refreshes",
                        self.lag_alarm_hours
                    )
                },
            )?;
        }
        check(self.lag_alarm_hours >= 1, "lag_alarm_hours", || {
            "lag_alarm_hours must be at least 1".into()
        })?;
        if let Some(vpc) = &self.vpc {
            check(!vpc.subnet_ids.is_empty(), "vpc.subnet_ids", || {
                "name at least two private subnets".into()
            })?;
            for id in &vpc.subnet_ids {
                check(aws_id(id, "subnet-"), "vpc.subnet_ids", || {
                    format!("`{id}` is not a subnet id (subnet- and 8 or 17 hex digits)")
                })?;
            }
            for id in &vpc.security_group_ids {
                check(aws_id(id, "sg-"), "vpc.security_group_ids", || {
                    format!("`{id}` is not a security group id (sg- and 8 or 17 hex digits)")
                })?;
            }
        }
        check(local || self.vpc.is_some(), "vpc", || {
            "AWS stages need `vpc:` with the database's private subnets and security groups".into()
        })
    }

    pub fn database_secret(&self, stage: &Stage) -> String {
        self.database_secret
            .clone()
            .unwrap_or_else(|| format!("{}/canvas-data/database", stage.name))
    }
}

/// The interval of a `rate(n unit)` schedule in minutes; `None` for `cron(...)`.
fn rate_minutes(expr: &str) -> Option<u64> {
    let body = expr.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = body.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let per = match unit.trim_end_matches('s') {
        "minute" => 1,
        "hour" => 60,
        "day" => 1440,
        _ => return None,
    };
    Some(n * per)
}

/// `subnet-0123abcd`-style EC2 ids: a prefix and 8 or 17 hex digits.
fn aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

pub fn stack(stage: &Stage) -> Stack {
    let s = &stage.services.canvas_data;
    let stack = Stack::new(
        SERVICE,
        stage,
        "Canvas Data 2 replica in PostgreSQL, refreshed on a schedule",
    );
    let summary = Topic::new(&stack, "summary", s.notify_email.as_deref());
    let client_id =
        SsmParameter::from_name(&format!("/{}/canvas_data_2/dap_client_id", stage.name));
    let client_secret =
        SsmParameter::from_name(&format!("/{}/canvas_data_2/dap_client_secret", stage.name));
    let db_secret = Secret::from_name(&s.database_secret(stage));
    let f = &s.functions;
    // an execution begins a run only while a whole run (the longer of sync and init) and a
    // margin still fit before its timeout, so it always reaches its summary
    let longest_run = [
        stage.function_config(1024, 900, &f.sync_table).timeout,
        stage.function_config(2048, 900, &f.init_table).timeout,
    ]
    .into_iter()
    .max()
    .unwrap_or(900);
    let execution_budget = (s.execution_timeout_minutes * 60).saturating_sub(longest_run + 120);
    let environment = || {
        env(vec![
            (
                "EXECUTION_BUDGET_SECONDS",
                execution_budget.to_string().into(),
            ),
            ("DAP_API_URL", s.dap_api_url.clone().into()),
            ("DAP_CLIENT_ID_PARAMETER", client_id.name.clone().into()),
            (
                "DAP_CLIENT_SECRET_PARAMETER",
                client_secret.name.clone().into(),
            ),
            ("DATABASE_SECRET", db_secret.name.clone().into()),
            ("DB_SCHEMA", s.schema.clone().into()),
            ("SKIP_TABLES", s.skip_tables.join(",").into()),
            ("MAX_ROUNDS", s.max_rounds.to_string().into()),
            ("MAX_SAME_FAILURES", s.max_same_failures.to_string().into()),
        ])
    };
    let function = |name: &str, description: &str, memory, timeout, overrides| {
        let function = Function::new(
            &stack,
            name,
            FunctionProps {
                description: description.into(),
                config: stage.function_config(memory, timeout, overrides),
                environment: environment(),
                ..Default::default()
            },
        );
        client_id.grant_read(&function);
        client_secret.grant_read(&function);
        db_secret.grant_read(&function);
        if let Some(vpc) = &s.vpc {
            function.in_vpc(&Vpc {
                subnet_ids: vpc.subnet_ids.clone(),
                security_group_ids: vpc.security_group_ids.clone(),
            });
        }
        function
    };
    let list = function(
        "list-tables",
        "Lists the Canvas Data 2 tables to refresh",
        256,
        60,
        &f.list_tables,
    );
    let sync = function(
        "sync-table",
        "Applies a table's changes since its last sync",
        1024,
        900,
        &f.sync_table,
    );
    let init = function(
        "init-table",
        "Loads a table's snapshot, resumably",
        2048,
        900,
        &f.init_table,
    );
    if let (Some(vpc), false) = (&s.vpc, stage.is_local()) {
        AuroraServerless::new(
            &stack,
            "replica",
            AuroraServerlessProps {
                database_name: "canvas".into(),
                min_capacity: s.database.min_capacity,
                max_capacity: s.database.max_capacity,
                vpc: Vpc {
                    subnet_ids: vpc.subnet_ids.clone(),
                    security_group_ids: vpc.security_group_ids.clone(),
                },
                deletion_protection: stage.is_prod(),
            },
        );
    }
    let definition = match machine::refresh(s.max_concurrency, s.execution_timeout_minutes * 60) {
        Ok(d) => d,
        Err(e) => {
            stack.error(e.to_string());
            return stack;
        }
    };
    let refresh = StateMachine::new(
        &stack,
        &definition,
        &[
            (machine::LIST_TABLES, Binding::Invoke(&list)),
            (machine::SYNC_TABLE, Binding::Invoke(&sync)),
            (machine::INIT_TABLE, Binding::Invoke(&init)),
            (machine::SUMMARY_TOPIC, Binding::Publish(&summary)),
        ],
    );
    Alarm::new(
        &stack,
        "TableLagAlarm",
        AlarmProps {
            description: format!(
                "a Canvas Data table of {} is more than {} hours behind (metric {LAG_NAMESPACE}/{LAG_METRIC} per Table)",
                stage.name, s.lag_alarm_hours,
            ),
            namespace: LAG_NAMESPACE,
            metric: LAG_METRIC,
            dimensions: vec![("Stage", stage.name.to_string().into())],
            statistic: "Maximum",
            threshold: s.lag_alarm_hours as f64,
            periods: 1,
            period: crate::constructs::duration::hours(1),
        },
    );
    Schedule::new(
        &stack,
        "refresh",
        &s.schedule,
        ScheduleTarget::StateMachine(&refresh),
        json!({}),
    );
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_execution_timeout_stays_far_below_the_schedule_interval() {
        assert_eq!(rate_minutes("rate(3 hours)"), Some(180));
        assert_eq!(rate_minutes("rate(1 day)"), Some(1440));
        assert_eq!(rate_minutes("cron(0 * * * ? *)"), None);
        let ok = Settings {
            vpc: None,
            ..Settings::default()
        };
        assert_eq!(ok.validate(true), Ok(()));
        let late = Settings {
            execution_timeout_minutes: 150,
            ..ok.clone()
        };
        let (key, message) = late.validate(true).unwrap_err();
        assert_eq!(key, "execution_timeout_minutes");
        assert!(
            message.contains("two thirds of the schedule's interval (180 minutes)"),
            "{message}"
        );
        let eager = Settings {
            lag_alarm_hours: 3,
            ..ok
        };
        let (key, message) = eager.validate(true).unwrap_err();
        assert_eq!(key, "lag_alarm_hours");
        assert!(message.contains("every table alarms"), "{message}");
    }
}
