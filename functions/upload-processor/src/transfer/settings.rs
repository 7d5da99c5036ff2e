//! The worker's settings from its environment, read once per cold start. Parsing takes a lookup
//! function so the rules are tested without touching the process environment.

use std::time::Duration;

use thiserror::Error;

/// `TRANSFER_MEDIA_MAX_BYTES` unless set: ten times the answer upload limit (renditions of a
/// 100 MiB upload are smaller than that), and small enough that [`DEFAULT_CONCURRENCY`] files
/// at once fit a Lambda's configurable `/tmp`.
pub const DEFAULT_MEDIA_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// `TRANSFER_MEDIA_TIMEOUT_SECONDS` unless set: one file's download, connect to last byte.
pub const DEFAULT_MEDIA_TIMEOUT: Duration = Duration::from_secs(300);
/// `TRANSFER_CONCURRENCY` unless set.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// More parallel downloads than this would only share the same network card and `/tmp`.
pub const MAX_CONCURRENCY: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// `TRANSFER_BUCKET`: the job records (`jobs/{id}/…`).
    pub transfer_bucket: String,
    /// `STATIC_BUCKET`: where the media are copied (`videos/{m}/{q}/{tag}.{ext}`).
    pub static_bucket: String,
    /// `TRANSFER_ALLOWED_HOSTS`: the hosts media may come from.
    pub allowed_hosts: Vec<AllowedHost>,
    /// `TRANSFER_ALLOW_HTTP=true`: also plain http (only the local stage sets it).
    pub allow_http: bool,
    /// `TRANSFER_MEDIA_MAX_BYTES`.
    pub media_max_bytes: u64,
    /// `TRANSFER_MEDIA_TIMEOUT_SECONDS`.
    pub media_timeout: Duration,
    /// `TRANSFER_CONCURRENCY`: media copied at once.
    pub concurrency: usize,
}

/// One entry of `TRANSFER_ALLOWED_HOSTS`: `host` admits the scheme's default port only,
/// `host:port` that port only, so an allowed name cannot be used to reach another service on
/// the same machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower case; an IPv6 address in brackets, as URLs write it.
    pub host: String,
    pub port: Option<u16>,
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<AllowedHost, String> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() || entry.contains(['/', '@', '?', '#', ' ']) {
            return Err(format!("{entry:?} is not a host or host:port"));
        }
        let (host, port) = match entry.rsplit_once(':') {
            // `[::1]` alone: the colons are the address's.
            Some(_) if entry.ends_with(']') => (entry.as_str(), None),
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("{entry:?}: {port:?} is not a port"))?;
                (host, Some(port))
            }
            None => (entry.as_str(), None),
        };
        if host.is_empty() || (host.contains(':') && !host.starts_with('[')) {
            return Err(format!("{entry:?} is not a host or host:port"));
        }
        Ok(AllowedHost {
            host: host.to_string(),
            port,
        })
    }

    /// Whether `host` on `port` (the URL's, its scheme's default filled in) is admitted.
    pub fn admits(&self, host: &str, port: u16, default_port: u16) -> bool {
        self.host.eq_ignore_ascii_case(host) && self.port.unwrap_or(default_port) == port
    }
}

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

