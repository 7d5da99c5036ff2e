//! API Gateway v2 HTTP API: routes to functions with IAM, JWT or Lambda authorizers, access logs
//! with retention, throttling, a 5xx alarm and the endpoint as an output.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use serde_json::json;

use super::{pascal, some, Alarm, AlarmProps, Function, Stack};
use crate::cfn::api_gateway_v2::api::CfnApi;
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

#[derive(Clone)]
pub struct HttpApi {
    stack: Stack,
    pub id: String,
    integrated: Rc<RefCell<BTreeSet<String>>>,
}

impl HttpApi {
    pub fn new(stack: &Stack, name: &str) -> HttpApi {
        let id = format!("{}HttpApi", pascal(name));
        let physical = stack.physical_name(name);
        stack.add(
            &id,
            CfnApi {
                name: some(physical.clone()),
                protocol_type: some("HTTP"),
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
                period_seconds: 300,
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

    /// A Lambda authorizer with simple responses (`{"isAuthorized": bool}`).
    pub fn add_lambda_authorizer(&self, name: &str, function: &Function) -> Authorizer {
        let id = format!("{}{}Authorizer", self.id, pascal(name));
        self.stack.add(
            &id,
            CfnAuthorizer {
                api_id: some(r#ref(&self.id)),
                name: some(name),
                authorizer_type: some("REQUEST"),
                identity_source: Some(vec!["$request.header.Authorization".into()]),
                authorizer_uri: some(sub(format!(
                    "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{}.Arn}}/invocations",
                    function.id
                ))),
                authorizer_payload_format_version: some("2.0"),
                enable_simple_responses: some(true),
                authorizer_result_ttl_in_seconds: some(300),
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
