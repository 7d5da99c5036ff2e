//! Keys from Secrets Manager: a secret's current value and, during a rotation, its previous one
//! (the `AWSCURRENT` and `AWSPREVIOUS` versions). The token key seals queue messages; the intake
//! keys are the `x-api-key` values callers present, checked by the authorizer ([`crate::auth`]).
//! Both are re-read while the function stays warm, so a rotation needs no deploy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use support::Secret;

use crate::seal::Sealer;

/// A secret's current value and the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub current: Secret,
    pub previous: Option<Secret>,
}

impl KeyPair {
    pub fn one(current: &str) -> KeyPair {
        KeyPair {
            current: Secret::new(current),
            previous: None,
        }
    }
}

/// Read `AWSCURRENT` and, when it exists, `AWSPREVIOUS` of the secret `name`.
pub async fn load_pair(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<KeyPair, String> {
    let read = |stage: &'static str| async move {
        match client
            .get_secret_value()
            .secret_id(name)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(out) => Ok(out.secret_string().map(Secret::new)),
            Err(e) if e.code() == Some("ResourceNotFoundException") && stage != "AWSCURRENT" => {
                Ok(None)
            }
            Err(e) => Err(match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                _ => aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            }),
        }
    };
    let current = read("AWSCURRENT")
        .await?
        .filter(|s| !s.expose().trim().is_empty())
        .ok_or_else(|| format!("the secret {name} has no string value"))?;
    let previous = read("AWSPREVIOUS")
        .await?
        .filter(|p| !p.expose().trim().is_empty() && *p != current);
    Ok(KeyPair { current, previous })
}

/// Re-read at least this often while warm: a key removed from the secret stops working by then.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// Wait at least this long between re-reads of a secret prompted by an unknown key.
pub const REREAD_INTERVAL: Duration = Duration::from_secs(30);

/// Keys derived from a secret, cached, and re-read when older than [`MAX_AGE`] or when a value
/// does not match (at most once per `min_interval`, so a flood of bad keys cannot flood Secrets
/// Manager).
pub struct Keys<T> {
    source: Option<(aws_sdk_secretsmanager::Client, String)>,
    make: fn(&KeyPair) -> T,
    state: Mutex<(Arc<T>, Instant)>,
}

impl<T> Keys<T> {
    /// Keys that are never re-read (tests).
    pub fn fixed(pair: &KeyPair, make: fn(&KeyPair) -> T) -> Keys<T> {
        Keys {
            source: None,
            make,
            state: Mutex::new((Arc::new(make(pair)), Instant::now())),
        }
    }

    pub async fn load(
        client: aws_sdk_secretsmanager::Client,
        name: &str,
        make: fn(&KeyPair) -> T,
    ) -> Result<Keys<T>, String> {
        let pair = load_pair(&client, name).await?;
        Ok(Keys {
            make,
            state: Mutex::new((Arc::new(make(&pair)), Instant::now())),
            source: Some((client, name.to_string())),
        })
    }

    /// The keys, re-read first when older than [`MAX_AGE`].
    pub async fn get(&self) -> Arc<T> {
        self.refresh(MAX_AGE).await;
        self.state.lock().expect("not poisoned").0.clone()
    }

    /// Re-read the secret when the copy is older than `min_age`; `true` when it was re-read.
    pub async fn refresh(&self, min_age: Duration) -> bool {
        let Some((client, name)) = &self.source else {
            return false;
        };
        if self.state.lock().expect("not poisoned").1.elapsed() < min_age {
            return false;
        }
        // one reader at a time is not needed: a second read gives the same answer
        match load_pair(client, name).await {
            Ok(pair) => {
                *self.state.lock().expect("not poisoned") =
                    (Arc::new((self.make)(&pair)), Instant::now());
                true
            }
            Err(e) => {
                tracing::error!(
                    secret = name,
                    error = e,
                    "re-reading keys failed; keeping the old ones"
                );
                self.state.lock().expect("not poisoned").1 = Instant::now();
                false
            }
        }
    }
}

pub fn sealer(pair: &KeyPair) -> Sealer {
    Sealer::with_previous(&pair.current, pair.previous.as_ref())
}

/// The accepted intake keys, kept as SHA-256 digests: comparing digests of equal length in
/// constant time tells an attacker neither a key's length nor how much of it matched.
pub struct IntakeKeys {
    digests: Vec<Vec<u8>>,
}

fn digest(value: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, value.as_bytes())
        .as_ref()
        .to_vec()
}

impl IntakeKeys {
    pub fn new(pair: &KeyPair) -> IntakeKeys {
        IntakeKeys {
            digests: [Some(&pair.current), pair.previous.as_ref()]
                .into_iter()
                .flatten()
                .map(|k| digest(k.expose().trim()))
                .collect(),
        }
    }

    /// Whether `presented` is one of the keys; every key is compared, whichever matches.
    pub fn accepts(&self, presented: &str) -> bool {
        let d = digest(presented);
        self.digests.iter().fold(false, |ok, k| {
            ok | bool::from(subtle::ConstantTimeEq::ct_eq(k.as_slice(), d.as_slice()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_keys_are_accepted_during_a_rotation_and_nothing_else() {
        let keys = IntakeKeys::new(&KeyPair {
            current: Secret::new("new-key"),
            previous: Some(Secret::new("old-key")),
        });
        assert!(keys.accepts("new-key"));
        assert!(keys.accepts("old-key"));
        for bad in ["", "new-ke", "new-key ", "NEW-KEY", "old-key-and-more"] {
            assert!(!keys.accepts(bad), "{bad:?}");
        }
        let one = IntakeKeys::new(&KeyPair::one("new-key"));
        assert!(one.accepts("new-key") && !one.accepts("old-key"));
    }
}
