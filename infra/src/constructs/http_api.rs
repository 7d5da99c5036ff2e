//! API Gateway v2 HTTP API: routes to functions with IAM, JWT or Lambda authorizers, access logs
//! with retention, throttling, a 5xx alarm, the endpoint as an output, and optional CORS.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;

use super::{pascal, some, Alarm, AlarmProps, Function, Stack};
use crate::cfn::api_gateway_v2::api::{CfnApi, Cors as CfnCors};
use crate::cfn::api_gateway_v2::authorizer::{CfnAuthorizer, JwtConfiguration};
use crate::cfn::api_gateway_v2::integration::CfnIntegration;
use crate::cfn::api_gateway_v2::route::CfnRoute;
use crate::cfn::api_gateway_v2::stage::{AccessLogSettings, CfnStage, RouteSettings};
use crate::cfn::lambda::permission::CfnPermission;
use crate::cfn::logs::log_group::CfnLogGroup;
use crate::cfn::{get_att, r#ref, sub, Val};

/// A route's authorization type, authorizer id and scopes.
type AuthParts = (&'static str, Option<Val<String>>, Option<Vec<Val<String>>>);

#[derive(Clone)]
pub struct Authorizer {
    id: String,
    kind: &'static str,
}

pub enum RouteAuth<'a> {
    /// Public route.
    None,
    /// Callers sign with SigV4 and need `execute-api:Invoke`.
    Iam,
    Jwt(&'a Authorizer, Vec<String>),
    Lambda(&'a Authorizer),
}

/// A Lambda authorizer's props. `add_lambda_authorizer` is `add_lambda_authorizer_with_props`
/// with the defaults.
#[derive(Debug, Clone)]
pub struct LambdaAuthorizerProps {
    /// Where the caller's identity is read (`$request.header.<name>`,
    /// `$request.querystring.<name>`, `$context.<variable>`, `$stageVariables.<name>`). API Gateway
    /// answers 401 without invoking the authorizer when one is missing, and caches results keyed
    /// on their values. Default: `$request.header.Authorization`. Required (at least one) when
    /// results are cached.
    pub identity_source: Vec<String>,
    /// How long API Gateway caches the authorizer's answer for the same identity values, so
    /// repeated calls skip the authorizer. Default: 300 s. Range: 0 (no caching, invoked on
    /// every request) to 3,600 s, whole seconds. A cached allow outlives a revoked token by at
    /// most this long.
    pub result_ttl: Duration,
    /// The authorizer answers `{"isAuthorized": bool, "context": {..}}` (payload 2.0 simple
    /// responses) instead of an IAM policy. Default: true.
    pub simple_responses: bool,
}

impl Default for LambdaAuthorizerProps {
    fn default() -> Self {
        LambdaAuthorizerProps {
            identity_source: vec!["$request.header.Authorization".into()],
            result_ttl: Duration::from_secs(300),
            simple_responses: true,
        }
    }
}

const IDENTITY_SOURCE_PREFIXES: &[&str] = &[
    "$request.header.",
    "$request.querystring.",
    "$context.",
    "$stageVariables.",
];

impl LambdaAuthorizerProps {
    /// The identity sources and TTL in seconds, with every mistake reported on `stack` under `id`.
    fn validated(&self, stack: &Stack, id: &str) -> (Option<Vec<Val<String>>>, u32) {
        for source in &self.identity_source {
            let ok = IDENTITY_SOURCE_PREFIXES
                .iter()
                .any(|p| source.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
            if !ok {
                stack.error(format!(
                    "{id}: identity source `{source}` is not one of {}<name>",
                    IDENTITY_SOURCE_PREFIXES.join("<name>, ")
                ));
            }
        }
        let ttl = self.result_ttl;
        if ttl.as_secs() > 3_600 || ttl.subsec_nanos() != 0 {
            stack.error(format!(
                "{id}: result_ttl {ttl:?} is not whole seconds from 0 to 3600"
            ));
        }
        if !ttl.is_zero() && self.identity_source.is_empty() {
            stack.error(format!(
                "{id}: results are cached ({ttl:?}) but identity_source is empty: API Gateway \
                 keys the cache on the identity sources; name them or set result_ttl to zero"
            ));
        }
        let sources = (!self.identity_source.is_empty())
            .then(|| self.identity_source.iter().map(Into::into).collect());
        (sources, ttl.as_secs().min(3_600) as u32)
    }
}

/// The API's props. `HttpApi::new` is `with_props` with the defaults.
#[derive(Debug, Clone, Default)]
pub struct HttpApiProps {
    /// Answer browsers' preflight requests and add CORS headers to responses. Default: none, no
    /// CORS headers (browsers then refuse cross-origin calls).
    pub cors: Option<Cors>,
}

/// API Gateway's CORS configuration: it answers `OPTIONS` preflights itself, before routes and
/// authorizers, and adds the headers to every response.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Origins allowed to call the API, as `https://app.example.org` (scheme and host, no path),
    /// or `*` for any. Required: at least one.
    pub allow_origins: Vec<String>,
    /// Methods allowed (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, `OPTIONS`, or `*`).
    /// Default: empty, which API Gateway reads as none besides simple requests.
    pub allow_methods: Vec<String>,
    /// Request headers allowed (e.g. `authorization`, `content-type`), or `*`. Default: none.
    pub allow_headers: Vec<String>,
    /// Response headers the browser may read. Default: none.
    pub expose_headers: Vec<String>,
    /// Allow cookies and the `Authorization` header from a browser. Default: false. Refused with
    /// the `*` origin, as browsers and API Gateway refuse it.
    pub allow_credentials: bool,
    /// How long a browser caches a preflight answer. Default: none (the browser's default, a
    /// few seconds). Range: 0 to 86,400 s, whole seconds.
    pub max_age: Option<Duration>,
}

const CORS_METHODS: &[&str] = &[
    "*", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT",
];

impl Cors {
    /// The L1 property, with every mistake reported on `stack` under `api`.
    fn render(&self, stack: &Stack, api: &str) -> CfnCors {
        if self.allow_origins.is_empty() {
            stack.error(format!(
                "{api}: cors.allow_origins is empty; name the callers' origins"
            ));
        }
        for origin in &self.allow_origins {
            let valid = origin == "*"
                || origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"))
                    .is_some_and(|host| {
                        !host.is_empty()
                            && !host.contains('/')
                            && !host.contains(char::is_whitespace)
                    });
            if !valid {
                stack.error(format!(
                    "{api}: cors origin `{origin}` is not `*` or scheme://host[:port] (no path, no \
                     trailing slash): browsers send the origin in that form and nothing else matches"
                ));
            }
        }
        for method in &self.allow_methods {
            if !CORS_METHODS.contains(&method.as_str()) {
                stack.error(format!(
                    "{api}: cors method `{method}` is not one of {}",
                    CORS_METHODS.join(", ")
                ));
            }
        }
        if self.allow_credentials && self.allow_origins.iter().any(|o| o == "*") {
            stack.error(format!(
                "{api}: cors allow_credentials with the `*` origin: browsers refuse credentials \
                 for any origin; list the origins"
            ));
        }
        let max_age = self.max_age.map(|d| {
            if d.as_secs() > 86_400 || d.subsec_nanos() != 0 {
                stack.error(format!(
                    "{api}: cors max_age {d:?} is not whole seconds from 0 to 86400"
                ));
            }
            Val::from(d.as_secs().min(86_400) as u32)
        });
        let list = |v: &[String]| (!v.is_empty()).then(|| v.iter().map(Into::into).collect());
        CfnCors {
            allow_origins: list(&self.allow_origins),
            allow_methods: list(&self.allow_methods),
            allow_headers: list(&self.allow_headers),
            expose_headers: list(&self.expose_headers),
            allow_credentials: self.allow_credentials.then(|| true.into()),
            max_age,
        }
    }
}

#[derive(Clone)]
pub struct HttpApi {
    stack: Stack,
    pub id: String,
    integrated: Rc<RefCell<BTreeSet<String>>>,
}

impl HttpApi {
    pub fn new(stack: &Stack, name: &str) -> HttpApi {
        HttpApi::with_props(stack, name, HttpApiProps::default())
    }

    pub fn with_props(stack: &Stack, name: &str, props: HttpApiProps) -> HttpApi {
        let id = format!("{}HttpApi", pascal(name));
        let physical = stack.physical_name(name);
        let cors_configuration = props.cors.as_ref().map(|c| c.render(stack, &id));
        stack.add(
            &id,
            CfnApi {
                name: some(physical.clone()),
                protocol_type: some("HTTP"),
                cors_configuration,
                ..Default::default()
            },
        );
        let log_group_id = format!("{id}AccessLogs");
        stack.add(
            &log_group_id,
            CfnLogGroup {
                log_group_name: some(format!("/aws/apigateway/{physical}")),
                retention_in_days: some(stack.stage().log_retention_days.0),
                ..Default::default()
            },
        );
        stack.suppress(
            "CKV_AWS_158",
            &log_group_id,
            super::function::LOG_GROUP_KMS_REASON,
        );
        stack.add(
            &format!("{id}DefaultStage"),
            CfnStage {
                api_id: some(r#ref(&id)),
                stage_name: some("$default"),
                auto_deploy: some(true),
                access_log_settings: Some(AccessLogSettings {
                    destination_arn: some(get_att(&log_group_id, "Arn")),
                    format: some(
                        json!({
                            "requestId": "$context.requestId",
                            "routeKey": "$context.routeKey",
                            "status": "$context.status",
                            "latency": "$context.responseLatency",
                            "integrationError": "$context.integrationErrorMessage"
                        })
                        .to_string(),
                    ),
                }),
                default_route_settings: Some(RouteSettings {
                    throttling_burst_limit: some(100),
                    throttling_rate_limit: some(50.0),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        Alarm::new(
            stack,
            &format!("{id}5xxAlarm"),
            AlarmProps {
                description: format!("{physical} answered with server errors"),
                namespace: "AWS/ApiGateway",
                metric: "5xx",
                dimensions: vec![("ApiId", r#ref(&id).into()), ("Stage", "$default".into())],
                statistic: "Sum",
                threshold: 1.0,
                periods: 1,
                period: super::duration::minutes(5),
            },
        );
        // The documented endpoint form; a GetAtt of ApiEndpoint would say the same, but the local
        // emulator's CloudFormation cannot resolve attributes of API Gateway v2 resources.
        stack.add_output(
            &format!("{id}Url"),
            sub(format!(
                "https://${{{id}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
            ))
            .into(),
            &format!("Endpoint of {physical}"),
        );
        HttpApi {
            stack: stack.clone(),
            id,
            integrated: Rc::new(RefCell::new(BTreeSet::new())),
        }
    }

    pub fn add_jwt_authorizer(&self, name: &str, issuer: &str, audience: &[&str]) -> Authorizer {
        let id = format!("{}{}Authorizer", self.id, pascal(name));
        self.stack.add(
            &id,
            CfnAuthorizer {
                api_id: some(r#ref(&self.id)),
                name: some(name),
                authorizer_type: some("JWT"),
                identity_source: Some(vec!["$request.header.Authorization".into()]),
                jwt_configuration: Some(JwtConfiguration {
                    issuer: some(issuer),
                    audience: Some(audience.iter().map(|a| (*a).into()).collect()),
                }),
                ..Default::default()
            },
        );
        Authorizer { id, kind: "JWT" }
    }

    /// A Lambda authorizer with the default [`LambdaAuthorizerProps`]: simple responses
    /// (`{"isAuthorized": bool}`), the `Authorization` header, results cached for 300 s.
    pub fn add_lambda_authorizer(&self, name: &str, function: &Function) -> Authorizer {
        self.add_lambda_authorizer_with_props(name, function, LambdaAuthorizerProps::default())
    }

    /// A Lambda authorizer (payload format 2.0) reading `props.identity_source`, its answers
    /// cached for `props.result_ttl`.
    pub fn add_lambda_authorizer_with_props(
        &self,
        name: &str,
        function: &Function,
        props: LambdaAuthorizerProps,
    ) -> Authorizer {
        let id = format!("{}{}Authorizer", self.id, pascal(name));
        let (identity_source, ttl) = props.validated(&self.stack, &id);
        self.stack.add(
            &id,
            CfnAuthorizer {
                api_id: some(r#ref(&self.id)),
                name: some(name),
                authorizer_type: some("REQUEST"),
                identity_source,
                authorizer_uri: some(sub(format!(
                    "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{}.Arn}}/invocations",
                    function.id
                ))),
                authorizer_payload_format_version: some("2.0"),
                enable_simple_responses: some(props.simple_responses),
                authorizer_result_ttl_in_seconds: some(ttl),
                ..Default::default()
            },
        );
        self.permit(function, &format!("{id}Permission"), "authorizers/*");
        Authorizer { id, kind: "CUSTOM" }
    }

    /// Route `route_key` (e.g. `GET /accounts`) to `function`.
    pub fn add_route(&self, route_key: &str, function: &Function, auth: RouteAuth) {
        let integration_id = format!("{}{}Integration", self.id, function.id);
        if self.integrated.borrow_mut().insert(function.id.clone()) {
            self.stack.add(
                &integration_id,
                CfnIntegration {
                    api_id: some(r#ref(&self.id)),
                    integration_type: some("AWS_PROXY"),
                    integration_uri: some(function.arn()),
                    payload_format_version: some("2.0"),
                    ..Default::default()
                },
            );
            self.permit(function, &format!("{integration_id}Permission"), "*/*");
        }
        let (auth_type, authorizer, scopes): AuthParts = match &auth {
            RouteAuth::None => ("NONE", None, None),
            RouteAuth::Iam => ("AWS_IAM", None, None),
            RouteAuth::Jwt(a, scopes) => (
                a.kind,
                some(r#ref(&a.id)),
                (!scopes.is_empty()).then(|| scopes.iter().map(Into::into).collect()),
            ),
            RouteAuth::Lambda(a) => (a.kind, some(r#ref(&a.id)), None),
        };
        self.stack.add(
            &format!(
                "{}Route{}",
                self.id,
                pascal(&route_key.replace('+', "Plus"))
            ),
            CfnRoute {
                api_id: some(r#ref(&self.id)),
                route_key: some(route_key),
                target: some(sub(format!("integrations/${{{integration_id}}}"))),
                authorization_type: some(auth_type),
                authorizer_id: authorizer,
                authorization_scopes: scopes,
                ..Default::default()
            },
        );
    }

    fn permit(&self, function: &Function, id: &str, path: &str) {
        self.stack.add(
            id,
            CfnPermission {
                action: some("lambda:InvokeFunction"),
                function_name: some(r#ref(&function.id)),
                principal: some("apigateway.amazonaws.com"),
                source_arn: some(sub(format!(
                    "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{}}}/{path}",
                    self.id
                ))),
                ..Default::default()
            },
        );
    }
}
