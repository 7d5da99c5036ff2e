//! Constructs carry their defaults; grants give exact actions on exact resources.

use serde_json::{json, Value};
use state_machines::machines::upload_processor as up;

use super::*;
use crate::cfn::Template;
use crate::stage::{self, Stage};
use crate::synth::{synth_stack, SynthError};

pub(super) fn local() -> Stage {
    stage::parse("local", "local.yaml", "").unwrap()
}

pub(super) fn function(stack: &Stack, name: &str) -> Function {
    let stage = stack.stage();
    Function::new(
        stack,
        name,
        FunctionProps {
            description: "test".into(),
            config: stage.function_config(256, 30, &None),
            ..Default::default()
        },
    )
}

pub(super) fn template(stack: Stack) -> Template {
    match synth_stack(stack) {
        Ok(s) => s.template,
        Err(e) => panic!("{e}"),
    }
}

pub(super) fn props(t: &Template, id: &str) -> Value {
    t.resources
        .get(id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", t.resources.keys()))
        .properties
        .clone()
}

/// The role's policy statements, as rendered.
pub(super) fn statements(t: &Template, role: &str) -> Vec<Value> {
    props(t, role)["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub(super) fn actions_on(t: &Template, role: &str, resource: &Value) -> Vec<String> {
    statements(t, role)
        .into_iter()
        .filter(|s| {
            &s["Resource"] == resource
                || s["Resource"]
                    .as_array()
                    .is_some_and(|a| a.contains(resource))
        })
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn functions_get_arm64_their_own_role_log_group_and_errors_alarm() {
    let stack = Stack::new("svc", &local(), "test");
    function(&stack, "worker");
    let t = template(stack);
    let f = props(&t, "WorkerFunction");
    assert_eq!(f["Architectures"], json!(["arm64"]));
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["FunctionName"], "svc-worker-local");
    assert_eq!(
        f["Role"],
        json!({"Fn::GetAtt": ["WorkerFunctionRole", "Arn"]})
    );
    assert_eq!(
        f["LoggingConfig"],
        json!({"LogFormat": "JSON", "LogGroup": {"Ref": "WorkerFunctionLogGroup"}})
    );
    assert_eq!(f["Environment"]["Variables"]["STAGE"], "local");
    assert_eq!(f["Code"]["S3Key"], json!({"Ref": "WorkerFunctionCodeKey"}));
    assert_eq!(
        t.resources["WorkerFunction"].metadata["Binary"],
        "svc-worker"
    );
    let lg = props(&t, "WorkerFunctionLogGroup");
    assert_eq!(lg["LogGroupName"], "/aws/lambda/svc-worker-local");
    assert_eq!(lg["RetentionInDays"], 30);
    let role = props(&t, "WorkerFunctionRole");
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );
    let logs = json!({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/svc-worker-local:*"});
    assert_eq!(
        actions_on(&t, "WorkerFunctionRole", &logs),
        ["logs:CreateLogStream", "logs:PutLogEvents"]
    );
    assert_eq!(
        props(&t, "WorkerFunctionErrorsAlarm")["MetricName"],
        "Errors"
    );
    assert!(t.parameters["WorkerFunctionCodeKey"]
        .allowed_pattern
        .is_some());
}

#[test]
fn stage_overrides_reach_the_function() {
    let stage = stage::parse(
        "local",
        "local.yaml",
        "log_level: warn\nlog_retention_days: 14\nservices:\n  mips-cache:\n    functions:\n      api: {memory: 1024, reserved_concurrency: 3}\n",
    )
    .unwrap();
    let t = template(crate::services::mips_cache::stack(&stage));
    let f = props(&t, "ApiFunction");
    assert_eq!(f["MemorySize"], 1024);
    assert_eq!(f["Timeout"], 30);
    assert_eq!(f["ReservedConcurrentExecutions"], 3);
    assert_eq!(f["Environment"]["Variables"]["RUST_LOG"], "warn");
    assert_eq!(props(&t, "ApiFunctionLogGroup")["RetentionInDays"], 14);
}

#[test]
fn bucket_grants_are_exact() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "reader");
    let w = function(&stack, "writer");
    let b = Bucket::new(&stack, "data", BucketProps::default());
    b.grant_read(&f);
    b.grant_read_write(&w);
    let t = template(stack);
    let objects = json!({"Fn::Sub": "${DataBucket.Arn}/*"});
    let bucket = json!({"Fn::GetAtt": ["DataBucket", "Arn"]});
    assert_eq!(
        actions_on(&t, "ReaderFunctionRole", &objects),
        ["s3:GetObject"]
    );
    assert_eq!(
        actions_on(&t, "ReaderFunctionRole", &bucket),
        ["s3:ListBucket"]
    );
    assert_eq!(
        actions_on(&t, "WriterFunctionRole", &objects),
        [
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:PutObject"
        ]
    );
}

#[test]
fn buckets_block_public_access_encrypt_require_tls_and_are_retained() {
    let stack = Stack::new("svc", &local(), "test");
    Bucket::new(
        &stack,
        "data",
        BucketProps {
            versioned: true,
            expire_after: Some(duration::days(9)),
            ..BucketProps::default()
        },
    );
    let t = template(stack);
    let b = props(&t, "DataBucket");
    assert_eq!(
        b["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"],
        true
    );
    assert_eq!(
        b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    assert_eq!(b["VersioningConfiguration"]["Status"], "Enabled");
    assert_eq!(
        b["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"],
        9
    );
    assert_eq!(t.resources["DataBucket"].deletion_policy, Some("Retain"));
    let policy = props(&t, "DataBucketPolicy");
    assert_eq!(
        policy["PolicyDocument"]["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
}

#[test]
fn queues_have_kms_a_dlq_with_redrive_and_an_alarm() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "worker");
    let q = Queue::new(
        &stack,
        "jobs",
        QueueProps {
            visibility_timeout: duration::seconds(180),
            dead_letter: DeadLetter::Own {
                max_receive_count: 4,
            },
            ..Default::default()
        },
    );
    f.add_sqs_source(&q, 1);
    q.grant_send(&f);
    let t = template(stack);
    let queue = props(&t, "JobsQueue");
    // An explicit KMS key (what scanners look for) that needs no KMS grants in the roles.
    assert_eq!(queue["KmsMasterKeyId"], "alias/aws/sqs");
    assert_eq!(props(&t, "JobsDlq")["KmsMasterKeyId"], "alias/aws/sqs");
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], 4);
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["JobsDlq", "Arn"]})
    );
    assert_eq!(props(&t, "JobsDlq")["MessageRetentionPeriod"], 1_209_600);
    assert_eq!(
        props(&t, "JobsDlqAlarm")["Dimensions"][0]["Value"],
        "svc-jobs-dlq-local"
    );
    let arn = json!({"Fn::GetAtt": ["JobsQueue", "Arn"]});
    assert_eq!(
        actions_on(&t, "WorkerFunctionRole", &arn),
        [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:SendMessage"
        ]
    );
    assert_eq!(
        props(&t, "WorkerFunctionJobsSource")["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
}

#[test]
fn async_functions_get_an_on_failure_dlq_once() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "worker");
    f.invoked_async(AsyncOptions::default());
    f.invoked_async(AsyncOptions::default());
    let t = template(stack);
    let config = props(&t, "WorkerFunctionEventInvokeConfig");
    assert_eq!(
        config["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": ["WorkerAsyncDlq", "Arn"]})
    );
    assert_eq!(config["MaximumRetryAttempts"], 2);
    assert!(t.resources.contains_key("WorkerAsyncDlqAlarm"));
    assert_eq!(t.resources_of("AWS::SQS::Queue").count(), 1);
    let dlq = json!({"Fn::GetAtt": ["WorkerAsyncDlq", "Arn"]});
    assert_eq!(
        actions_on(&t, "WorkerFunctionRole", &dlq),
        ["sqs:SendMessage"]
    );
}

