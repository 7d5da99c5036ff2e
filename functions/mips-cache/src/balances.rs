//! Ledger balances: the reporting period of a target date, and the CSV of MIPS's level-1 sums
//! per GL account.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::{Date, Duration};

use crate::transform::{Account, Segment};

pub const GL_SEGMENT: &str = "GL";

/// First and last day of a balances query, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

impl Period {
    /// On day 1–7 the whole previous month (its books may still be closing); otherwise the
    /// month to date.
    pub fn of(target: Date) -> Period {
        let first = target.replace_day(1).expect("day 1 exists");
        if target.day() <= 7 {
            let last_of_previous = first - Duration::days(1);
            Period {
                from: last_of_previous.replace_day(1).expect("day 1 exists"),
                to: last_of_previous,
            }
        } else {
            Period {
                from: first,
                to: target,
            }
        }
    }
}

/// A level-1 sum of `GetAccountBalances`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BalanceItem {
    #[serde(rename = "DBDETAIL_SUM_SEGMENT_N0")]
    pub account: String,
    /// 1 start balance, 2 activity, 3 end balance.
    #[serde(rename = "DBDETAIL_SUM_TYPE")]
    pub kind: i64,
    #[serde(rename = "DBDETAIL_SUM_POSTEDAMT")]
    pub amount: f64,
    #[serde(rename = "DBDETAIL_SUM_DESC", default)]
    pub description: String,
}

/// The GL accounts' names by code; inactive accounts too, since they can still hold balances.
pub fn gl_chart(segments: &[Segment], accounts: &[Account]) -> Option<BTreeMap<String, String>> {
    let id = segments.iter().find(|s| s.title == GL_SEGMENT)?.id;
    Some(
        accounts
            .iter()
            .filter(|a| a.segment_id == id)
            .map(|a| (a.code.trim().to_string(), a.title.clone()))
            .collect(),
    )
}

pub const CSV_HEADER: &str =
    "AccountNumber,AccountName,PeriodStart,PeriodEnd,StartBalance,Activity,EndBalance\n";

/// One row per account in the order MIPS lists them; amounts summed in exact cents. Unknown
/// types and accounts missing from the chart are logged and skipped.
pub fn csv(period: &Period, chart: &BTreeMap<String, String>, items: &[BalanceItem]) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut sums: BTreeMap<&str, [i64; 3]> = BTreeMap::new();
    for item in items {
        let slot = match item.kind {
            1..=3 => (item.kind - 1) as usize,
            other => {
                tracing::warn!(
                    kind = other,
                    description = item.description,
                    account = item.account,
                    "skipping a balance of unknown type"
                );
                continue;
            }
        };
        let account = item.account.trim();
        let entry = sums.entry(account).or_insert_with(|| {
            order.push(account);
            [0; 3]
        });
        entry[slot] += (item.amount * 100.0).round() as i64;
    }
    let mut out = String::from(CSV_HEADER);
    for account in order {
        let Some(name) = chart.get(account) else {
            tracing::warn!(
                account,
                "skipping balances of an account missing from the GL chart"
            );
            continue;
        };
        let [start, activity, end] = sums[account];
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            csv_field(account),
            csv_field(name),
            period.from,
            period.to,
            cents(start),
            cents(activity),
            cents(end)
        ));
    }
    out
}

fn cents(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", v.abs() / 100, v.abs() % 100)
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Today in UTC, the default target date.
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn first_week_reports_the_whole_previous_month() {
        for (target, from, to) in [
            (
                date!(2024 - 03 - 05),
                date!(2024 - 02 - 01),
                date!(2024 - 02 - 29),
            ),
            (
                date!(2024 - 01 - 01),
                date!(2023 - 12 - 01),
                date!(2023 - 12 - 31),
            ),
            (
                date!(2024 - 05 - 07),
                date!(2024 - 04 - 01),
                date!(2024 - 04 - 30),
            ),
        ] {
            assert_eq!(Period::of(target), Period { from, to }, "{target}");
        }
    }

    #[test]
    fn later_days_report_the_month_to_date() {
        for target in [
            date!(2024 - 03 - 08),
            date!(2024 - 03 - 20),
            date!(2024 - 12 - 31),
        ] {
            let p = Period::of(target);
            assert_eq!(
                (p.from.day(), p.from.month(), p.to),
                (1, target.month(), target)
            );
        }
    }

    fn item(account: &str, kind: i64, amount: f64) -> BalanceItem {
        BalanceItem {
            account: account.into(),
            kind,
            amount,
            description: format!("type {kind}"),
        }
    }

    #[test]
    fn rows_follow_mips_order_skip_unknown_types_and_accounts() {
        let period = Period::of(date!(2024 - 06 - 20));
        let chart = BTreeMap::from([
            ("4000".to_string(), "Grants, restricted".to_string()),
            ("1000".to_string(), "Cash".to_string()),
        ]);
        let items = vec![
            item("4000", 1, 10.10),
            item("4000", 2, 0.2),
            item("4000", 2, -0.05),
            item("4000", 9, 99.0),
            item("9999", 1, 5.0),
            item("1000", 3, -1.5),
        ];
        assert_eq!(
            csv(&period, &chart, &items),
            format!(
                "{CSV_HEADER}4000,\"Grants, restricted\",2024-06-01,2024-06-20,10.10,0.15,0.00\n\
                 1000,Cash,2024-06-01,2024-06-20,0.00,0.00,-1.50\n"
            )
        );
    }
}
