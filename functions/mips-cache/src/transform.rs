//! The MIPS chart of accounts turned into the lists other systems consume.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Segment {
    #[serde(rename = "COA_SEGID")]
    pub id: i64,
    #[serde(rename = "TITLE")]
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Account {
    #[serde(rename = "COA_SEGID")]
    pub segment_id: i64,
    #[serde(rename = "COA_CODE")]
    pub code: String,
    #[serde(rename = "COA_STATUS")]
    pub status: String,
    #[serde(rename = "COA_TITLE")]
    pub title: String,
}

/// What a caller asked for through the query string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Options {
    pub show_inactive_codes: bool,
    pub show_other_code: bool,
    pub hide_no_program_code: bool,
    pub priority_codes: Vec<String>,
    pub limit: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            show_inactive_codes: false,
            show_other_code: true,
            hide_no_program_code: false,
            priority_codes: Vec::new(),
            limit: None,
        }
    }
}

/// What the stage decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub codes_to_omit: Vec<String>,
    pub other_code: String,
    pub no_program_code: String,
}

pub const OTHER_NAME: &str = "Other";
pub const NO_PROGRAM_NAME: &str = "No Program";
pub const PROGRAM_SEGMENT: &str = "Program";

/// The id of the segment titled `Program`.
pub fn program_segment(segments: &[Segment]) -> Option<i64> {
    segments
        .iter()
        .find(|s| s.title == PROGRAM_SEGMENT)
        .map(|s| s.id)
}

/// Letters, digits, whitespace and `.:/=+-@` survive; everything else goes.
pub fn clean_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || ".:/=+-@".contains(*c))
        .collect::<String>()
        .trim()
        .to_string()
}

/// Program codes and names, in the order callers see them.
pub fn program_accounts(
    accounts: &[Account],
    segment_id: i64,
    options: &Options,
    rules: &Rules,
) -> Vec<(String, String)> {
    let min_len = if options.show_inactive_codes { 5 } else { 6 };
    let omit: HashSet<&str> = rules.codes_to_omit.iter().map(String::as_str).collect();
    let mut by_code: BTreeMap<String, String> = BTreeMap::new();
    for a in accounts.iter().filter(|a| a.segment_id == segment_id) {
        if a.status != "A" && !options.show_inactive_codes {
            continue;
        }
        let code = a.code.trim();
        if code.chars().count() < min_len {
            continue;
        }
        let key: String = code.chars().take(6).collect();
        if omit.contains(key.as_str()) || key == rules.other_code || key == rules.no_program_code {
            continue;
        }
        // first one wins on the same 6 digits
        by_code.entry(key).or_insert_with(|| clean_name(&a.title));
    }
    // As upstream: priority codes, then the pseudo-codes, then the rest; `limit` keeps the head.
    let mut out = Vec::with_capacity(by_code.len() + 2);
    for p in &options.priority_codes {
        if let Some(name) = by_code.remove(p) {
            out.push((p.clone(), name));
        }
    }
    if options.show_other_code {
        out.push((rules.other_code.clone(), OTHER_NAME.into()));
    }
    if !options.hide_no_program_code {
        out.push((rules.no_program_code.clone(), NO_PROGRAM_NAME.into()));
    }
    out.extend(by_code);
    if let Some(limit) = options.limit {
        out.truncate(limit);
    }
    out
}

/// `{code: name}` in the list's order. Written by hand
/// because serde_json's map sorts its keys.
pub fn accounts_json(accounts: &[(String, String)]) -> String {
    let entries: Vec<String> = accounts
        .iter()
        .map(|(c, n)| {
            format!(
                "{}:{}",
                serde_json::Value::from(c.as_str()),
                serde_json::Value::from(n.as_str())
            )
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// `"<name> / <code>"`, name cut to 245 characters and code to 6: an AWS tag value (≤ 256).
pub fn tags(accounts: &[(String, String)]) -> Vec<String> {
    accounts
        .iter()
        .map(|(code, name)| {
            let name: String = name.chars().take(245).collect();
            let code: String = code.chars().take(6).collect();
            format!("{name} / {code}")
        })
        .collect()
}

#[cfg(test)]
mod tests;
