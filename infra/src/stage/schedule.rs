//! EventBridge schedule expressions: `rate(5 minutes)` and six-field `cron(...)`.

use serde::{de, Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ScheduleExpr(pub String);

impl ScheduleExpr {
    pub fn parse(s: &str) -> Result<Self, String> {
        validate(s)?;
        Ok(ScheduleExpr(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for ScheduleExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScheduleExpr::parse(&s).map_err(de::Error::custom)
    }
}

/// Checks an expression the way EventBridge does, with a message that says what to write instead.
pub fn validate(expr: &str) -> Result<(), String> {
    if let Some(body) = expr.strip_prefix("rate(").and_then(|b| b.strip_suffix(')')) {
        return validate_rate(body).map_err(|e| format!("bad schedule `{expr}`: {e}"));
    }
    if let Some(body) = expr.strip_prefix("cron(").and_then(|b| b.strip_suffix(')')) {
        return validate_cron(body).map_err(|e| format!("bad schedule `{expr}`: {e}"));
    }
    Err(format!(
        "bad schedule `{expr}`: write `rate(<n> <minute|minutes|hour|hours|day|days>)` or `cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>)`"
    ))
}

fn validate_rate(body: &str) -> Result<(), String> {
    let mut parts = body.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("rate takes a number and a unit, e.g. `rate(3 hours)`".into());
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{n}` is not a positive whole number"))?;
    if n == 0 {
        return Err("the rate must be at least 1".into());
    }
    let singular = matches!(unit, "minute" | "hour" | "day");
    let plural = matches!(unit, "minutes" | "hours" | "days");
    match (n == 1, singular, plural) {
        (_, false, false) => Err(format!(
            "unknown unit `{unit}`; use minute(s), hour(s) or day(s)"
        )),
        (true, false, true) => Err(format!(
            "a rate of 1 takes the singular unit `{}`",
            unit.trim_end_matches('s')
        )),
        (false, true, false) => Err(format!("a rate above 1 takes the plural unit `{unit}s`")),
        _ => Ok(()),
    }
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn validate_cron(body: &str) -> Result<(), String> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "cron takes 6 fields (minutes hours day-of-month month day-of-week year), got {}",
            fields.len()
        ));
    }
    let specs: [(&str, u32, u32, &[&str]); 6] = [
        ("minutes", 0, 59, &[]),
        ("hours", 0, 23, &[]),
        ("day-of-month", 1, 31, &[]),
        ("month", 1, 12, MONTHS),
        ("day-of-week", 1, 7, DAYS),
        ("year", 1970, 2199, &[]),
    ];
    for (i, (field, (name, min, max, names))) in fields.iter().zip(specs).enumerate() {
        validate_field(field, i, min, max, names)
            .map_err(|e| format!("{name} field `{field}`: {e}"))?;
    }
    let (dom, dow) = (fields[2], fields[4]);
    if (dom == "?") == (dow == "?") {
        return Err("exactly one of day-of-month and day-of-week must be `?`".into());
    }
    Ok(())
}

fn validate_field(
    field: &str,
    index: usize,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<(), String> {
    let value = |v: &str| -> Result<u32, String> {
        if let Some(pos) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(pos as u32 + min);
        }
        let n: u32 = v.parse().map_err(|_| format!("`{v}` is not a value"))?;
        if n < min || n > max {
            return Err(format!("{n} is outside {min}-{max}"));
        }
        Ok(n)
    };
    if field == "?" {
        return if index == 2 || index == 4 {
            Ok(())
        } else {
            Err("`?` is allowed only in day-of-month and day-of-week".into())
        };
    }
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(step) = step {
            let s: u32 = step
                .parse()
                .map_err(|_| format!("step `{step}` is not a number"))?;
            if s == 0 {
                return Err("a step must be at least 1".into());
            }
        }
        match range {
            "*" => {}
            "L" if index == 2 || index == 4 => {}
            "LW" if index == 2 => {}
            r if index == 2 && r.ends_with('W') => {
                value(&r[..r.len() - 1])?;
            }
            r if index == 4 && r.contains('#') => {
                let (d, nth) = r.split_once('#').expect("contains #");
                value(d)?;
                if !matches!(nth, "1" | "2" | "3" | "4" | "5") {
                    return Err(format!("`#{nth}`: the nth weekday must be 1-5"));
                }
            }
            r => match r.split_once('-') {
                Some((a, b)) => {
                    value(a)?;
                    value(b)?;
                }
                None => {
                    value(r)?;
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_what_eventbridge_accepts() {
        for ok in [
            "rate(1 minute)",
            "rate(3 hours)",
            "rate(7 days)",
            "cron(0 6 * * ? *)",
            "cron(0/15 8-17 ? * MON-FRI *)",
            "cron(0 12 L * ? 2030)",
            "cron(30 4 ? * 2#1 *)",
            "cron(0 0 15W JAN,JUL ? *)",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_expressions_with_the_reason() {
        for (bad, why) in [
            ("rate(1 minutes)", "singular"),
            ("rate(5 minute)", "plural"),
            ("rate(0 hours)", "at least 1"),
            ("rate(5 weeks)", "unknown unit"),
            ("rate(five hours)", "not a positive whole number"),
            ("cron(0 6 * * *)", "6 fields"),
            ("cron(0 6 * * * *)", "exactly one of"),
            ("cron(0 6 ? * ? *)", "exactly one of"),
            ("cron(61 6 * * ? *)", "minutes field"),
            ("cron(0 24 * * ? *)", "outside 0-23"),
            ("cron(0 6 * FOO ? *)", "month field"),
            ("cron(0 6 ? * MON#6 *)", "1-5"),
            ("every 5 minutes", "write `rate("),
        ] {
            let err = validate(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
