//! Queue and topic encryption, bucket CORS, authorizer options, function props and key aliases:
//! each renders what CloudFormation needs and names every mistake.

use std::time::Duration;

use serde_json::json;

use super::tests::{actions_on, function, local, props, template};
use super::*;
use crate::synth::synth_stack;

fn errors(stack: Stack) -> String {
    synth_stack(stack)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

fn queue(stack: &Stack, encryption: QueueEncryption) -> Queue {
    Queue::new(
        stack,
        "jobs",
        QueueProps {
            encryption,
            ..Default::default()
        },
    )
}

#[test]
fn queues_keep_the_aws_managed_key_unless_told() {
    let stack = Stack::new("svc", &local(), "test");
    queue(&stack, QueueEncryption::default());
    let t = template(stack);
    assert_eq!(props(&t, "JobsQueue")["KmsMasterKeyId"], "alias/aws/sqs");
    assert_eq!(props(&t, "JobsQueue")["VisibilityTimeout"], 30);
    assert_eq!(
        props(&t, "JobsQueue")["RedrivePolicy"]["maxReceiveCount"],
        3
    );
}

#[test]
fn an_sqs_managed_queue_receives_s3_notifications() {
    let stack = Stack::new("svc", &local(), "test");
    let q = queue(&stack, QueueEncryption::SqsManaged);
    let bucket = Bucket::new(&stack, "uploads", BucketProps::default());
    bucket.notify_queue(
        &q,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::default(),
    );
    let t = template(stack);
    let p = props(&t, "JobsQueue");
    assert_eq!(p["SqsManagedSseEnabled"], true);
    assert!(p.get("KmsMasterKeyId").is_none());
    assert!(t.resources.contains_key("JobsQueueS3NotificationsPolicy"));
}

#[test]
fn a_customer_key_queue_admits_s3_to_its_key_and_grants_its_users() {
    let stack = Stack::new("svc", &local(), "test");
    let key = Key::new(&stack, "jobs", KeyProps::default());
    let q = queue(&stack, QueueEncryption::Key(key.clone()));
    let bucket = Bucket::new(&stack, "uploads", BucketProps::default());
    bucket.notify_queue(
        &q,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::default(),
    );
    let producer = function(&stack, "producer");
    let consumer = function(&stack, "consumer");
    q.grant_send(&producer);
    consumer.add_sqs_source(&q, 1);
    let t = template(stack);
    let key_arn = json!({"Fn::GetAtt": ["JobsKey", "Arn"]});
    assert_eq!(props(&t, "JobsQueue")["KmsMasterKeyId"], key_arn);
    assert_eq!(
        props(&t, "JobsKey")["KeyPolicy"]["Statement"][1],
        json!({
            "Sid": "ServiceS3",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*"
        })
    );
    assert_eq!(
        actions_on(&t, "ProducerFunctionRole", &key_arn),
        ["kms:Decrypt", "kms:GenerateDataKey"]
    );
    assert_eq!(
        actions_on(&t, "ConsumerFunctionRole", &key_arn),
        ["kms:Decrypt"]
    );
}

#[test]
fn queue_mistakes_are_named() {
    let stack = Stack::new("svc", &local(), "test");
    Queue::new(
        &stack,
        "jobs",
        QueueProps {
            visibility_timeout: duration::seconds(50_000),
            dead_letter: DeadLetter::Own {
                max_receive_count: 0,
            },
            ..Default::default()
        },
    );
    // a fraction of a second cannot be said to CloudFormation either
    Queue::new(
        &stack,
        "half",
        QueueProps {
            visibility_timeout: Duration::from_millis(1500),
            ..Default::default()
        },
    );
    let err = errors(stack);
    assert!(
        err.contains("HalfQueue: visibility_timeout 1.5s is not whole seconds"),
        "{err}"
    );
    assert!(
        err.contains(
            "JobsQueue: visibility_timeout 50000s is not whole seconds up to SQS's 12 hours"
        ),
        "{err}"
    );
    assert!(
        err.contains("JobsQueue: max_receive_count 0 is outside SQS's 1 to 1000"),
        "{err}"
    );
}

#[test]
fn a_topic_under_a_customer_key_grants_publishers_the_key() {
    let stack = Stack::new("svc", &local(), "test");
    let key = Key::new(&stack, "events", KeyProps::default());
    let topic = Topic::with_props(
        &stack,
        "events",
        TopicProps {
            key: Some(key),
            ..TopicProps::default()
        },
    );
    topic.grant_publish(&function(&stack, "producer"));
    let t = template(stack);
    let key_arn = json!({"Fn::GetAtt": ["EventsKey", "Arn"]});
    assert_eq!(props(&t, "EventsTopic")["KmsMasterKeyId"], key_arn);
    assert_eq!(
        actions_on(&t, "ProducerFunctionRole", &key_arn),
        ["kms:Decrypt", "kms:GenerateDataKey"]
    );
}

#[test]
fn a_key_alias_names_the_key_by_stage() {
    let stack = Stack::new("svc", &local(), "test");
    let key = Key::new(&stack, "data", KeyProps::default());
    assert_eq!(key.alias("data"), "alias/svc-data-local");
    key.alias("bad name");
    let err = errors(stack);
    assert!(
        err.contains("DataKey: alias `bad name` must be letters"),
        "{err}"
    );

    let stack = Stack::new("svc", &local(), "test");
    Key::new(&stack, "data", KeyProps::default()).alias("data");
    assert_eq!(
        props(&template(stack), "DataKeyDataAlias"),
        json!({"AliasName": "alias/svc-data-local", "TargetKeyId": {"Ref": "DataKey"}})
    );
}

fn upload_cors() -> BucketCorsRule {
    BucketCorsRule {
        allowed_origins: vec!["https://*.mentorpal.org".into()],
        allowed_methods: vec!["POST".into(), "PUT".into()],
        allowed_headers: vec!["*".into()],
        exposed_headers: vec!["ETag".into()],
        max_age: Some(Duration::from_secs(3000)),
    }
}

#[test]
fn bucket_cors_renders_for_presigned_uploads() {
    let stack = Stack::new("svc", &local(), "test");
    Bucket::new(
        &stack,
        "signed-upload",
        BucketProps {
            cors: vec![upload_cors()],
            ..BucketProps::default()
        },
    );
    Bucket::new(&stack, "plain", BucketProps::default());
    let t = template(stack);
    assert_eq!(
        props(&t, "SignedUploadBucket")["CorsConfiguration"],
        json!({"CorsRules": [{
            "AllowedOrigins": ["https://*.mentorpal.org"],
            "AllowedMethods": ["POST", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposedHeaders": ["ETag"],
            "MaxAge": 3000
        }]})
    );
    assert!(props(&t, "PlainBucket").get("CorsConfiguration").is_none());
}

#[test]
fn bucket_cors_mistakes_are_named() {
    let stack = Stack::new("svc", &local(), "test");
    Bucket::new(
        &stack,
        "uploads",
        BucketProps {
            cors: vec![
                BucketCorsRule {
                    allowed_origins: vec!["https://a.org/".into(), "https://*.*.org".into()],
                    allowed_methods: vec!["PATCH".into()],
                    allowed_headers: vec!["x-*-*".into()],
                    max_age: Some(Duration::from_millis(1500)),
                    ..BucketCorsRule::default()
                },
                BucketCorsRule::default(),
            ],
            ..BucketProps::default()
        },
    );
    let err = errors(stack);
    for expected in [
        "UploadsBucket: cors[0]: origin `https://a.org/` is not",
        "UploadsBucket: cors[0]: origin `https://*.*.org` is not",
        "UploadsBucket: cors[0]: method `PATCH` is not one S3 allows",
        "UploadsBucket: cors[0]: allowed header `x-*-*`",
        "UploadsBucket: cors[0]: max_age 1.5s is not whole seconds",
        "UploadsBucket: cors[1]: allowed_origins is empty",
        "UploadsBucket: cors[1]: allowed_methods is empty",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
}

#[test]
fn lambda_authorizer_options_render_and_default() {
    let stack = Stack::new("svc", &local(), "test");
    let auth = function(&stack, "authorizer");
    let api = HttpApi::new(&stack, "api");
    api.add_lambda_authorizer("default", &auth);
    api.add_lambda_authorizer_with_props(
        "token",
        &auth,
        LambdaAuthorizerProps {
            identity_source: vec![
                "$request.header.Authorization".into(),
                "$context.routeKey".into(),
            ],
            result_ttl: Duration::ZERO,
            simple_responses: false,
        },
    );
    let t = template(stack);
    let default = props(&t, "ApiHttpApiDefaultAuthorizer");
    assert_eq!(
        default["IdentitySource"],
        json!(["$request.header.Authorization"])
    );
    assert_eq!(default["AuthorizerResultTtlInSeconds"], 300);
    assert_eq!(default["EnableSimpleResponses"], true);
    let token = props(&t, "ApiHttpApiTokenAuthorizer");
    assert_eq!(
        token["IdentitySource"],
        json!(["$request.header.Authorization", "$context.routeKey"])
    );
    assert_eq!(token["AuthorizerResultTtlInSeconds"], 0);
    assert_eq!(token["EnableSimpleResponses"], false);
}

#[test]
fn lambda_authorizer_mistakes_are_named() {
    let stack = Stack::new("svc", &local(), "test");
    let auth = function(&stack, "authorizer");
    let api = HttpApi::new(&stack, "api");
    for (name, sources, ttl) in [
        ("bad-source", vec!["Authorization".to_string()], 60),
        (
            "long",
            vec!["$request.header.Authorization".to_string()],
            7200,
        ),
        ("uncached", vec![], 60),
    ] {
        api.add_lambda_authorizer_with_props(
            name,
            &auth,
            LambdaAuthorizerProps {
                identity_source: sources,
                result_ttl: Duration::from_secs(ttl),
                ..LambdaAuthorizerProps::default()
            },
        );
    }
    let err = errors(stack);
    for expected in [
        "ApiHttpApiBadSourceAuthorizer: identity source `Authorization` is not one of",
        "ApiHttpApiLongAuthorizer: result_ttl 7200s is not whole seconds from 0 to 3600",
        "ApiHttpApiUncachedAuthorizer: results are cached (60s) but identity_source is empty",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
}

#[test]
fn function_props_default_and_refuse_what_lambda_would() {
    let stack = Stack::new("svc", &local(), "test");
    Function::new(&stack, "bare", FunctionProps::default());
    let mut config = stack.stage().function_config(64, 1000, &None);
    config.memory = 64;
    Function::new(
        &stack,
        "odd",
        FunctionProps {
            description: "odd".into(),
            config,
            ..Default::default()
        },
    );
    let err = errors(stack);
    for expected in [
        "BareFunction: description is empty",
        "OddFunction: memory 64 MB is outside Lambda's 128 to 10240",
        "OddFunction: timeout 1000 s is outside Lambda's 1 to 900",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
    let stack = Stack::new("svc", &local(), "test");
    Function::new(
        &stack,
        "bare",
        FunctionProps {
            description: "defaults".into(),
            ..Default::default()
        },
    );
    let f = props(&template(stack), "BareFunction");
    assert_eq!(
        (f["MemorySize"].clone(), f["Timeout"].clone()),
        (json!(128), json!(3))
    );
}