impl WorkerSettings {
    pub fn from_env() -> Result<WorkerSettings, SettingsError> {
        WorkerSettings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same rules over any lookup of variables (empty counts as unset).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<WorkerSettings, SettingsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(SettingsError::Missing(name));
        let invalid =
            |name: &'static str, message: String| SettingsError::Invalid { name, message };
        let number = |name: &'static str, default: u64| -> Result<u64, SettingsError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(0) => Err(invalid(name, "must be at least 1".into())),
                    Ok(n) => Ok(n),
                    Err(e) => Err(invalid(name, format!("{v:?}: {e}"))),
                },
            }
        };

        // Without hosts nothing could be copied: refuse to start rather than fail every file.
        let hosts = required("TRANSFER_ALLOWED_HOSTS")?;
        let allowed_hosts = hosts
            .split(',')
            .filter(|h| !h.trim().is_empty())
            .map(AllowedHost::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid("TRANSFER_ALLOWED_HOSTS", m))?;
        if allowed_hosts.is_empty() {
            return Err(SettingsError::Missing("TRANSFER_ALLOWED_HOSTS"));
        }
        let allow_http = match get("TRANSFER_ALLOW_HTTP").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid(
                    "TRANSFER_ALLOW_HTTP",
                    format!("{other:?}: must be true or false"),
                ))
            }
        };
        let concurrency = number("TRANSFER_CONCURRENCY", DEFAULT_CONCURRENCY as u64)?;
        if concurrency > MAX_CONCURRENCY as u64 {
            return Err(invalid(
                "TRANSFER_CONCURRENCY",
                format!("{concurrency}: at most {MAX_CONCURRENCY}"),
            ));
        }
        Ok(WorkerSettings {
            transfer_bucket: required("TRANSFER_BUCKET")?,
            static_bucket: required("STATIC_BUCKET")?,
            allowed_hosts,
            allow_http,
            media_max_bytes: number("TRANSFER_MEDIA_MAX_BYTES", DEFAULT_MEDIA_MAX_BYTES)?,
            media_timeout: Duration::from_secs(number(
                "TRANSFER_MEDIA_TIMEOUT_SECONDS",
                DEFAULT_MEDIA_TIMEOUT.as_secs(),
            )?),
            concurrency: concurrency as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<WorkerSettings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WorkerSettings::from_lookup(|n| map.get(n).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("TRANSFER_BUCKET", "jobs"),
        ("STATIC_BUCKET", "static"),
        (
            "TRANSFER_ALLOWED_HOSTS",
            "static.mentorpal.org, 127.0.0.1:5106",
        ),
    ];

    #[test]
    fn defaults() {
        let s = parse(&BASE).unwrap();
        assert_eq!(s.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(s.media_max_bytes, DEFAULT_MEDIA_MAX_BYTES);
        assert_eq!(s.media_timeout, DEFAULT_MEDIA_TIMEOUT);
        assert!(!s.allow_http);
        assert_eq!(
            s.allowed_hosts,
            vec![
                AllowedHost {
                    host: "static.mentorpal.org".into(),
                    port: None
                },
                AllowedHost {
                    host: "127.0.0.1".into(),
                    port: Some(5106)
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let e = parse(&BASE[..2]).unwrap_err().to_string();
        assert!(e.contains("TRANSFER_ALLOWED_HOSTS"), "{e}");
        let mut vars = BASE.to_vec();
        vars.push(("TRANSFER_ALLOW_HTTP", "yes"));
        assert!(parse(&vars)
            .unwrap_err()
            .to_string()
            .contains("TRANSFER_ALLOW_HTTP"));
        let mut vars = BASE.to_vec();
        vars.push(("TRANSFER_CONCURRENCY", "0"));
        assert!(parse(&vars)
            .unwrap_err()
            .to_string()
            .contains("TRANSFER_CONCURRENCY"));
        let mut vars = BASE.to_vec();
        vars[2] = ("TRANSFER_ALLOWED_HOSTS", "https://x.org/");
        assert!(parse(&vars)
            .unwrap_err()
            .to_string()
            .contains("TRANSFER_ALLOWED_HOSTS"));
    }

    #[test]
    fn a_bare_host_admits_only_the_default_port() {
        let h = AllowedHost::parse("Static.Mentorpal.org").unwrap();
        assert!(h.admits("static.mentorpal.org", 443, 443));
        assert!(!h.admits("static.mentorpal.org", 8443, 443));
        let h = AllowedHost::parse("[::1]:5106").unwrap();
        assert!(h.admits("[::1]", 5106, 80));
        assert_eq!(AllowedHost::parse("[::1]").unwrap().port, None);
        assert!(AllowedHost::parse("::1").is_err());
        assert!(AllowedHost::parse("host:http").is_err());
    }
}
