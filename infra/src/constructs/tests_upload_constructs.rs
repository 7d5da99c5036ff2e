//! The constructs upload-processor needs: S3 notifications, layers, larger `/tmp`, callback
//! tasks, CORS and a KMS key. Each renders what CloudFormation needs, refuses what AWS would
//! refuse at deploy, and leaves the templates of functions and APIs that do not use it unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use state_machines::asl::{Graph, State, Transition};
use state_machines::{Callback, Definition};

use super::layer::{layer_assets, LayerAsset};
use super::tests::{actions_on, function, local, props, template};
use super::*;
use crate::cfn::Template;
use crate::synth::synth_stack;

fn construction_errors(stack: Stack) -> String {
    match synth_stack(stack) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// Resources each resource needs first: `Ref`, `Fn::GetAtt`, `${…}` in `Fn::Sub`, `DependsOn`.
fn dependencies(t: &Template) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(id)) = m.get("Ref") {
                    out.insert(id.clone());
                }
                if let Some(id) = m.get("Fn::GetAtt").and_then(|a| a[0].as_str()) {
                    out.insert(id.to_string());
                }
                if let Some(s) = m.get("Fn::Sub").and_then(Value::as_str) {
                    for part in s.split("${").skip(1) {
                        let name = part.split('}').next().unwrap_or("");
                        out.insert(name.split('.').next().unwrap_or("").to_string());
                    }
                }
                m.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    t.resources
        .iter()
        .map(|(id, r)| {
            let mut deps = r.depends_on.clone();
            walk(&r.properties, &mut deps);
            deps.retain(|d| t.resources.contains_key(d));
            (id.clone(), deps)
        })
        .collect()
}

/// CloudFormation refuses a template whose resources depend on each other in a circle.
fn assert_acyclic(t: &Template) {
    fn visit(
        id: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(id) {
            return;
        }
        if let Some(pos) = path.iter().position(|p| p == id) {
            panic!("circular dependency: {} -> {id}", path[pos..].join(" -> "));
        }
        path.push(id.to_string());
        for d in &deps[id] {
            visit(d, deps, path, done);
        }
        path.pop();
        done.insert(id.to_string());
    }
    let deps = dependencies(t);
    let mut done = BTreeSet::new();
    for id in deps.keys() {
        visit(id, &deps, &mut Vec::new(), &mut done);
    }
}

fn output_bucket(stack: &Stack) -> Bucket {
    Bucket::new(
        stack,
        "transcribe-output",
        BucketProps {
            expire_after: Some(duration::days(7)),
            referenced_by_name: true,
            ..BucketProps::default()
        },
    )
}

const BUCKET_ARN: &str =
    "arn:${AWS::Partition}:s3:::upload-processor-transcribe-output-local-${AWS::AccountId}";

