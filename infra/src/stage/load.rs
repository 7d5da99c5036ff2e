//! Reading stage files, and errors that point at the file, line, column and key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::{Alarms, LocalSettings, LogLevel, Region, RetentionDays, Stage, StageName};
use crate::services::ServiceSettings;

/// The stages the project ships, in deploy order.
pub const STAGES: &[&str] = &["local", "dev", "qa", "prod"];

/// The file as written: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StageFile {
    account: Option<super::AccountId>,
    region: Option<Region>,
    tags: BTreeMap<String, String>,
    alarms: Alarms,
    log_level: Option<LogLevel>,
    log_retention_days: Option<RetentionDays>,
    tracing: Option<bool>,
    deploy_role_arn: Option<String>,
    repository: Option<super::Repository>,
    local: Option<LocalSettings>,
    services: ServiceSettings,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct StageError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `services.mips-cache.functions.api.memory`; `.` for the whole file.
    pub path: String,
    pub message: String,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.path, self.message
        )
    }
}

/// Load `environments/<name>.yaml` under `root`.
pub fn load(root: &Path, name: &str) -> Result<Stage, StageError> {
    let rel = format!("environments/{name}.yaml");
    let text = std::fs::read_to_string(root.join(&rel)).map_err(|e| StageError {
        file: rel.clone(),
        line: 0,
        column: 0,
        path: ".".into(),
        message: format!(
            "cannot read the stage file ({e}); known stages: {}",
            STAGES.join(", ")
        ),
    })?;
    parse(name, &rel, &text)
}

/// Every shipped stage, in order.
pub fn load_all(root: &Path) -> Result<Vec<Stage>, StageError> {
    STAGES.iter().map(|s| load(root, s)).collect()
}

pub fn parse(name: &str, file: &str, text: &str) -> Result<Stage, StageError> {
    let has_content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---");
    let parsed: StageFile = if has_content {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| from_serde(file, text, e))?
    } else {
        StageFile::default()
    };
    let err = |path: &str, message: String| {
        let (line, column) = locate(text, path).unwrap_or((1, 1));
        StageError {
            file: file.into(),
            line,
            column,
            path: path.into(),
            message,
        }
    };
    let local = StageName::new(name).is_local();
    if !local && parsed.account.is_none() {
        return Err(err(
            "account",
            "an AWS stage needs `account: \"<12 digits>\"`".into(),
        ));
    }
    if !local && parsed.local.is_some() {
        return Err(err(
            "local",
            "`local:` settings belong only in environments/local.yaml".into(),
        ));
    }
    if let Some(email) = &parsed.alarms.email {
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            return Err(err(
                "alarms.email",
                format!("`{email}` is not an e-mail address"),
            ));
        }
    }
    if let Some(arn) = &parsed.alarms.topic_arn {
        if !arn.starts_with("arn:") || !arn.contains(":sns:") {
            return Err(err(
                "alarms.topic_arn",
                format!("`{arn}` is not an SNS topic ARN"),
            ));
        }
    }
    parsed
        .services
        .validate(local)
        .map_err(|(path, msg)| err(&path, msg))?;
    Ok(Stage {
        name: StageName::new(name),
        account: parsed.account,
        region: parsed.region.unwrap_or_else(|| Region("us-east-1".into())),
        tags: parsed.tags,
        alarms: parsed.alarms,
        log_level: parsed.log_level.unwrap_or(LogLevel::Info),
        log_retention_days: parsed.log_retention_days.unwrap_or(RetentionDays(30)),
        tracing: parsed.tracing.unwrap_or(false),
        deploy_role_arn: parsed.deploy_role_arn,
        repository: parsed.repository,
        local: local.then(|| parsed.local.unwrap_or_default()),
        services: parsed.services,
    })
}

fn from_serde(
    file: &str,
    text: &str,
    e: serde_path_to_error::Error<serde_yaml_ng::Error>,
) -> StageError {
    let path = e.path().to_string();
    let inner = e.inner();
    // serde_yaml_ng marks custom errors at the enclosing mapping; the key itself is more useful.
    let (line, column) = locate(text, &path)
        .or_else(|| inner.location().map(|l| (l.line(), l.column())))
        .unwrap_or((1, 1));
    let mut message = inner.to_string();
    // serde_yaml_ng appends its own location and prefixes the parent's path; we print both ourselves.
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    if let Some((prefix, rest)) = message.split_once(": ") {
        if path.starts_with(prefix) && !prefix.contains(' ') {
            message = rest.to_string();
        }
    }
    if let Some(hint) = suggestion(&message) {
        message.push_str(&hint);
    }
    StageError {
        file: file.into(),
        line,
        column,
        path,
        message,
    }
}

/// For "unknown field `x`, expected one of `a`, `b`": the nearest known name, if one is close.
fn suggestion(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (got, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let (best, distance) = candidates
        .iter()
        .map(|c| (*c, strsim::levenshtein(got, c)))
        .min_by_key(|(_, d)| *d)?;
    (distance <= (got.len() / 3).max(2)).then(|| format!(" (did you mean `{best}`?)"))
}

/// Line and column (1-based) of a dotted key path in block-style YAML, if it is written there.
fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut want = path.split('.').peekable();
    let mut min_indent = 0;
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        let Some(key) = want.peek() else { break };
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if indent < min_indent || trimmed.starts_with('#') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.starts_with(':') {
                found = Some((i + 1, indent + 1));
                min_indent = indent + 1;
                want.next();
            }
        }
    }
    want.peek().is_none().then_some(found).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(
            suggestion("unknown field `memroy`, expected one of `memory`, `timeout`"),
            Some(" (did you mean `memory`?)".into())
        );
        assert_eq!(
            suggestion("unknown field `zzzzzz`, expected `memory`"),
            None
        );
    }

    #[test]
    fn locates_nested_keys() {
        let text = "a: 1\nservices:\n  x:\n    # c\n    memory: 5\n";
        assert_eq!(locate(text, "services.x.memory"), Some((5, 5)));
        assert_eq!(locate(text, "a"), Some((1, 1)));
        assert_eq!(locate(text, "services.y"), None);
    }
}