#[test]
fn self_invoke_uses_the_name_based_arn_so_the_role_does_not_depend_on_the_function() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "worker");
    f.grant_invoke(&f);
    let t = template(stack);
    let arn = json!({"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:svc-worker-local"});
    assert_eq!(
        actions_on(&t, "WorkerFunctionRole", &arn),
        ["lambda:InvokeFunction"]
    );
    assert!(!props(&t, "WorkerFunctionRole")
        .to_string()
        .contains("GetAtt\":[\"WorkerFunction\""));
}

#[test]
fn parameter_and_secret_grants_name_exactly_one_resource() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "api");
    SsmParameter::from_name("/local/svc/creds").grant_read(&f);
    Secret::from_name("local/svc/db").grant_read(&f);
    let t = template(stack);
    let param = json!({"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/local/svc/creds"});
    let secret = json!({"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:local/svc/db-??????"});
    assert_eq!(
        actions_on(&t, "ApiFunctionRole", &param),
        ["ssm:GetParameter"]
    );
    assert_eq!(
        actions_on(&t, "ApiFunctionRole", &secret),
        [
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue"
        ]
    );
}

#[test]
fn schedules_target_functions_through_a_rule_with_dlq_and_make_the_function_async() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "sync");
    let expr = crate::stage::ScheduleExpr::parse("rate(6 hours)").unwrap();
    Schedule::new(
        &stack,
        "sync",
        &expr,
        ScheduleTarget::Function(&f),
        json!({"action": "sync"}),
    );
    let t = template(stack);
    let rule = props(&t, "SyncSchedule");
    assert_eq!(rule["ScheduleExpression"], "rate(6 hours)");
    assert_eq!(rule["Targets"][0]["Input"], "{\"action\":\"sync\"}");
    assert_eq!(
        rule["Targets"][0]["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["SyncScheduleDlq", "Arn"]})
    );
    assert_eq!(
        props(&t, "SyncSchedulePermission")["Principal"],
        "events.amazonaws.com"
    );
    assert!(t.resources.contains_key("SyncFunctionEventInvokeConfig"));
    assert!(t.resources.contains_key("SyncScheduleDlqAlarm"));
}