#[test]
fn a_bucket_notifies_a_function_with_its_permission_created_first_and_no_cycle() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let bucket = output_bucket(&stack);
    let collect = function(&stack, "collect");
    // What makes the cycle CloudFormation would refuse: the function reads the bucket and
    // knows its name.
    bucket.grant_read(&collect);
    collect.add_environment("OUTPUT_BUCKET", bucket.name());
    bucket.notify_function(
        &collect,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::suffix(".vtt"),
    );
    bucket.notify_function(
        &collect,
        &[S3Event::ObjectRemovedDelete],
        NotificationFilter::prefix("jobs/"),
    );
    let t = template(stack);
    let b = props(&t, "TranscribeOutputBucket");
    assert_eq!(
        b["NotificationConfiguration"],
        json!({"LambdaConfigurations": [
            {
                "Event": "s3:ObjectCreated:*",
                "Filter": {"S3Key": {"Rules": [{"Name": "suffix", "Value": ".vtt"}]}},
                "Function": {"Fn::GetAtt": ["CollectFunction", "Arn"]}
            },
            {
                "Event": "s3:ObjectRemoved:Delete",
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "jobs/"}]}},
                "Function": {"Fn::GetAtt": ["CollectFunction", "Arn"]}
            }
        ]})
    );
    // One permission for the function, however many notifications; the bucket waits for it.
    let permission = props(&t, "TranscribeOutputBucketCollectFunctionPermission");
    assert_eq!(
        permission,
        json!({
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "CollectFunction"},
            "Principal": "s3.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": {"Fn::Sub": BUCKET_ARN}
        })
    );
    assert_eq!(
        t.resources["TranscribeOutputBucket"].depends_on,
        BTreeSet::from(["TranscribeOutputBucketCollectFunctionPermission".to_string()])
    );
    // S3 invokes asynchronously: failures go to the function's DLQ.
    assert_eq!(
        t.resources["CollectFunction"].metadata["Invocation"],
        "async"
    );
    assert!(t.resources.contains_key("CollectFunctionEventInvokeConfig"));
    // The function's grants and environment name the bucket without referring to it.
    assert_eq!(
        actions_on(
            &t,
            "CollectFunctionRole",
            &json!({"Fn::Sub": format!("{BUCKET_ARN}/*")})
        ),
        ["s3:GetObject"]
    );
    assert_eq!(
        props(&t, "CollectFunction")["Environment"]["Variables"]["OUTPUT_BUCKET"],
        json!({"Fn::Sub": "upload-processor-transcribe-output-local-${AWS::AccountId}"})
    );
    assert_acyclic(&t);
}

#[test]
fn notifying_a_function_needs_a_bucket_referenced_by_name() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let bucket = Bucket::new(&stack, "output", BucketProps::default());
    let collect = function(&stack, "collect");
    bucket.notify_function(
        &collect,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::default(),
    );
    let err = construction_errors(stack);
    assert!(
        err.contains(
            "OutputBucket: notify_function(CollectFunction) needs `referenced_by_name: true`"
        ),
        "{err}"
    );
}

#[test]
fn the_originals_json_and_vtt_rules_do_not_overlap() {
    // spec §6.2: ObjectCreated on keys ending `.json` or `.vtt` in the transcribe-output bucket.
    let stack = Stack::new("upload-processor", &local(), "test");
    let bucket = output_bucket(&stack);
    let collect = function(&stack, "collect");
    for suffix in [".json", ".vtt"] {
        bucket.notify_function(
            &collect,
            &[S3Event::ObjectCreatedAll],
            NotificationFilter::suffix(suffix),
        );
    }
    let t = template(stack);
    let configs =
        &props(&t, "TranscribeOutputBucket")["NotificationConfiguration"]["LambdaConfigurations"];
    assert_eq!(configs.as_array().unwrap().len(), 2);
}

#[test]
fn overlapping_notifications_are_refused_naming_both() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let bucket = output_bucket(&stack);
    let collect = function(&stack, "collect");
    let audit = function(&stack, "audit");
    bucket.notify_function(
        &collect,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::suffix(".json"),
    );
    // `transcribe.json` ends in `.json`, and Put is one of ObjectCreated:*.
    bucket.notify_function(
        &audit,
        &[S3Event::ObjectCreatedPut],
        NotificationFilter {
            prefix: "jobs/".into(),
            suffix: "transcribe.json".into(),
        },
    );
    // A different event family on the same keys is fine.
    bucket.notify_function(
        &audit,
        &[S3Event::ObjectRemovedAll],
        NotificationFilter::suffix(".json"),
    );
    let err = construction_errors(stack);
    assert!(
        err.contains(
            "TranscribeOutputBucket: the notifications to CollectFunction (s3:ObjectCreated:*, \
             suffix `.json`) and to AuditFunction (s3:ObjectCreated:Put, prefix `jobs/` and \
             suffix `transcribe.json`) overlap"
        ),
        "{err}"
    );
    assert_eq!(err.matches("overlap:").count(), 1, "{err}");
}

