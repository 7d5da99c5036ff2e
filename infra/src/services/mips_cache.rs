//! `mips-cache`: HTTP API over the MIPS accounting API, results cached in S3; a refresh function
//! with its own timeout rebuilds the cache daily and on request.

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
    /// Variants nobody asked for in this many days are deleted by the refresh; the bucket's
    /// lifecycle rule deletes objects not written for as long.
    pub cache_expiry_days: u32,
    /// A refresh rebuilds at most this many variants besides the canonical objects, the most
    /// recently asked first.
    pub refresh_max_variants: u32,
    pub refresh_schedule: ScheduleExpr,
    pub codes_to_omit: Vec<String>,
    pub other_code: String,
    pub no_program_code: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    pub api: Option<FunctionOverrides>,
    pub refresh: Option<FunctionOverrides>,
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
            refresh_max_variants: 50,
            refresh_schedule: ScheduleExpr("cron(0 10 * * ? *)".into()),
            codes_to_omit: Vec::new(),
            other_code: "000001".into(),
            no_program_code: "000000".into(),
        }
    }
}

impl Settings {
    pub(crate) fn validate(&self, _local: bool) -> Result<(), (String, String)> {
        check(self.cache_ttl_hours > 0, "cache_ttl_hours", || {
            "cache_ttl_hours must be at least 1".into()
        })?;
        check(self.cache_expiry_days > 0, "cache_expiry_days", || {
            "cache_expiry_days must be at least 1".into()
        })?;
        check(
            self.refresh_max_variants <= 1000,
            "refresh_max_variants",
            || {
                format!(
                    "refresh_max_variants is {}; at most 1000 fit in one refresh",
                    self.refresh_max_variants
                )
            },
        )?;
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
            expire_after: Some(crate::constructs::duration::days(u64::from(
                s.cache_expiry_days,
            ))),
            ..BucketProps::default()
        },
    );
    stack.suppress(
        "CKV_AWS_21",
        &cache.id,
        "a cache: every object is rebuilt from the MIPS API on a miss or refresh and expires after \
         cache_expiry_days; versions would keep every overwritten copy and restore nothing",
    );
    stack.suppress(
        "CKV_AWS_18",
        &cache.id,
        "read and written only by this service's functions through their roles; access logs \
         would need a log bucket per stage and record no one but those functions",
    );
    let credentials = SsmParameter::from_name(&s.credentials_parameter(stage));
    let environment = || {
        env(vec![
            ("CACHE_BUCKET", cache.name()),
            ("CACHE_TTL_HOURS", s.cache_ttl_hours.to_string().into()),
            ("CACHE_EXPIRY_DAYS", s.cache_expiry_days.to_string().into()),
            (
                "REFRESH_MAX_VARIANTS",
                s.refresh_max_variants.to_string().into(),
            ),
            ("MIPS_LOGIN_URL", s.mips_login_url.clone().into()),
            ("MIPS_API_URL", s.mips_api_url.clone().into()),
            (
                "MIPS_CREDENTIALS_PARAMETER",
                credentials.name.clone().into(),
            ),
            ("CODES_TO_OMIT", s.codes_to_omit.join(",").into()),
            ("OTHER_CODE", s.other_code.clone().into()),
            ("NO_PROGRAM_CODE", s.no_program_code.clone().into()),
        ])
    };
    // minutes, not the API's 30 s: one MIPS session for every cached object
    let refresh = Function::new(
        &stack,
        "refresh",
        FunctionProps {
            description: "Rebuilds the MIPS cache: canonical objects and recent variants".into(),
            config: stage.function_config(256, 600, &s.functions.refresh),
            environment: environment(),
            ..Default::default()
        },
    );
    let mut api_environment = environment();
    api_environment.insert(
        "REFRESH_FUNCTION".into(),
        refresh.physical_name.clone().into(),
    );
    let api = Function::new(
        &stack,
        "api",
        FunctionProps {
            description: "MIPS accounts, tags and balances, cached in S3".into(),
            config: stage.function_config(256, 30, &s.functions.api),
            environment: api_environment,
            ..Default::default()
        },
    );
    for f in [&api, &refresh] {
        cache.grant_read_write(f);
        credentials.grant_read(f);
    }
    refresh.grant_invoke(&api);
    let http = HttpApi::new(&stack, "api");
    for route in ["GET /accounts", "GET /tags"] {
        http.add_route(route, &api, RouteAuth::None);
    }
    // ledger balances are not public
    http.add_route("GET /balances", &api, RouteAuth::Iam);
    http.add_route("POST /cache/refresh", &api, RouteAuth::Iam);
    http.add_route("DELETE /cache/purge", &api, RouteAuth::Iam);
    Schedule::new(
        &stack,
        "refresh",
        &s.refresh_schedule,
        ScheduleTarget::Function(&refresh),
        json!({ "action": "refresh" }),
    );
    stack
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::stage;

    /// The local stage's template as JSON.
    fn template() -> Value {
        let stage = stage::parse("local", "local.yaml", "").unwrap();
        match crate::synth::synth_stack(super::stack(&stage)) {
            Ok(s) => s.template.to_json(),
            Err(e) => panic!("{e}"),
        }
    }

    fn of_type(t: &Value, ty: &str) -> Vec<Value> {
        t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == ty)
            .map(|r| r["Properties"].clone())
            .collect()
    }

    #[test]
    fn balances_and_cache_operations_need_iam_and_lists_are_public() {
        let t = template();
        let auth: std::collections::BTreeMap<String, String> =
            of_type(&t, "AWS::ApiGatewayV2::Route")
                .into_iter()
                .map(|r| {
                    (
                        r["RouteKey"].as_str().unwrap().to_string(),
                        r["AuthorizationType"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
        assert_eq!(auth["GET /balances"], "AWS_IAM");
        assert_eq!(auth["POST /cache/refresh"], "AWS_IAM");
        assert_eq!(auth["DELETE /cache/purge"], "AWS_IAM");
        assert_eq!(auth["GET /accounts"], "NONE");
        assert_eq!(auth["GET /tags"], "NONE");
    }

    #[test]
    fn the_schedule_runs_the_refresh_function_which_has_minutes() {
        let t = template();
        let refresh = &t["Resources"]["RefreshFunction"]["Properties"];
        assert!(refresh["Timeout"].as_u64().unwrap() >= 300, "{refresh}");
        let api = &t["Resources"]["ApiFunction"]["Properties"];
        assert_eq!(api["Timeout"], 30);
        assert_eq!(
            api["Environment"]["Variables"]["REFRESH_FUNCTION"],
            refresh["FunctionName"]
        );
        let rules = of_type(&t, "AWS::Events::Rule");
        assert_eq!(rules.len(), 1);
        let target = &rules[0]["Targets"][0];
        assert_eq!(
            target["Arn"],
            json!({"Fn::GetAtt": ["RefreshFunction", "Arn"]})
        );
        let input: Value = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input, json!({"action": "refresh"}));
    }
}