#[test]
fn http_api_routes_with_iam_jwt_and_lambda_authorizers() {
    let stack = Stack::new("svc", &local(), "test");
    let api_fn = function(&stack, "api");
    let auth_fn = function(&stack, "authorize");
    let api = HttpApi::new(&stack, "api");
    let jwt = api.add_jwt_authorizer("users", "https://issuer.example.org/", &["uploads"]);
    let custom = api.add_lambda_authorizer("token", &auth_fn);
    api.add_route("POST /uploads", &api_fn, RouteAuth::Jwt(&jwt, vec![]));
    api.add_route("GET /status/{id}", &api_fn, RouteAuth::Lambda(&custom));
    api.add_route("POST /admin", &api_fn, RouteAuth::Iam);
    let t = template(stack);
    assert_eq!(
        props(&t, "ApiHttpApiRoutePOSTUploads")["AuthorizationType"],
        "JWT"
    );
    assert_eq!(
        props(&t, "ApiHttpApiRouteGETStatusId")["AuthorizationType"],
        "CUSTOM"
    );
    assert_eq!(
        props(&t, "ApiHttpApiRoutePOSTAdmin")["AuthorizationType"],
        "AWS_IAM"
    );
    assert_eq!(
        props(&t, "ApiHttpApiUsersAuthorizer")["JwtConfiguration"]["Audience"],
        json!(["uploads"])
    );
    // one integration and one permission per function, however many routes
    assert_eq!(t.resources_of("AWS::ApiGatewayV2::Integration").count(), 1);
    assert_eq!(t.resources_of("AWS::Lambda::Permission").count(), 2);
    assert_eq!(props(&t, "ApiHttpApi5xxAlarm")["MetricName"], "5xx");
}