/// A work queue under SQS-managed SSE, which S3 can send to (the AWS-managed key it cannot).
fn sse_sqs_queue(stack: &Stack) -> Queue {
    Queue::new(
        stack,
        "events",
        QueueProps {
            encryption: QueueEncryption::SqsManaged,
            ..Default::default()
        },
    )
}

#[test]
fn a_bucket_notifies_a_queue_through_its_policy() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let bucket = output_bucket(&stack);
    let other = Bucket::new(&stack, "input", BucketProps::default());
    // SQS-managed SSE, which S3 can send to.
    let queue = sse_sqs_queue(&stack);
    bucket.notify_queue(
        &queue,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::suffix(".json"),
    );
    other.notify_queue(
        &queue,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::default(),
    );
    let t = template(stack);
    assert_eq!(
        props(&t, "TranscribeOutputBucket")["NotificationConfiguration"],
        json!({"QueueConfigurations": [{
            "Event": "s3:ObjectCreated:*",
            "Filter": {"S3Key": {"Rules": [{"Name": "suffix", "Value": ".json"}]}},
            "Queue": {"Fn::GetAtt": ["EventsQueue", "Arn"]}
        }]})
    );
    let policy = props(&t, "EventsQueueS3NotificationsPolicy");
    assert_eq!(policy["Queues"], json!([{"Ref": "EventsQueue"}]));
    let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "one statement per bucket");
    assert_eq!(
        statements[0],
        json!({
            "Sid": "S3FromTranscribeOutputBucket",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["EventsQueue", "Arn"]},
            "Condition": {
                "ArnLike": {"aws:SourceArn": {"Fn::Sub": BUCKET_ARN}},
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
            }
        })
    );
    for b in ["TranscribeOutputBucket", "InputBucket"] {
        assert!(t.resources[b]
            .depends_on
            .contains("EventsQueueS3NotificationsPolicy"));
    }
    assert_acyclic(&t);
}

#[test]
fn a_queue_under_the_aws_managed_key_cannot_receive_notifications() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let bucket = output_bucket(&stack);
    let queue = Queue::new(
        &stack,
        "events",
        QueueProps {
            visibility_timeout: duration::seconds(60),
            dead_letter: DeadLetter::Own {
                max_receive_count: 3,
            },
            ..Default::default()
        },
    );
    bucket.notify_queue(
        &queue,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::default(),
    );
    let err = construction_errors(stack);
    assert!(
        err.contains("notify_queue(EventsQueue): the queue is encrypted with the AWS-managed key alias/aws/sqs"),
        "{err}"
    );
}

fn ffmpeg(stack: &Stack) -> LayerVersion {
    LayerVersion::new(
        stack,
        "ffmpeg",
        LayerProps {
            asset: "target/layers/ffmpeg.zip".into(),
            description: "static ffmpeg 7.0.2 for arm64".into(),
            license_info: Some("GPL-3.0-or-later".into()),
            ..LayerProps::default()
        },
    )
}

/// A function with `layers` and `/tmp` (none and Lambda's default when empty).
fn transcoder(
    stack: &Stack,
    layers: Vec<LayerVersion>,
    ephemeral_storage_mb: Option<u32>,
) -> Function {
    Function::new(
        stack,
        "transcode",
        FunctionProps {
            description: "test".into(),
            config: stack.stage().function_config(2048, 900, &None),
            layers,
            ephemeral_storage_mb,
            ..Default::default()
        },
    )
}

