//! Validated scalar values of stage files. Each rejects bad input while parsing, so the error
//! carries the line, column and key path of the offending value.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize};

macro_rules! ranged {
    ($name:ident, $what:literal, $min:expr, $max:expr, $unit:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = i64::deserialize(d)?;
                if !($min..=$max).contains(&v) {
                    return Err(de::Error::custom(format!(
                        concat!($what, " must be between {} and {}", $unit, ", got {}"),
                        $min, $max, v
                    )));
                }
                Ok($name(v as u32))
            }
        }
    };
}

ranged!(Memory, "memory", 128, 10240, " MB");
ranged!(Timeout, "timeout", 1, 900, " seconds");

/// Log retention in days: one of the values CloudWatch Logs accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RetentionDays(pub u32);

pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

impl<'de> Deserialize<'de> for RetentionDays {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if !RETENTION_DAYS.contains(&v) {
            let nearest = RETENTION_DAYS
                .iter()
                .min_by_key(|&&x| x.abs_diff(v))
                .expect("non-empty");
            return Err(de::Error::custom(format!(
                "log retention must be one of CloudWatch's values ({RETENTION_DAYS:?}), got {v}; nearest is {nearest}"
            )));
        }
        Ok(RetentionDays(v))
    }
}

/// A 12-digit AWS account id, written as a quoted string so leading zeros survive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AccountId(pub String);

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(de::Error::custom(format!(
                "account must be 12 digits, got `{v}`"
            )));
        }
        Ok(AccountId(v))
    }
}

/// An AWS region name such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Region(pub String);

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        let parts: Vec<&str> = v.split('-').collect();
        let ok = parts.len() >= 3
            && parts[0].len() == 2
            && parts.iter().all(|p| !p.is_empty())
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(de::Error::custom(format!(
                "region must look like `us-east-1`, got `{v}`"
            )));
        }
        Ok(Region(v))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}