/// What upload-processor needs: a Parallel with `.waitForTaskToken`, Catch to SQS, and a role
/// granted exactly its tasks.
#[test]
fn state_machine_role_is_granted_exactly_its_tasks() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let steps = function(&stack, "steps");
    let transcribe = function(&stack, "transcribe");
    let complete = function(&stack, "complete");
    let failures = Queue::new(
        &stack,
        "failures",
        QueueProps {
            visibility_timeout: duration::seconds(60),
            dead_letter: DeadLetter::Own {
                max_receive_count: 3,
            },
            ..Default::default()
        },
    );
    let sm = StateMachine::new(
        &stack,
        &up::process().unwrap(),
        &[
            (up::STEPS, Binding::Invoke(&steps)),
            (up::TRANSCRIBE, Binding::Invoke(&transcribe)),
            (up::DLQ, Binding::SendMessage(&failures)),
        ],
    );
    sm.grant_start(&complete);
    let t = template(stack);
    let role = "ProcessStateMachineRole";
    let invoked: Vec<String> = statements(&t, role)
        .iter()
        .filter(|s| s["Action"] == json!(["lambda:InvokeFunction"]))
        .map(|s| {
            s["Resource"][0]["Fn::Sub"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        invoked,
        [
            "upload-processor-steps-local",
            "upload-processor-transcribe-local"
        ]
    );
    let sent = statements(&t, role)
        .iter()
        .filter(|s| s["Action"] == json!(["sqs:SendMessage"]))
        .count();
    assert_eq!(sent, 1);
    let sm_props = props(&t, "ProcessStateMachine");
    assert_eq!(
        sm_props["DefinitionSubstitutions"]["DeadLetterQueueUrl"],
        json!({"Ref": "FailuresQueue"})
    );
    assert_eq!(
        sm_props["LoggingConfiguration"]["IncludeExecutionData"],
        false
    );
    assert!(sm_props["DefinitionString"]
        .as_str()
        .unwrap()
        .contains("waitForTaskToken"));
    let start = json!({"Ref": "ProcessStateMachine"});
    assert_eq!(
        actions_on(&t, "CompleteFunctionRole", &start),
        ["states:StartExecution"]
    );
}

#[test]
fn missing_and_extra_state_machine_bindings_fail_synth() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let steps = function(&stack, "steps");
    StateMachine::new(
        &stack,
        &up::process().unwrap(),
        &[
            (up::STEPS, Binding::Invoke(&steps)),
            ("NotInTheDefinition", Binding::Invoke(&steps)),
        ],
    );
    let err = synth_stack(stack).expect_err("must fail").to_string();
    assert!(
        err.contains("binding `NotInTheDefinition` matches no"),
        "{err}"
    );
    assert!(
        err.contains("`${TranscribeFunctionArn}` in the definition has no binding"),
        "{err}"
    );
}

#[test]
fn duplicate_ids_fail_synth() {
    let stack = Stack::new("svc", &local(), "test");
    function(&stack, "api");
    function(&stack, "api");
    match synth_stack(stack) {
        Err(SynthError::Construction { errors, .. }) => {
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("logical id `ApiFunction` is used twice")),
                "{errors:?}"
            )
        }
        other => panic!(
            "expected a construction error, got {:?}",
            other.map(|s| s.name)
        ),
    }
}

#[test]
fn topics_are_encrypted_and_subscribe_the_stage_email() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "notify");
    let topic = Topic::new(&stack, "summary", Some("team@example.org"));
    topic.grant_publish(&f);
    let t = template(stack);
    assert_eq!(props(&t, "SummaryTopic")["KmsMasterKeyId"], "alias/aws/sns");
    assert_eq!(
        props(&t, "SummaryTopicEmailSubscription")["Endpoint"],
        "team@example.org"
    );
    assert_eq!(
        actions_on(&t, "NotifyFunctionRole", &json!({"Ref": "SummaryTopic"})),
        ["sns:Publish"]
    );
}

#[test]
fn vpc_functions_get_eni_permissions_with_a_written_reason() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "db");
    f.in_vpc(&Vpc {
        subnet_ids: vec!["subnet-12345678".into()],
        security_group_ids: vec!["sg-12345678".into()],
    });
    let t = template(stack);
    assert_eq!(
        props(&t, "DbFunction")["VpcConfig"]["SubnetIds"],
        json!(["subnet-12345678"])
    );
    let reasons = &t.resources["DbFunctionRole"].metadata["WildcardResourceReasons"];
    assert!(reasons[0]["Reason"]
        .as_str()
        .unwrap()
        .contains("network interfaces"));
}

