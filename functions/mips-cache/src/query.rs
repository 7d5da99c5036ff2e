//! Query strings → [`Variant`]s, and the normalized keys that name their cache objects.

use std::collections::BTreeMap;

use time::Date;

use crate::balances::Period;
use crate::cache::PREFIX;
use crate::transform::Options;

/// A malformed query parameter: answered with 400 and this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{parameter}`: {message}")]
pub struct BadParameter {
    pub parameter: String,
    pub message: String,
}

fn bad(parameter: &str, message: impl Into<String>) -> BadParameter {
    BadParameter {
        parameter: parameter.into(),
        message: message.into(),
    }
}

/// True unless the value is false/no/off/0 (any case).
fn flag(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "false" | "no" | "off" | "0"
    )
}

fn code(parameter: &str, c: &str) -> Result<String, BadParameter> {
    let c = c.trim();
    if c.is_empty() || c.len() > 6 || !c.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            parameter,
            format!("`{c}` is not a program code (up to 6 digits)"),
        ));
    }
    Ok(c.to_string())
}

/// Options of `/accounts` and `/tags`.
pub fn options(params: &BTreeMap<String, String>) -> Result<Options, BadParameter> {
    let mut o = Options::default();
    for (k, v) in params {
        match k.as_str() {
            "show_inactive_codes" => o.show_inactive_codes = flag(v),
            "show_other_code" => o.show_other_code = flag(v),
            "hide_no_program_code" => o.hide_no_program_code = flag(v),
            "priority_codes" => {
                o.priority_codes = v
                    .split(',')
                    .filter(|c| !c.trim().is_empty())
                    .map(|c| code(k, c))
                    .collect::<Result<_, _>>()?;
            }
            "limit" => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(k, format!("`{v}` is not a positive integer")))?;
                if n == 0 {
                    return Err(bad(k, "must be at least 1"));
                }
                o.limit = Some(n);
            }
            other => return Err(bad(other, "unknown parameter")),
        }
    }
    Ok(o)
}

/// The period of `/balances`: its only parameter is `target_date` (`YYYY-MM-DD`, default today).
pub fn balances_period(
    params: &BTreeMap<String, String>,
    today: Date,
) -> Result<Period, BadParameter> {
    if let Some(other) = params.keys().find(|k| *k != "target_date") {
        return Err(bad(other, "unknown parameter (only `target_date` is)"));
    }
    let target = match params.get("target_date") {
        None => today,
        Some(v) => Date::parse(v.trim(), DATE)
            .map_err(|_| bad("target_date", format!("`{v}` is not a date as YYYY-MM-DD")))?,
    };
    Ok(Period::of(target))
}

const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A route whose result is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Accounts,
    Tags,
    Balances,
}

/// One cached object: a route with its normalized query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variant {
    Accounts(Options),
    Tags(Options),
    Balances(Period),
}

impl Variant {
    pub fn from_request(
        route: Route,
        params: &BTreeMap<String, String>,
        today: Date,
    ) -> Result<Variant, BadParameter> {
        Ok(match route {
            Route::Accounts => Variant::Accounts(options(params)?),
            Route::Tags => Variant::Tags(options(params)?),
            Route::Balances => Variant::Balances(balances_period(params, today)?),
        })
    }

    /// The objects a refresh always rebuilds: every route with its defaults.
    pub fn canonical(today: Date) -> [Variant; 3] {
        [
            Variant::Accounts(Options::default()),
            Variant::Tags(Options::default()),
            Variant::Balances(Period::of(today)),
        ]
    }

    /// `cache/<route>[?<query>]`: parameters sorted, defaults dropped, so equal requests share an
    /// object; balances are named by their period, which all target dates of it share.
    pub fn key(&self) -> String {
        let (name, query) = match self {
            Variant::Accounts(o) => ("accounts", canonical(o)),
            Variant::Tags(o) => ("tags", canonical(o)),
            Variant::Balances(p) => ("balances", format!("from={}&to={}", p.from, p.to)),
        };
        if query.is_empty() {
            format!("{PREFIX}{name}")
        } else {
            format!("{PREFIX}{name}?{query}")
        }
    }

