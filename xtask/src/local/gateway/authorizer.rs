//! Lambda (REQUEST) authorizers: invoking the authorizer function, reading its simple or IAM
//! policy answer, and caching that answer per identity for the authorizer's TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::invoke::{Lambda, Outcome};
use crate::local::wiring::LambdaAuthorizer;

/// What the authorizer decided for one request.
#[derive(Debug)]
pub enum Verdict {
    /// The context reaches the integration as `requestContext.authorizer.lambda`.
    Allowed {
        context: Value,
    },
    Denied,
    /// The authorizer failed or answered something API Gateway cannot read.
    Failed(String),
}

/// An authorizer's answer as cached: a policy is evaluated again for each route it is reused on.
#[derive(Debug, Clone)]
enum Answer {
    Simple { authorized: bool, context: Value },
    Policy { policy: Value, context: Value },
}

/// An authorizer's name and the identity source values of a request.
type CacheKey = (String, Vec<String>);

#[derive(Debug, Default)]
pub struct Authorizers {
    cache: Mutex<HashMap<CacheKey, (Instant, Answer)>>,
}

impl Authorizers {
    /// `identity` are the identity source values (all present); `event` is the authorizer's
    /// event for this request.
    pub async fn authorize(
        &self,
        authorizer: &LambdaAuthorizer,
        identity: Vec<String>,
        event: Value,
        route_arn: &str,
        lambda: &Lambda,
    ) -> Verdict {
        // Without identity sources API Gateway cannot key a cache, so it calls every time.
        let cacheable = authorizer.ttl_seconds > 0 && !identity.is_empty();
        let key = (authorizer.name.clone(), identity);
        if cacheable {
            if let Some(answer) = self.cached(&key) {
                return verdict(answer, route_arn);
            }
        }
        let answer = match lambda.invoke(&authorizer.function, &event).await {
            Ok(Outcome::Payload(payload)) => match read_answer(authorizer, &payload) {
                Ok(a) => a,
                Err(e) => return Verdict::Failed(e),
            },
            Ok(Outcome::FunctionError { kind }) => {
                return Verdict::Failed(format!("The authorizer function failed ({kind})"))
            }
            Err(e) => return Verdict::Failed(format!("{e:#}")),
        };
        if cacheable {
            let until = Instant::now() + Duration::from_secs(authorizer.ttl_seconds);
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, (until, answer.clone()));
        }
        verdict(answer, route_arn)
    }

    fn cached(&self, key: &CacheKey) -> Option<Answer> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(key) {
            Some((until, answer)) if Instant::now() < *until => Some(answer.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
    }
}

fn read_answer(authorizer: &LambdaAuthorizer, payload: &[u8]) -> Result<Answer, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("The authorizer's answer is not JSON: {e}"))?;
    let context = match value.get("context") {
        None | Some(Value::Null) => json!({}),
        Some(c @ Value::Object(_)) => c.clone(),
        Some(_) => return Err("The authorizer's context is not an object".into()),
    };
    if authorizer.simple_responses && authorizer.payload_version == "2.0" {
        let authorized = value
            .get("isAuthorized")
            .and_then(Value::as_bool)
            .ok_or("The authorizer's answer has no boolean isAuthorized")?;
        return Ok(Answer::Simple {
            authorized,
            context,
        });
    }
    let policy = value
        .get("policyDocument")
        .filter(|p| p.is_object())
        .ok_or("The authorizer's answer has no policyDocument")?
        .clone();
    Ok(Answer::Policy { policy, context })
}

fn verdict(answer: Answer, route_arn: &str) -> Verdict {
    match answer {
        Answer::Simple {
            authorized: true,
            context,
        } => Verdict::Allowed { context },
        Answer::Simple { .. } => Verdict::Denied,
        Answer::Policy { policy, context } => {
            if allows(&policy, route_arn) {
                Verdict::Allowed { context }
            } else {
                Verdict::Denied
            }
        }
    }
}

/// IAM evaluation of a policy for `execute-api:Invoke` on `route_arn`: an explicit Deny wins,
/// then an Allow is needed.
fn allows(policy: &Value, route_arn: &str) -> bool {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    };
    let mut allowed = false;
    for s in statements {
        let covers = listed(s.get("Action"))
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), "execute-api:invoke"))
            && listed(s.get("Resource")).iter().any(|r| glob(r, route_arn));
        if !covers {
            continue;
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return false,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    allowed
}

fn listed(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM wildcards: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_allow_only_what_they_cover_and_deny_wins() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/items/1";
        let allow = |resource: &str| {
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource}]})
        };
        assert!(allows(&allow(arn), arn));
        assert!(allows(
            &allow("arn:aws:execute-api:us-east-1:123456789012:abc/*/GET/*"),
            arn
        ));
        assert!(!allows(
            &allow("arn:aws:execute-api:us-east-1:123456789012:abc/*/POST/*"),
            arn
        ));
        let both = json!({"Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "execute-api:*", "Resource": [arn]}]});
        assert!(!allows(&both, arn));
    }
}
