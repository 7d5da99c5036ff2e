//! `mips-cache`: HTTP API over the MIPS accounting API, results cached in S3.

use serde::Deserialize;
use serde_json::json;

use super::{check, env};
use crate::constructs::*;
use crate::stage::{FunctionOverrides, ScheduleExpr, Stage};

pub const SERVICE: &str = "mips-cache";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub functions: Functions,
    pub mips_login_url: String,
    pub mips_api_url: String,
    /// SSM SecureString with `{"username","password","org"}`; default `/<stage>/mips-cache/credentials`.
    pub credentials_parameter: Option<String>,
    pub cache_ttl_hours: u32,
    /// Objects older than this are deleted by the bucket's lifecycle rule.
    pub cache_expiry_days: u32,
    pub refresh_schedule: ScheduleExpr,
    pub codes_to_omit: Vec<String>,
    pub other_code: String,
    pub no_program_code: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    pub api: Option<FunctionOverrides>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            functions: Functions::default(),
            mips_login_url: "https://login.mip.com".into(),
            mips_api_url: "https://api.mip.com".into(),
            credentials_parameter: None,
            cache_ttl_hours: 24,
            cache_expiry_days: 30,
            refresh_schedule: ScheduleExpr("cron(0 10 * * ? *)".into()),
            codes_to_omit: Vec::new(),
            other_code: "000001".into(),
            no_program_code: "000000".into(),
        }
    }
}

impl Settings {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        check(self.cache_ttl_hours > 0, "cache_ttl_hours", || {
            "cache_ttl_hours must be at least 1".into()
        })?;
        check(self.cache_expiry_days > 0, "cache_expiry_days", || {
            "cache_expiry_days must be at least 1".into()
        })?;
        for (key, url) in [
            ("mips_login_url", &self.mips_login_url),
            ("mips_api_url", &self.mips_api_url),
        ] {
            check(
                url.starts_with("https://") || url.starts_with("http://127.0.0.1"),
                key,
                || format!("`{url}` must be an https:// URL"),
            )?;
        }
        Ok(())
    }

    pub fn credentials_parameter(&self, stage: &Stage) -> String {
        self.credentials_parameter
            .clone()
            .unwrap_or_else(|| format!("/{}/mips-cache/credentials", stage.name))
    }
}

pub fn stack(stage: &Stage) -> Stack {
    let s = &stage.services.mips_cache;
    let stack = Stack::new(
        SERVICE,
        stage,
        "Cached, transformed MIPS accounting data over HTTP",
    );
    let cache = Bucket::new(
        &stack,
        "cache",
        BucketProps {
            expire_after_days: Some(s.cache_expiry_days),
            ..BucketProps::default()
        },
    );
    let credentials = SsmParameter::from_name(&s.credentials_parameter(stage));
    let api = Function::new(
        &stack,
        "api",
        FunctionProps {
            description: "MIPS accounts, tags and balances, cached in S3".into(),
            config: stage.function_config(256, 30, &s.functions.api),
            environment: env(vec![
                ("CACHE_BUCKET", cache.name()),
                ("CACHE_TTL_HOURS", s.cache_ttl_hours.to_string().into()),
                ("MIPS_LOGIN_URL", s.mips_login_url.clone().into()),
                ("MIPS_API_URL", s.mips_api_url.clone().into()),
                (
                    "MIPS_CREDENTIALS_PARAMETER",
                    credentials.name.clone().into(),
                ),
                ("CODES_TO_OMIT", s.codes_to_omit.join(",").into()),
                ("OTHER_CODE", s.other_code.clone().into()),
                ("NO_PROGRAM_CODE", s.no_program_code.clone().into()),
            ]),
        },
    );
    cache.grant_read_write(&api);
    credentials.grant_read(&api);
    let http = HttpApi::new(&stack, "api");
    for route in ["GET /accounts", "GET /tags", "GET /balances"] {
        http.add_route(route, &api, RouteAuth::None);
    }
    http.add_route("POST /cache/refresh", &api, RouteAuth::Iam);
    http.add_route("DELETE /cache/purge", &api, RouteAuth::Iam);
    let refresh = json!({ "action": "refresh" });
    Schedule::new(
        &stack,
        "refresh",
        &s.refresh_schedule,
        ScheduleTarget::Function(&api),
        refresh,
    );
    stack
}