    /// The variant a cache key names, or why it names none.
    pub fn from_key(key: &str) -> Result<Variant, String> {
        let rest = key
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("`{key}` is not under {PREFIX}"))?;
        let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
        let params: BTreeMap<String, String> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let variant = match name {
            "accounts" => Variant::Accounts(options(&params).map_err(|e| e.to_string())?),
            "tags" => Variant::Tags(options(&params).map_err(|e| e.to_string())?),
            "balances" => {
                let date = |k: &str| {
                    params
                        .get(k)
                        .and_then(|v| Date::parse(v, DATE).ok())
                        .ok_or_else(|| format!("`{key}` has no date `{k}`"))
                };
                let period = Period {
                    from: date("from")?,
                    to: date("to")?,
                };
                // every period a request can ask for is the period of its last day
                if Period::of(period.to) != period {
                    return Err(format!("`{key}` is not a period a target date gives"));
                }
                Variant::Balances(period)
            }
            other => return Err(format!("`{key}`: no route `{other}`")),
        };
        // keys written before normalization, or by hand, are not this variant's object
        if variant.key() != key {
            return Err(format!(
                "`{key}` is not normalized (it would be `{}`)",
                variant.key()
            ));
        }
        Ok(variant)
    }
}

/// Only the options that differ from the defaults, sorted by name.
fn canonical(o: &Options) -> String {
    let d = Options::default();
    let mut parts = Vec::new();
    if o.hide_no_program_code != d.hide_no_program_code {
        parts.push(format!("hide_no_program_code={}", o.hide_no_program_code));
    }
    if let Some(l) = o.limit {
        parts.push(format!("limit={l}"));
    }
    if !o.priority_codes.is_empty() {
        parts.push(format!("priority_codes={}", o.priority_codes.join(",")));
    }
    if o.show_inactive_codes != d.show_inactive_codes {
        parts.push(format!("show_inactive_codes={}", o.show_inactive_codes));
    }
    if o.show_other_code != d.show_other_code {
        parts.push(format!("show_other_code={}", o.show_other_code));
    }
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn booleans_are_true_unless_false_no_off_or_0() {
        for (v, want) in [
            ("true", true),
            ("yes", true),
            ("", true),
            ("FALSE", false),
            ("no", false),
            ("Off", false),
            ("0", false),
        ] {
            assert_eq!(
                options(&q(&[("show_inactive_codes", v)]))
                    .unwrap()
                    .show_inactive_codes,
                want,
                "{v}"
            );
        }
    }

    #[test]
    fn malformed_parameters_are_named() {
        for (pairs, name) in [
            (vec![("limit", "ten")], "limit"),
            (vec![("limit", "0")], "limit"),
            (vec![("priority_codes", "1013x0")], "priority_codes"),
            (vec![("colour", "red")], "colour"),
            (vec![("target_date", "2024-01-01")], "target_date"),
        ] {
            assert_eq!(options(&q(&pairs)).unwrap_err().parameter, name);
        }
        let today = date!(2024 - 06 - 20);
        for (pairs, name) in [
            (vec![("target_date", "2024-02-30")], "target_date"),
            (vec![("target_date", "20240201")], "target_date"),
            (vec![("limit", "3")], "limit"),
        ] {
            let e = balances_period(&q(&pairs), today).unwrap_err();
            assert_eq!(e.parameter, name);
        }
    }

    #[test]
    fn keys_sort_parameters_and_drop_defaults() {
        let today = date!(2024 - 06 - 20);
        let key = |route, pairs: &[(&str, &str)]| {
            Variant::from_request(route, &q(pairs), today)
                .unwrap()
                .key()
        };
        assert_eq!(key(Route::Accounts, &[]), "cache/accounts");
        assert_eq!(
            key(
                Route::Tags,
                &[("show_other_code", "yes"), ("hide_no_program_code", "no")]
            ),
            "cache/tags"
        );
        let a = key(
            Route::Accounts,
            &[
                ("show_inactive_codes", "yes"),
                ("limit", "5"),
                ("show_other_code", "0"),
            ],
        );
        assert_eq!(
            a,
            "cache/accounts?limit=5&show_inactive_codes=true&show_other_code=false"
        );
        assert_eq!(
            Variant::from_key(&a).unwrap().key(),
            a,
            "a key names the variant it was made from"
        );
        assert_eq!(
            key(Route::Balances, &[]),
            key(Route::Balances, &[("target_date", "2024-06-20")]),
            "no target date is today"
        );
        assert_eq!(
            key(Route::Balances, &[("target_date", "2024-07-03")]),
            "cache/balances?from=2024-06-01&to=2024-06-30"
        );
        assert!(Variant::from_key("cache/accounts?show_other_code=true").is_err());
        assert!(Variant::from_key("cache/ledger").is_err());
        assert!(Variant::from_key("cache/balances?from=2024-06-01&to=2024-06-30").is_ok());
        assert!(Variant::from_key("cache/balances?from=2024-06-02&to=2024-06-30").is_err());
        assert!(Variant::from_key("cache/balances?from=2024-06-01&to=2024-06-05").is_err());
    }
}