#[test]
fn layers_are_content_addressed_like_function_code() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let layer = ffmpeg(&stack);
    transcoder(&stack, vec![layer], Some(4096));
    let t = template(stack);
    assert_eq!(
        props(&t, "FfmpegLayer"),
        json!({
            "LayerName": "upload-processor-ffmpeg-local",
            "Description": "static ffmpeg 7.0.2 for arm64",
            "LicenseInfo": "GPL-3.0-or-later",
            "CompatibleArchitectures": ["arm64"],
            "CompatibleRuntimes": ["provided.al2023"],
            "Content": {
                "S3Bucket": "serverless-assets-local-us-east-1",
                "S3Key": {"Ref": "FfmpegLayerContentKey"}
            }
        })
    );
    assert_eq!(
        t.resources["FfmpegLayer"].metadata["Asset"],
        "target/layers/ffmpeg.zip"
    );
    let parameter = &t.parameters["FfmpegLayerContentKey"];
    assert_eq!(
        parameter.allowed_pattern.as_deref(),
        Some("^assets/[0-9a-f]{64}\\.zip$")
    );
    assert_eq!(
        layer_assets(&t),
        [LayerAsset {
            logical_id: "FfmpegLayer".into(),
            asset: "target/layers/ffmpeg.zip".into(),
            parameter: "FfmpegLayerContentKey".into(),
        }]
    );
    let f = props(&t, "TranscodeFunction");
    assert_eq!(f["Layers"], json!([{"Ref": "FfmpegLayer"}]));
    assert_eq!(f["EphemeralStorage"], json!({"Size": 4096}));
}

#[test]
fn a_function_without_options_has_no_layers_or_storage_keys() {
    let stack = Stack::new("upload-processor", &local(), "test");
    transcoder(&stack, Vec::new(), None);
    let f = props(&template(stack), "TranscodeFunction");
    assert!(f.get("Layers").is_none() && f.get("EphemeralStorage").is_none());
}

#[test]
fn layer_and_storage_mistakes_are_named() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let x86 = LayerVersion::new(
        &stack,
        "x86-tools",
        LayerProps {
            asset: "../outside.zip".into(),
            compatible_architectures: vec![Architecture::X86_64],
            ..LayerProps::default()
        },
    );
    let ok = ffmpeg(&stack);
    transcoder(
        &stack,
        vec![x86, ok.clone(), ok.clone(), ok.clone(), ok.clone(), ok],
        Some(256),
    );
    let err = construction_errors(stack);
    for expected in [
        "X86ToolsLayer: asset `../outside.zip` must be the path of a zip relative to the workspace root",
        "TranscodeFunction: 6 layers, Lambda allows at most 5",
        "TranscodeFunction: layer X86ToolsLayer does not list arm64",
        "TranscodeFunction: layer FfmpegLayer is listed twice",
        "TranscodeFunction: ephemeral_storage_mb 256 is outside Lambda's 512 to 10240",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
}

fn callback_machine() -> Definition {
    let graph = Graph {
        start_at: "Transcribe".into(),
        states: vec![(
            "Transcribe".into(),
            State::Task(
                Callback::lambda("TranscribeStartArn", 900)
                    .with("request.$", "$.request")
                    .heartbeat(300)
                    .task(Transition::End),
            ),
        )],
    };
    Definition::new("upload-processor-transcribe", "test", graph, None).unwrap()
}