#[test]
fn logical_ids_are_pascal_case_of_the_construct_names() {
    assert_eq!(pascal("list-tables"), "ListTables");
    assert_eq!(pascal("GET /cache/{proxy}"), "GETCacheProxy");
}

fn metadata(t: &Template, id: &str) -> serde_json::Map<String, Value> {
    t.resources[id].metadata.clone()
}

/// The checkov skip comment for `check` on `id`, if synth wrote one.
fn checkov_skip(t: &Template, id: &str, check: &str) -> Option<String> {
    let m = metadata(t, id);
    m.get(crate::checks::scanners::CHECKOV_METADATA_KEY)?
        .get(crate::checks::scanners::CHECKOV_SKIP_KEY)?
        .as_array()?
        .iter()
        .find(|s| s["id"] == check)
        .map(|s| s["comment"].as_str().expect("comment is text").to_string())
}

#[test]
fn suppressions_reach_checkov_and_cfn_nag_in_the_resource_metadata() {
    let stack = Stack::new("svc", &local(), "test");
    let b = Bucket::new(&stack, "cache", BucketProps::default());
    stack.suppress("CKV_AWS_21", &b.id, "a cache: versions restore nothing");
    stack.suppress("CKV_AWS_18", &b.id, "only our functions read it");
    let t = template(stack);
    let m = metadata(&t, "CacheBucket");
    assert_eq!(
        m["checkov"],
        json!({"skip": [
            {"id": "CKV_AWS_18", "comment": "only our functions read it"},
            {"id": "CKV_AWS_21", "comment": "a cache: versions restore nothing"},
        ]})
    );
    // CKV_AWS_18 has a cfn-nag twin (W35); CKV_AWS_21 has none, so only W35 is suppressed there.
    assert_eq!(
        m["cfn_nag"],
        json!({"rules_to_suppress": [{"id": "W35", "reason": "only our functions read it"}]})
    );
}

#[test]
fn our_rule_suppressions_reach_the_scanner_checks_they_cover() {
    let stack = Stack::new("svc", &local(), "test");
    let topic = Topic::new(&stack, "summary", None);
    stack.suppress("PL005", &topic.id, "test: no data in its messages");
    let t = template(stack);
    // A topic's PL005 suppression is checkov's CKV_AWS_26 and cfn-nag's W47, same reason.
    let reason = checkov_skip(&t, "SummaryTopic", "CKV_AWS_26").expect("topic skip");
    assert_eq!(reason, "test: no data in its messages");
    assert_eq!(
        metadata(&t, "SummaryTopic")["cfn_nag"]["rules_to_suppress"][0],
        json!({"id": "W47", "reason": reason})
    );
    // A queue's check is not written onto the topic just because PL005 covers both.
    assert!(checkov_skip(&t, "SummaryTopic", "CKV_AWS_27").is_none());
}

/// CloudWatch publishes as a service principal, which the AWS-managed SNS key does not admit.
#[test]
fn the_alarm_topic_has_its_own_key_that_admits_cloudwatch() {
    let stack = Stack::new("svc", &local(), "test");
    function(&stack, "worker");
    let t = template(stack);
    assert_eq!(
        props(&t, "AlarmsTopic")["KmsMasterKeyId"],
        json!({"Fn::GetAtt": ["AlarmTopicKey", "Arn"]})
    );
    let key = props(&t, "AlarmTopicKey");
    assert_eq!(key["PendingWindowInDays"], 7);
    assert_eq!(
        key["KeyPolicy"]["Statement"][1],
        json!({
            "Sid": "ServiceCloudwatch",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*"
        })
    );
    // It protects only messages in flight: it goes with the stack.
    assert!(t.resources["AlarmTopicKey"].deletion_policy.is_none());
    assert!(metadata(&t, "AlarmsTopic").get("checkov").is_none());
}

