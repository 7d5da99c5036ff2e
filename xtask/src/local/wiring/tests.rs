use super::*;

/// The local stage's synthesized stacks, as if deployed: physical id = `phys-<logical>`, except
/// functions, whose physical id is the name the template gives them.
fn synthesized() -> Vec<DeployedStack> {
    let stage = crate::synth::load_stage("local").unwrap();
    infra::synth_stage(&stage, None)
        .unwrap()
        .into_iter()
        .map(|s| {
            let template: Value = serde_json::from_str(&s.body).unwrap();
            let physical = template["Resources"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(id, r)| {
                    let name = r["Properties"]["FunctionName"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("phys-{id}"));
                    (id.clone(), name)
                })
                .collect();
            DeployedStack {
                stack: s.name,
                service: s.service,
                template,
                physical,
            }
        })
        .collect()
}

#[test]
fn reads_routes_with_their_authorization_and_function() {
    let w = from_stacks(&synthesized());
    let mips = w.apis.iter().find(|a| a.service == "mips-cache").unwrap();
    assert_eq!(mips.name, "mips-cache-api-local");
    let route = |key: &str| mips.routes.iter().find(|r| r.key == key).unwrap();
    assert_eq!(route("GET /accounts").auth, RouteAuth::None);
    assert_eq!(route("GET /balances").auth, RouteAuth::Iam);
    assert_eq!(route("GET /accounts").function, "mips-cache-api-local");
    assert_eq!(route("GET /accounts").payload_version, "2.0");
    let hooks = w
        .apis
        .iter()
        .find(|a| a.service == "webhook-runner")
        .unwrap();
    assert!(hooks.routes.iter().any(|r| r.key == "POST /jobs"));
}

#[test]
fn reads_the_queue_source_of_the_worker() {
    let w = from_stacks(&synthesized());
    let q = w
        .queues
        .iter()
        .find(|q| q.service == "webhook-runner")
        .unwrap();
    assert_eq!(q.queue_url, "phys-JobsQueue");
    assert!(q.function.starts_with("webhook-runner-worker"), "{q:?}");
    assert_eq!(q.batch_size, 1);
    assert!(q.report_batch_item_failures);
    assert!(q.enabled);
}

#[test]
fn reads_schedules_with_their_targets_and_input() {
    let w = from_stacks(&synthesized());
    let refresh = w
        .schedules
        .iter()
        .find(|s| s.service == "canvas-data")
        .unwrap();
    assert!(refresh.expression.starts_with("rate("), "{refresh:?}");
    assert_eq!(
        refresh.targets[0].kind,
        TargetKind::StateMachine("phys-RefreshStateMachine".into())
    );
    assert!(refresh.matches("canvas-data-refresh"));
    assert!(refresh.matches("RefreshSchedule"));
    assert!(!refresh.matches("mips-cache-refresh"));
    let mips = w
        .schedules
        .iter()
        .find(|s| s.service == "mips-cache")
        .unwrap();
    assert!(
        matches!(&mips.targets[0].kind, TargetKind::Function(f) if f.starts_with("mips-cache-refresh"))
    );
    assert_eq!(
        mips.targets[0].input.as_deref(),
        Some(r#"{"action":"refresh"}"#)
    );
}

#[test]
fn authorizer_functions_come_from_the_uri() {
    let v = serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AuthFunction.Arn}/invocations"});
    assert_eq!(sub_reference(&v), Some("AuthFunction"));
}

#[test]
fn the_local_stages_own_mappings_are_all_polled() {
    let w = from_stacks(&synthesized());
    assert!(w.skipped.is_empty(), "{:#?}", w.skipped);
}

#[test]
fn mappings_not_run_locally_are_reported_with_stack_id_and_why() {
    let mapping = |props: Value| serde_json::json!({"Type": "AWS::Lambda::EventSourceMapping", "Properties": props});
    let template = serde_json::json!({"Resources": {
        "Jobs": {"Type": "AWS::SQS::Queue"},
        "Worker": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "worker-local"}},
        "Stream": {"Type": "AWS::Kinesis::Stream"},
        "Polled": mapping(serde_json::json!({
            "EventSourceArn": {"Fn::GetAtt": ["Jobs", "Arn"]},
            "FunctionName": {"Ref": "Worker"}})),
        "Filtered": mapping(serde_json::json!({
            "EventSourceArn": {"Fn::GetAtt": ["Jobs", "Arn"]},
            "FunctionName": {"Ref": "Worker"},
            "FilterCriteria": {"Filters": [{"Pattern": "{\"body\":{\"kind\":[\"video\"]}}"}]}})),
        "Elsewhere": mapping(serde_json::json!({
            "EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:other-stack-queue",
            "FunctionName": {"Ref": "Worker"}})),
        "Imported": mapping(serde_json::json!({
            "EventSourceArn": {"Fn::ImportValue": "shared-queue-arn"},
            "FunctionName": {"Ref": "Worker"}})),
        "NoFunction": mapping(serde_json::json!({
            "EventSourceArn": {"Fn::GetAtt": ["Jobs", "Arn"]},
            "FunctionName": {"Ref": "Missing"}})),
        "FromStream": mapping(serde_json::json!({
            "EventSourceArn": {"Fn::GetAtt": ["Stream", "Arn"]},
            "FunctionName": {"Ref": "Worker"}}))
    }});
    let stack = DeployedStack {
        stack: "jobs-local".into(),
        service: "jobs".into(),
        template,
        physical: [
            ("Jobs", "http://127.0.0.1:5000/123456789012/jobs-local"),
            ("Worker", "worker-local"),
            ("Stream", "stream-local"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    };
    let w = from_stacks(&[stack]);
    assert_eq!(w.queues.len(), 1, "{:#?}", w.queues);
    assert_eq!(w.queues[0].function, "worker-local");
    let why = |id: &str| {
        let prefix = format!("jobs-local {id}: event source mapping not polled: ");
        w.skipped
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no line for {id}: {:#?}", w.skipped))
            .to_string()
    };
    assert!(why("Filtered").contains("filter criteria are not evaluated locally"));
    assert!(why("Elsewhere").contains("other-stack-queue"));
    assert!(why("Elsewhere").contains("not a resource of this stack"));
    assert!(why("Imported").contains("not a resource of this stack"));
    assert!(why("NoFunction").contains("FunctionName"));
    assert_eq!(
        w.skipped.len(),
        4,
        "a stream's mapping is not the pollers' to report: {:#?}",
        w.skipped
    );
}