#[test]
fn a_callback_function_may_return_the_tokens_of_the_machine_that_invokes_it() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let start = function(&stack, "transcribe-start");
    let collect = function(&stack, "collect");
    let sm = StateMachine::new(
        &stack,
        &callback_machine(),
        &[("TranscribeStartArn", Binding::Invoke(&start))],
    );
    sm.grant_task_response(&collect);
    sm.grant_task_response(&start);
    let t = template(stack);
    let machine = json!({"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:upload-processor-transcribe-local"});
    let respond = [
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
        "states:SendTaskSuccess",
    ];
    assert_eq!(actions_on(&t, "CollectFunctionRole", &machine), respond);
    assert_eq!(
        actions_on(&t, "TranscribeStartFunctionRole", &machine),
        respond
    );
    let invoke = json!({"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:upload-processor-transcribe-start-local"});
    assert_eq!(
        actions_on(&t, "TranscribeStateMachineRole", &invoke),
        ["lambda:InvokeFunction"]
    );
    let definition: Value = serde_json::from_str(
        props(&t, "TranscribeStateMachine")["DefinitionString"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let task = &definition["States"]["Transcribe"];
    assert_eq!(
        task["Parameters"]["Payload"]["task_token.$"],
        "$$.Task.Token"
    );
    assert_eq!(task["HeartbeatSeconds"], 300);
    assert_eq!(task["TimeoutSeconds"], 900);
    // The invoked function returns its own tokens: the machine needs the function, so the
    // function's role must not need the machine.
    assert_acyclic(&t);
}

#[test]
fn cors_renders_the_api_configuration() {
    let stack = Stack::new("upload-processor", &local(), "test");
    HttpApi::with_props(
        &stack,
        "api",
        HttpApiProps {
            cors: Some(Cors {
                allow_origins: vec!["https://mentorpal.org".into()],
                allow_methods: vec!["GET".into(), "POST".into()],
                allow_headers: vec!["authorization".into(), "content-type".into()],
                max_age: Some(Duration::from_secs(3600)),
                ..Cors::default()
            }),
        },
    );
    let t = template(stack);
    assert_eq!(
        props(&t, "ApiHttpApi")["CorsConfiguration"],
        json!({
            "AllowOrigins": ["https://mentorpal.org"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["authorization", "content-type"],
            "MaxAge": 3600
        })
    );
    let plain = Stack::new("upload-processor", &local(), "test");
    HttpApi::new(&plain, "api");
    assert!(props(&template(plain), "ApiHttpApi")
        .get("CorsConfiguration")
        .is_none());
}

#[test]
fn cors_mistakes_are_named() {
    let stack = Stack::new("upload-processor", &local(), "test");
    HttpApi::with_props(
        &stack,
        "api",
        HttpApiProps {
            cors: Some(Cors {
                allow_origins: vec!["*".into(), "https://mentorpal.org/".into()],
                allow_methods: vec!["get".into()],
                allow_credentials: true,
                max_age: Some(Duration::from_secs(90_000)),
                ..Cors::default()
            }),
        },
    );
    let err = construction_errors(stack);
    for expected in [
        "ApiHttpApi: cors origin `https://mentorpal.org/` is not `*` or scheme://host[:port]",
        "ApiHttpApi: cors method `get` is not one of",
        "ApiHttpApi: cors allow_credentials with the `*` origin",
        "ApiHttpApi: cors max_age 90000s is not whole seconds from 0 to 86400",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
}

#[test]
fn a_key_rotates_is_administered_by_the_account_and_admits_named_services() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let key = Key::new(&stack, "alarms", KeyProps::default());
    key.allow_service(
        "cloudwatch.amazonaws.com",
        &["kms:GenerateDataKey", "kms:Decrypt"],
    );
    key.allow_service("cloudwatch.amazonaws.com", &["kms:Decrypt"]);
    let f = function(&stack, "worker");
    key.grant_encrypt_decrypt(&f);
    let t = template(stack);
    let k = props(&t, "AlarmsKey");
    assert_eq!(k["EnableKeyRotation"], true);
    assert_eq!(k["PendingWindowInDays"], 30);
    assert_eq!(k["Description"], "upload-processor-local alarms");
    assert_eq!(
        k["KeyPolicy"]["Statement"],
        json!([
            {
                "Sid": "AccountAdministersTheKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "ServiceCloudwatch",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*"
            }
        ])
    );
    assert_eq!(t.resources["AlarmsKey"].deletion_policy, Some("Retain"));
    assert_eq!(
        actions_on(
            &t,
            "WorkerFunctionRole",
            &json!({"Fn::GetAtt": ["AlarmsKey", "Arn"]})
        ),
        ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    );
}

#[test]
fn key_mistakes_are_named() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let key = Key::new(
        &stack,
        "data",
        KeyProps {
            pending_window: duration::days(3),
            ..KeyProps::default()
        },
    );
    key.allow_service("cloudwatch", &["kms:*"]);
    let err = construction_errors(stack);
    for expected in [
        "DataKey: pending_window 259200s is not 7 to 30 whole days",
        "DataKey: allow_service(`cloudwatch`): a service principal looks like",
        "DataKey: allow_service(`cloudwatch`): `kms:*` is not one KMS action",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
}

/// Every new construct in one stack: synth passes its checks, and with
/// `CONSTRUCTS_TEMPLATE_OUT=<file>` the template is written for cfn-lint.
#[test]
fn every_new_construct_in_one_stack_passes_synth() {
    let stack = Stack::new("upload-processor", &local(), "test");
    let bucket = output_bucket(&stack);
    let layer = ffmpeg(&stack);
    let transcode = transcoder(&stack, vec![layer], Some(4096));
    let start = function(&stack, "transcribe-start");
    let collect = function(&stack, "collect");
    bucket.grant_read(&collect);
    bucket.grant_write(&start);
    collect.add_environment("OUTPUT_BUCKET", bucket.name());
    bucket.notify_function(
        &collect,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::suffix(".vtt"),
    );
    let events = sse_sqs_queue(&stack);
    bucket.notify_queue(
        &events,
        &[S3Event::ObjectRemovedAll],
        NotificationFilter::default(),
    );
    let sm = StateMachine::new(
        &stack,
        &callback_machine(),
        &[("TranscribeStartArn", Binding::Invoke(&start))],
    );
    sm.grant_task_response(&collect);
    sm.grant_start(&transcode);
    let api = HttpApi::with_props(
        &stack,
        "api",
        HttpApiProps {
            cors: Some(Cors {
                allow_origins: vec!["https://mentorpal.org".into()],
                allow_methods: vec!["GET".into(), "POST".into()],
                allow_headers: vec!["authorization".into()],
                max_age: Some(Duration::from_secs(600)),
                ..Cors::default()
            }),
        },
    );
    api.add_route("POST /upload/answer", &transcode, RouteAuth::Iam);
    let key = Key::new(&stack, "data", KeyProps::default());
    key.alias("data");
    key.grant_encrypt_decrypt(&collect);
    // A work queue under the customer key, notified by a bucket with CORS for browser uploads.
    let jobs = Queue::new(
        &stack,
        "jobs",
        QueueProps {
            encryption: QueueEncryption::Key(key.clone()),
            ..Default::default()
        },
    );
    let uploads = Bucket::new(
        &stack,
        "signed-upload",
        BucketProps {
            cors: vec![BucketCorsRule {
                allowed_origins: vec!["*".into()],
                allowed_methods: vec!["POST".into(), "PUT".into()],
                allowed_headers: vec!["*".into()],
                ..BucketCorsRule::default()
            }],
            ..BucketProps::default()
        },
    );
    uploads.notify_queue(
        &jobs,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::default(),
    );
    start.add_sqs_source(&jobs, 1);
    let topic = Topic::with_props(
        &stack,
        "events",
        TopicProps {
            key: Some(key),
            ..TopicProps::default()
        },
    );
    topic.grant_publish(&collect);
    let authorizer = api.add_lambda_authorizer_with_props(
        "token",
        &collect,
        LambdaAuthorizerProps {
            result_ttl: Duration::from_secs(60),
            ..LambdaAuthorizerProps::default()
        },
    );
    api.add_route("GET /status", &start, RouteAuth::Lambda(&authorizer));
    let synthesized = match synth_stack(stack) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_acyclic(&synthesized.template);
    if let Ok(path) = std::env::var("CONSTRUCTS_TEMPLATE_OUT") {
        std::fs::write(path, &synthesized.body).unwrap();
    }
}