#[test]
fn function_defaults_explain_themselves_and_follow_the_function() {
    let stack = Stack::new("svc", &local(), "test");
    let plain = function(&stack, "api");
    let worker = function(&stack, "worker");
    worker.invoked_async(AsyncOptions::default());
    worker.in_vpc(&Vpc {
        subnet_ids: vec!["subnet-1".into()],
        security_group_ids: vec!["sg-1".into()],
    });
    let t = template(stack);
    assert!(checkov_skip(&t, &plain.id, "CKV_AWS_116")
        .unwrap()
        .contains("synchronously"));
    // An async function's reason names the on-failure destination that replaces the DLQ.
    assert!(checkov_skip(&t, &worker.id, "CKV_AWS_116")
        .unwrap()
        .contains("WorkerAsyncDlq"));
    // Outside a VPC the reason stands; inside one the check passes and the skip is withdrawn.
    assert!(checkov_skip(&t, &plain.id, "CKV_AWS_117").is_some());
    assert!(checkov_skip(&t, &worker.id, "CKV_AWS_117").is_none());
    assert!(checkov_skip(&t, "ApiFunctionLogGroup", "CKV_AWS_158").is_some());
    // The ENI actions' written reason (PL004) is also checkov's CKV_AWS_111 reason.
    assert!(checkov_skip(&t, "WorkerFunctionRole", "CKV_AWS_111")
        .unwrap()
        .contains("network interfaces"));
}

#[test]
fn reserved_concurrency_from_the_stage_needs_no_suppression() {
    let stage = stage::parse(
        "local",
        "local.yaml",
        "services:\n  mips-cache:\n    functions:\n      api: {reserved_concurrency: 3}\n",
    )
    .unwrap();
    let t = template(crate::services::mips_cache::stack(&stage));
    assert_eq!(props(&t, "ApiFunction")["ReservedConcurrentExecutions"], 3);
    assert!(checkov_skip(&t, "ApiFunction", "CKV_AWS_115").is_none());
    assert!(checkov_skip(&t, "RefreshFunction", "CKV_AWS_115")
        .unwrap()
        .contains("reserved_concurrency"));
}

#[test]
fn eventbridge_dlqs_keep_sqs_managed_sse_with_a_reason() {
    let stack = Stack::new("svc", &local(), "test");
    let f = function(&stack, "refresh");
    Schedule::new(
        &stack,
        "refresh",
        &crate::stage::ScheduleExpr("rate(1 hour)".into()),
        ScheduleTarget::Function(&f),
        json!({}),
    );
    let t = template(stack);
    let dlq = props(&t, "RefreshScheduleDlq");
    assert_eq!(dlq["SqsManagedSseEnabled"], true);
    assert!(dlq.get("KmsMasterKeyId").is_none());
    assert!(checkov_skip(&t, "RefreshScheduleDlq", "CKV_AWS_27")
        .unwrap()
        .contains("EventBridge"));
    assert_eq!(
        props(&t, "RefreshAsyncDlq")["KmsMasterKeyId"],
        "alias/aws/sqs"
    );
}

#[test]
fn scanner_suppressions_that_skip_nothing_fail_synth() {
    let stack = Stack::new("svc", &local(), "test");
    Bucket::new(&stack, "cache", BucketProps::default());
    stack.suppress("CKV_AWS_21", "Nowhere", "typo in the id");
    stack.suppress("CKV_AWS_117", "CacheBucket", "wrong resource type");
    let Err(SynthError::Construction { errors, .. }) = synth_stack(stack) else {
        panic!("synth accepted suppressions that skip nothing");
    };
    assert!(errors.iter().any(|e| e.contains("`Nowhere`")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("skips nothing")),
        "{errors:?}"
    );
}

#[test]
fn unknown_scanner_ids_are_unknown_rules() {
    let stack = Stack::new("svc", &local(), "test");
    Bucket::new(&stack, "cache", BucketProps::default());
    stack.suppress("CKV_AWS_9999", "CacheBucket", "no such check");
    let Err(SynthError::Construction { errors, .. }) = synth_stack(stack) else {
        panic!("synth accepted an unknown check id");
    };
    assert!(
        errors.iter().any(|e| e.contains("CKV_AWS_9999")),
        "{errors:?}"
    );
}
