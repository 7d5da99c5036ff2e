//! No secret values in a function's environment: they would sit in the template, in the console
//! and in `GetFunctionConfiguration`. Functions get the *name* of a secret or parameter and read
//! the value at run time.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{Context, Finding, Rule};

pub(crate) const ENV_SECRETS: Rule = Rule {
    id: "PL011",
    name: "function-env-secret",
    fix: "put the value in Secrets Manager or SSM and pass its name; `Secret::from_name(..)` \
          or `SsmParameter::from_name(..)` and `.grant_read(&function)` give the function the read",
    check: env_secrets,
};

/// What a secret value looks like, with the name shown in the finding (never the value).
static PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        (
            "an AWS access key id",
            r"\b(A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}\b",
        ),
        (
            "a 40-character key (the shape of an AWS secret access key)",
            r"(^|[^A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}($|[^A-Za-z0-9/+=])",
        ),
        ("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        ("a URL with a password", r"://[^/@\s:]+:[^/@\s]+@"),
        ("a long random token", r"[A-Za-z0-9+/_=-]{32,}"),
    ]
    .into_iter()
    .map(|(what, re)| (what, Regex::new(re).expect("valid pattern")))
    .collect()
});

/// The kind of secret `value` looks like, if any. A long token counts only when it mixes upper
/// case, lower case and digits, so paths, names and hex digests of assets are not findings.
pub(crate) fn looks_like_secret(value: &str) -> Option<&'static str> {
    PATTERNS.iter().find_map(|(what, re)| {
        let hit = re.find_iter(value).any(|m| {
            let s = m.as_str();
            !what.starts_with("a long") || mixes_cases_and_digits(s)
        });
        hit.then_some(*what)
    })
}

fn mixes_cases_and_digits(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars().any(|c| c.is_ascii_lowercase())
        && s.chars().any(|c| c.is_ascii_digit())
}

fn env_secrets(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, f) in ctx.template.resources_of("AWS::Lambda::Function") {
        let vars = f
            .properties
            .pointer("/Environment/Variables")
            .and_then(Value::as_object);
        for (name, value) in vars.into_iter().flatten() {
            // An intrinsic (Ref, GetAtt, Sub of a resource) resolves to a name or an ARN.
            let Some(value) = value.as_str() else {
                continue;
            };
            if let Some(what) = looks_like_secret(value) {
                out.push(Finding {
                    resource: id.clone(),
                    message: format!("environment variable {name} holds what looks like {what}"),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::looks_like_secret;

    #[test]
    fn names_of_secrets_and_settings_are_not_secrets() {
        for v in [
            "/local/canvas_data_2/dap_client_secret",
            "prod/webhook-runner/token-key",
            "info,canvas_data=debug,support=debug",
            "http://127.0.0.1:5102",
            "https://api.airtable.com/v0",
            // a sha256 of an asset: hex only, no upper case
            "3f5a0c1d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/skill-sync/github-AbCdEf",
        ] {
            assert_eq!(looks_like_secret(v), None, "{v}");
        }
    }

    #[test]
    fn secret_values_are_named_by_kind() {
        let cases = [
            ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
            (
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "a 40-character key (the shape of an AWS secret access key)",
            ),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "a private key"),
            (
                "postgres://app:hunter2@db.example.com/app",
                "a URL with a password",
            ),
            (
                "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                "a long random token",
            ),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "a long random token"),
        ];
        for (v, what) in cases {
            assert_eq!(looks_like_secret(v), Some(what), "{v}");
        }
    }
}
