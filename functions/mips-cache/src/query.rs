//! Query strings of the list routes → [`Options`], and the canonical form that names cache objects.

use std::collections::BTreeMap;

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

/// Options of `/accounts`, `/tags` and `/balances`; `target_date` is allowed only for balances.
pub fn options(
    params: &BTreeMap<String, String>,
    allow_date: bool,
) -> Result<Options, BadParameter> {
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
            "target_date" if allow_date => {}
            other => return Err(bad(other, "unknown parameter")),
        }
    }
    Ok(o)
}

/// `YYYY-MM-DD`, a real calendar date.
pub fn target_date(params: &BTreeMap<String, String>) -> Result<time::Date, BadParameter> {
    let v = params
        .get("target_date")
        .ok_or_else(|| bad("target_date", "required, as YYYY-MM-DD"))?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(v, format)
        .map_err(|_| bad("target_date", format!("`{v}` is not a date as YYYY-MM-DD")))
}

/// The options in a fixed order with normalized values: equal requests share one cache object.
pub fn canonical(o: &Options, date: Option<time::Date>) -> String {
    let mut parts = vec![
        format!("hide_no_program_code={}", o.hide_no_program_code),
        format!("show_inactive_codes={}", o.show_inactive_codes),
        format!("show_other_code={}", o.show_other_code),
    ];
    if let Some(l) = o.limit {
        parts.push(format!("limit={l}"));
    }
    if !o.priority_codes.is_empty() {
        parts.push(format!("priority_codes={}", o.priority_codes.join(",")));
    }
    if let Some(d) = date {
        parts.push(format!("target_date={d}"));
    }
    parts.sort();
    parts.join("&")
}

/// Parse a canonical query back (to recompute a cached object on refresh).
pub fn parse_canonical(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
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
                options(&q(&[("show_inactive_codes", v)]), false)
                    .unwrap()
                    .show_inactive_codes,
                want,
                "{v}"
            );
        }
    }

    #[test]
    fn malformed_parameters_are_named() {
        let e = options(&q(&[("limit", "ten")]), false).unwrap_err();
        assert_eq!(e.parameter, "limit");
        assert_eq!(
            options(&q(&[("limit", "0")]), false).unwrap_err().parameter,
            "limit"
        );
        assert_eq!(
            options(&q(&[("priority_codes", "1013x0")]), false)
                .unwrap_err()
                .parameter,
            "priority_codes"
        );
        assert_eq!(
            options(&q(&[("colour", "red")]), false)
                .unwrap_err()
                .parameter,
            "colour"
        );
        assert_eq!(
            options(&q(&[("target_date", "2024-01-01")]), false)
                .unwrap_err()
                .parameter,
            "target_date"
        );
        assert_eq!(
            target_date(&q(&[("target_date", "2024-02-30")]))
                .unwrap_err()
                .parameter,
            "target_date"
        );
        assert_eq!(target_date(&q(&[])).unwrap_err().parameter, "target_date");
    }

    #[test]
    fn equal_requests_share_a_canonical_query() {
        let a = options(&q(&[("show_inactive_codes", "yes"), ("limit", "5")]), false).unwrap();
        let b = options(
            &q(&[
                ("limit", "5"),
                ("show_inactive_codes", "true"),
                ("show_other_code", "1"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(canonical(&a, None), canonical(&b, None));
        let round = options(&parse_canonical(&canonical(&a, None)), false).unwrap();
        assert_eq!(round, a);
    }
}
