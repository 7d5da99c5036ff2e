//! `upload-processor`: mentorpal's answer uploads. A presigned POST puts the recording in the
//! uploads bucket; `POST /upload/answer` starts the `process` state machine, which trims,
//! transcodes (ffmpeg, from a layer) and transcribes (Amazon Transcribe, completed through the
//! output bucket's notification) — `docs/upload-processor.md`.

use serde::Deserialize;
use state_machines::machines::upload_processor as machine;

use super::{check, env};
use crate::constructs::iam::Statement;
use crate::constructs::*;
use crate::stage::{FunctionOverrides, ScheduleExpr, Stage};

pub const SERVICE: &str = "upload-processor";

/// Where `cargo xtask build` writes the ffmpeg layer (xtask/src/layers): deploy uploads it
/// content-addressed like the function zips.
pub const FFMPEG_LAYER_ASSET: &str = "target/lambda/layers/ffmpeg.zip";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub functions: Functions,
    /// The mentor GraphQL endpoint. Required on AWS stages; the local stage's default is the
    /// GraphQL fake that `local up` serves.
    pub graphql_endpoint: Option<String>,
    /// Secrets Manager secret holding the HS256 key of the users' JWTs; default
    /// `<stage>/upload-processor/jwt-secret`.
    pub jwt_secret: Option<String>,
    /// Refuse tokens without `exp` (the original accepted them).
    pub jwt_exp_required: bool,
    /// Secrets Manager secret holding the service API key the asynchronous steps call GraphQL
    /// with; default `<stage>/upload-processor/graphql-api-key`.
    pub graphql_api_key_secret: Option<String>,
    /// Largest upload the presigned POST admits, in MiB. Range 1–5120 (S3's single POST limit).
    pub upload_max_mib: u32,
    /// Origins allowed to POST uploads from a browser (the uploads bucket's CORS and the API's).
    /// Default: none (no browser access).
    pub cors_origins: Vec<String>,
    /// A header the GraphQL gateway requires on every call (spec §2.1, the original's
    /// `SECRET_HEADER_NAME`/`SECRET_HEADER_VALUE`). Default: none.
    pub graphql_secret_header: Option<GraphqlSecretHeader>,
    /// Where the media bucket is served to browsers, ending in `/` (the original's
    /// `STATIC_URL_BASE`, a CloudFront domain). Required on AWS stages (https); the local stage's
    /// default is the emulator's path-style URL of the media bucket.
    pub static_url_base: Option<String>,
    /// Limits of the image routes (thumbnail, virtual background, header, footer).
    pub images: ImageLimits,
    /// Mentor transfers: where media may be fetched from, and how much.
    pub transfer: TransferSettings,
}

/// `images:` the largest image the image routes store.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageLimits {
    /// Widest image in pixels. Default 4096, range 16–16384.
    pub max_width: u32,
    /// Tallest image in pixels. Default 4096, range 16–16384.
    pub max_height: u32,
    /// Largest file in MiB. Default 4, range 1–4: the form arrives base64-encoded in the
    /// invocation, whose payload Lambda caps at 6 MB.
    pub max_mib: u32,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_width: 4096,
            max_height: 4096,
            max_mib: 4,
        }
    }
}

/// `transfer:` the media copy of a mentor transfer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferSettings {
    /// Hosts media may be fetched from (`host` or `host:port`), over https only. Default: none
    /// (every media file of a transfer is then recorded as refused). The local stage's default
    /// is its GraphQL fake's media host.
    pub allowed_media_hosts: Vec<String>,
    /// Also fetch over plain http: only the local stage may set it (its fakes speak http).
    pub allow_http: bool,
    /// Largest media file in MiB. Default 2048, range 1–10240 (the worker's `/tmp`).
    pub media_max_mib: u32,
    /// Longest fetch of one media file, in seconds. Default 300, range 5–840 (under the
    /// worker's 900 s timeout).
    pub media_timeout_seconds: u32,
    /// Media files fetched at once. Default 4, range 1–16.
    pub concurrency: u32,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            allowed_media_hosts: Vec::new(),
            allow_http: false,
            media_max_mib: 2048,
            media_timeout_seconds: 300,
            concurrency: 4,
        }
    }
}

/// `graphql_secret_header:` its name here, its value only in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlSecretHeader {
    /// The header's name, e.g. `x-mentorpal-secret`.
    pub name: String,
    /// The secret holding its value; default `<stage>/upload-processor/graphql-secret-header`.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    pub authorizer: Option<FunctionOverrides>,
    pub api: Option<FunctionOverrides>,
    pub steps: Option<FunctionOverrides>,
    pub transcribe: Option<FunctionOverrides>,
    pub transfer: Option<FunctionOverrides>,
    pub transfer_api: Option<FunctionOverrides>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            functions: Functions::default(),
            graphql_endpoint: None,
            jwt_secret: None,
            jwt_exp_required: true,
            graphql_api_key_secret: None,
            upload_max_mib: 100,
            cors_origins: Vec::new(),
            graphql_secret_header: None,
            static_url_base: None,
            images: ImageLimits::default(),
            transfer: TransferSettings::default(),
        }
    }
}

/// The GraphQL fake's address on the local stage (`cargo xtask local up`).
pub const LOCAL_GRAPHQL_ENDPOINT: &str = "http://127.0.0.1:5106/graphql";
/// The GraphQL fake also serves transfer media (`/_fake/media/…`) on the local stage.
pub const LOCAL_MEDIA_HOST: &str = "127.0.0.1:5106";

impl Settings {
    pub(crate) fn validate(&self, local: bool) -> Result<(), (String, String)> {
        check(
            local || self.graphql_endpoint.is_some(),
            "graphql_endpoint",
            || "an AWS stage needs the mentor GraphQL URL (https://…/graphql)".into(),
        )?;
        check(
            self.graphql_endpoint
                .as_deref()
                .is_none_or(|u| u.starts_with("https://") || (local && u.starts_with("http://"))),
            "graphql_endpoint",
            || "the GraphQL URL must be https:// (http:// only on the local stage)".into(),
        )?;
        check(
            (1..=5120).contains(&self.upload_max_mib),
            "upload_max_mib",
            || format!("upload_max_mib must be 1-5120, got {}", self.upload_max_mib),
        )?;
        check(
            local || self.static_url_base.is_some(),
            "static_url_base",
            || "an AWS stage needs the URL its media bucket is served at (https://…/)".into(),
        )?;
        check(
            self.static_url_base.as_deref().is_none_or(|u| {
                u.ends_with('/') && (u.starts_with("https://") || (local && u.starts_with("http://")))
            }),
            "static_url_base",
            || "the static URL must be https:// (http:// only on the local stage) and end in /".into(),
        )?;
        let i = &self.images;
        for (key, value, range) in [
            ("images.max_width", i.max_width, 16..=16384),
            ("images.max_height", i.max_height, 16..=16384),
            ("images.max_mib", i.max_mib, 1..=4),
            ("transfer.media_max_mib", self.transfer.media_max_mib, 1..=10240),
            (
                "transfer.media_timeout_seconds",
                self.transfer.media_timeout_seconds,
                5..=840,
            ),
            ("transfer.concurrency", self.transfer.concurrency, 1..=16),
        ] {
            check(range.contains(&value), key, || {
                format!(
                    "{key} must be {}-{}, got {value}",
                    range.start(),
                    range.end()
                )
            })?;
        }
        check(
            local || !self.transfer.allow_http,
            "transfer.allow_http",
            || "only the local stage may fetch transfer media over http".into(),
        )?;
        if let Some(bad) = self.transfer.allowed_media_hosts.iter().find(|h| {
            h.is_empty()
                || h.contains("://")
                || h.contains('/')
                || h.chars().any(char::is_whitespace)
        }) {
            return Err((
                "transfer.allowed_media_hosts".into(),
                format!("{bad:?} is not a host or host:port (no scheme, no path)"),
            ));
        }
        let Some(h) = &self.graphql_secret_header else {
            return Ok(());
        };
        check(
            !h.name.is_empty()
                && h.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "graphql_secret_header.name",
            || {
                format!(
                    "{:?} is not a header name (letters, digits, '-', '_')",
                    h.name
                )
            },
        )?;
        check(
            !["authorization", "content-type", "mentor-graphql-req"]
                .contains(&h.name.to_ascii_lowercase().as_str()),
            "graphql_secret_header.name",
            || format!("{} is a header the client sets itself", h.name),
        )
    }

    /// The secret header's name and the name of the secret holding its value.
    pub fn graphql_secret_header(&self, stage: &Stage) -> Option<(String, String)> {
        self.graphql_secret_header.as_ref().map(|h| {
            let secret = h.secret.clone().unwrap_or_else(|| {
                format!("{}/upload-processor/graphql-secret-header", stage.name)
            });
            (h.name.clone(), secret)
        })
    }

    /// The transfer's allowed media hosts; the local stage adds its GraphQL fake's media host.
    pub fn allowed_media_hosts(&self, stage: &Stage) -> Vec<String> {
        let mut hosts = self.transfer.allowed_media_hosts.clone();
        if stage.name.is_local() && hosts.is_empty() {
            hosts.push(LOCAL_MEDIA_HOST.into());
        }
        hosts
    }

    pub fn graphql_endpoint(&self) -> String {
        self.graphql_endpoint
            .clone()
            .unwrap_or_else(|| LOCAL_GRAPHQL_ENDPOINT.into())
    }

    pub fn jwt_secret(&self, stage: &Stage) -> String {
        self.jwt_secret
            .clone()
            .unwrap_or_else(|| format!("{}/upload-processor/jwt-secret", stage.name))
    }

    pub fn graphql_api_key_secret(&self, stage: &Stage) -> String {
        self.graphql_api_key_secret
            .clone()
            .unwrap_or_else(|| format!("{}/upload-processor/graphql-api-key", stage.name))
    }
}

pub fn stack(stage: &Stage) -> Stack {
    let s = &stage.services.upload_processor;
    let stack = Stack::new(
        SERVICE,
        stage,
        "Mentor answer uploads: presigned POST, then trim, transcode and transcribe",
    );
    let uploads = Bucket::new(
        &stack,
        "uploads",
        BucketProps {
            expire_after: Some(duration::days(30)),
            ..Default::default()
        },
    );
    let media = Bucket::new(&stack, "media", BucketProps::default());
    let transcripts = Bucket::new(
        &stack,
        "transcripts",
        BucketProps {
            expire_after: Some(duration::days(7)),
            // its notification invokes a function that reads it: name-based references avoid
            // the bucket → permission → function → role → bucket cycle
            referenced_by_name: true,
            ..Default::default()
        },
    );
    for (bucket, versions) in [
        (
            &uploads,
            "raw uploads are kept 30 days until the state machine copies them; a lost one is \
             recorded again",
        ),
        (
            &media,
            "renditions and subtitles are rebuilt from the original by the state machine; an \
             original is replaced only by the mentor's next upload of the same answer, which is \
             meant to replace it",
        ),
        (
            &transcripts,
            "Transcribe's output, kept 7 days until it is copied; a job can be run again",
        ),
    ] {
        stack.suppress(
            "CKV_AWS_18",
            &bucket.id,
            "written and read only by this service's roles; access logs would need a log bucket \
             per stage",
        );
        stack.suppress("CKV_AWS_21", &bucket.id, versions);
    }
    let failed = Queue::dead_letter(
        &stack,
        "FailedUploads",
        "failed-uploads",
        DlqWriter::Account,
    );
    stack.suppress(
        "PL010",
        &failed.id,
        "the last stop of a failed upload, written by the state machine's error handler: nothing \
         consumes it, its alarm tells an operator, who re-drives the execution (no queue follows)",
    );
    let ffmpeg = LayerVersion::new(
        &stack,
        "ffmpeg",
        LayerProps {
            asset: FFMPEG_LAYER_ASSET.into(),
            description: "Static arm64 ffmpeg 7.0.2 (imageio-ffmpeg wheel) at /opt/bin/ffmpeg"
                .into(),
            license_info: Some("GPL-3.0-or-later".into()),
            ..Default::default()
        },
    );
    let jwt_secret = Secret::from_name(&s.jwt_secret(stage));
    let api_key = Secret::from_name(&s.graphql_api_key_secret(stage));
    let graphql = s.graphql_endpoint();
    // every function that calls GraphQL sends the stage's secret header, when it has one
    let secret_header = s
        .graphql_secret_header(stage)
        .map(|(name, secret)| (name, Secret::from_name(&secret)));
    let graphql_env = |mut vars: Vec<(&'static str, crate::cfn::Val<String>)>| {
        if let Some((name, secret)) = &secret_header {
            vars.push(("GRAPHQL_SECRET_HEADER_NAME", name.clone().into()));
            vars.push(("GRAPHQL_SECRET_HEADER_SECRET", secret.name.clone().into()));
        }
        env(vars)
    };
    let grant_header = |f: &Function| {
        if let Some((_, secret)) = &secret_header {
            secret.grant_read(f);
        }
    };

    let authorizer = Function::new(
        &stack,
        "authorizer",
        FunctionProps {
            description: "Verifies the bearer JWT of upload requests".into(),
            config: stage.function_config(256, 5, &s.functions.authorizer),
            environment: env(vec![
                ("JWT_SECRET_NAME", jwt_secret.name.clone().into()),
                ("JWT_EXP_REQUIRED", s.jwt_exp_required.to_string().into()),
            ]),
            ..Default::default()
        },
    );
    jwt_secret.grant_read(&authorizer);

    let steps = Function::new(
        &stack,
        "steps",
        FunctionProps {
            description: "Moves, probes, trims and transcodes uploads; marks failed uploads".into(),
            config: stage.function_config(3008, 900, &s.functions.steps),
            environment: graphql_env(vec![
                ("GRAPHQL_ENDPOINT", graphql.clone().into()),
                ("GRAPHQL_API_KEY_SECRET", api_key.name.clone().into()),
                ("UPLOAD_BUCKET", uploads.name()),
                ("STATIC_BUCKET", media.name()),
                ("FFMPEG_PATH", "/opt/bin/ffmpeg".into()),
            ]),
            layers: vec![ffmpeg.clone()],
            // a 100 MiB upload, its trim and two renditions side by side
            ephemeral_storage_mb: Some(4096),
        },
    );
    uploads.grant_read(&steps);
    media.grant_read_write(&steps);
    api_key.grant_read(&steps);
    grant_header(&steps);

    let transcribe = Function::new(
        &stack,
        "transcribe",
        FunctionProps {
            description:
                "Starts Transcribe jobs, collects their subtitles, heartbeats running jobs".into(),
            config: stage.function_config(512, 60, &s.functions.transcribe),
            environment: graphql_env(vec![
                ("GRAPHQL_ENDPOINT", graphql.clone().into()),
                ("GRAPHQL_API_KEY_SECRET", api_key.name.clone().into()),
                ("STATIC_BUCKET", media.name()),
                ("TRANSCRIBE_OUTPUT_BUCKET", transcripts.name()),
            ]),
            ..Default::default()
        },
    );
    // Transcribe reads the media and writes its output with the caller's permissions.
    media.grant_read_write(&transcribe);
    transcripts.grant_read_write(&transcribe);
    api_key.grant_read(&transcribe);
    grant_header(&transcribe);
    stack.grant(
        &transcribe.role_id(),
        Statement::new(
            &["transcribe:StartTranscriptionJob", "transcribe:GetTranscriptionJob"],
            vec![crate::cfn::sub(
                "arn:${AWS::Partition}:transcribe:${AWS::Region}:${AWS::AccountId}:transcription-job/*",
            )
            .into()],
        ),
    );
    stack.grant(
        &transcribe.role_id(),
        Statement::any_resource(
            &["transcribe:ListTranscriptionJobs"],
            "ListTranscriptionJobs has no resource type; it returns job names and statuses only",
        ),
    );
    // One suffix: the original subscribed `.json` and `.vtt`, so every job completed its token
    // up to three times (spec §10).
    transcripts.notify_function(
        &transcribe,
        &[S3Event::ObjectCreatedAll],
        NotificationFilter::suffix("transcribe.vtt"),
    );
    Schedule::new(
        &stack,
        "transcribe-watch",
        &ScheduleExpr("rate(1 minute)".into()),
        ScheduleTarget::Function(&transcribe),
        serde_json::json!({ "watch": true }),
    );

    let definition = machine::process().expect("the upload state machine is valid");
    let process = StateMachine::new(
        &stack,
        &definition,
        &[
            (machine::STEPS, Binding::Invoke(&steps)),
            (machine::TRANSCRIBE, Binding::Invoke(&transcribe)),
            (machine::DLQ, Binding::SendMessage(&failed)),
        ],
    );
    process.grant_task_response(&transcribe);

    // Transfer jobs: the export and its status document, kept 30 days (the original's DynamoDB
    // item lived 180 with the user's auth headers in it).
    let transfers = Bucket::new(
        &stack,
        "transfers",
        BucketProps {
            expire_after: Some(duration::days(30)),
            ..Default::default()
        },
    );
    stack.suppress(
        "CKV_AWS_18",
        &transfers.id,
        "written and read only by this service's roles; access logs would need a log bucket per \
         stage",
    );
    stack.suppress(
        "CKV_AWS_21",
        &transfers.id,
        "job records are rewritten by their one worker and expire after 30 days; a lost record \
         is a transfer run again",
    );
    let mut transfer_config = stage.function_config(1024, 900, &s.functions.transfer);
    // media copies run in parallel inside one job; jobs themselves are few
    transfer_config.reserved_concurrency.get_or_insert(2);
    let transfer_jobs = Queue::new(
        &stack,
        "transfer-jobs",
        QueueProps {
            // AWS asks for six times the consumer's timeout (capped at 12 hours)
            visibility_timeout: duration::seconds(u64::from(transfer_config.timeout) * 6)
                .min(duration::hours(12)),
            // a job that failed twice is for an operator: a third run would import again
            dead_letter: DeadLetter::Own {
                max_receive_count: 2,
            },
            ..Default::default()
        },
    );
    let transfer = Function::new(
        &stack,
        "transfer",
        FunctionProps {
            description: "Imports a transferred mentor through GraphQL and copies its media".into(),
            config: transfer_config,
            environment: graphql_env(vec![
                ("GRAPHQL_ENDPOINT", graphql.clone().into()),
                ("GRAPHQL_API_KEY_SECRET", api_key.name.clone().into()),
                ("TRANSFER_BUCKET", transfers.name()),
                ("STATIC_BUCKET", media.name()),
                (
                    "TRANSFER_ALLOWED_HOSTS",
                    s.allowed_media_hosts(stage).join(",").into(),
                ),
                ("TRANSFER_ALLOW_HTTP", s.transfer.allow_http.to_string().into()),
                (
                    "TRANSFER_MEDIA_MAX_BYTES",
                    (u64::from(s.transfer.media_max_mib) * 1024 * 1024)
                        .to_string()
                        .into(),
                ),
                (
                    "TRANSFER_MEDIA_TIMEOUT_SECONDS",
                    s.transfer.media_timeout_seconds.to_string().into(),
                ),
                ("TRANSFER_CONCURRENCY", s.transfer.concurrency.to_string().into()),
            ]),
            // `concurrency` files of up to `media_max_mib` each may sit in /tmp at once
            ephemeral_storage_mb: Some(10240),
            ..Default::default()
        },
    );
    transfer.add_sqs_source(&transfer_jobs, 1);
    transfers.grant_read_write(&transfer);
    media.grant_read_write(&transfer);
    api_key.grant_read(&transfer);
    grant_header(&transfer);

    let static_url_base: crate::cfn::Val<String> = match &s.static_url_base {
        Some(url) => url.clone().into(),
        None => crate::cfn::sub(format!(
            "http://127.0.0.1:{}/${{{}}}/",
            stage.local.clone().unwrap_or_default().emulator_port,
            media.id
        ))
        .into(),
    };
    let api = Function::new(
        &stack,
        "api",
        FunctionProps {
            description: "Presigned uploads, answer processing, images and subtitles".into(),
            // regen_vtt downloads and probes a rendition within API Gateway's 29 s
            config: stage.function_config(1024, 28, &s.functions.api),
            environment: graphql_env(vec![
                ("GRAPHQL_ENDPOINT", graphql.clone().into()),
                ("UPLOAD_BUCKET", uploads.name()),
                ("STATIC_BUCKET", media.name()),
                ("STATIC_URL_BASE", static_url_base),
                ("STATE_MACHINE_ARN", process.arn()),
                (
                    "UPLOAD_MAX_BYTES",
                    (u64::from(s.upload_max_mib) * 1024 * 1024)
                        .to_string()
                        .into(),
                ),
                ("IMAGE_MAX_WIDTH", s.images.max_width.to_string().into()),
                ("IMAGE_MAX_HEIGHT", s.images.max_height.to_string().into()),
                (
                    "IMAGE_MAX_BYTES",
                    (u64::from(s.images.max_mib) * 1024 * 1024).to_string().into(),
                ),
                ("FFMPEG_PATH", "/opt/bin/ffmpeg".into()),
            ]),
            // regen_vtt probes a rendition with ffprobe's sibling, ffmpeg
            layers: vec![ffmpeg.clone()],
            ephemeral_storage_mb: Some(2048),
        },
    );
    // the presigned POST is signed with the function's credentials: it needs PutObject itself
    uploads.grant_read_write(&api);
    media.grant_read_write(&api);
    grant_header(&api);
    process.grant_start(&api);

    // The transfer routes are a function of their own, as the original's http_transfer_start and
    // _status were: the export's schema validator and the SQS client stay out of the api's zip.
    let transfer_api = Function::new(
        &stack,
        "transfer-api",
        FunctionProps {
            description: "Queues mentor transfers and reports their status".into(),
            // the original's transfer-start had 512 MB for a 5 MB export parsed and validated
            config: stage.function_config(512, 28, &s.functions.transfer_api),
            environment: graphql_env(vec![
                ("GRAPHQL_ENDPOINT", graphql.into()),
                ("TRANSFER_BUCKET", transfers.name()),
                ("TRANSFER_QUEUE_URL", transfer_jobs.url()),
            ]),
            ..Default::default()
        },
    );
    transfers.grant_read_write(&transfer_api);
    transfer_jobs.grant_send(&transfer_api);
    grant_header(&transfer_api);

    let http = HttpApi::with_props(
        &stack,
        "api",
        HttpApiProps {
            cors: (!s.cors_origins.is_empty()).then(|| Cors {
                allow_origins: s.cors_origins.clone(),
                allow_methods: vec!["GET".into(), "POST".into()],
                allow_headers: vec!["authorization".into(), "content-type".into()],
                ..Default::default()
            }),
        },
    );
    let bearer = http.add_lambda_authorizer("bearer", &authorizer);
    for route in [
        "GET /upload/url",
        "POST /upload/answer",
        "POST /thumbnail",
        "POST /vbg",
        "POST /header",
        "POST /footer",
        "POST /vtt",
        "POST /regen_vtt",
    ] {
        http.add_route(route, &api, RouteAuth::Lambda(&bearer));
    }
    for route in ["POST /transfer/mentor", "GET /transfer/status/{id}"] {
        http.add_route(route, &transfer_api, RouteAuth::Lambda(&bearer));
    }
    stack
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::stage;

    fn template(name: &str, yaml: &str) -> Value {
        let stage = stage::parse(name, &format!("{name}.yaml"), yaml).unwrap();
        match crate::synth::synth_stack(super::stack(&stage)) {
            Ok(s) => s.template.to_json(),
            Err(e) => panic!("{e}"),
        }
    }

    fn local() -> Value {
        template("local", "")
    }

    fn statements(t: &Value, role: &str) -> Vec<Value> {
        t["Resources"][role]["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    fn actions(t: &Value, role: &str) -> Vec<String> {
        let mut all: Vec<String> = statements(t, role)
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                Value::String(a) => vec![a.clone()],
                _ => vec![],
            })
            .collect();
        all.sort();
        all.dedup();
        all
    }

    #[test]
    fn an_aws_stage_needs_the_graphql_url_and_https() {
        let settings = super::Settings::default();
        assert_eq!(settings.validate(false).unwrap_err().0, "graphql_endpoint");
        assert!(settings.validate(true).is_ok());
        let http = super::Settings {
            graphql_endpoint: Some("http://x/graphql".into()),
            ..Default::default()
        };
        assert!(http.validate(false).unwrap_err().1.contains("https://"));
        assert!(http.validate(true).is_ok());
    }

    #[test]
    fn only_the_steps_and_api_functions_carry_ffmpeg_and_big_tmp() {
        let t = local();
        for (f, tmp) in [("StepsFunction", 4096), ("ApiFunction", 2048)] {
            let p = &t["Resources"][f]["Properties"];
            assert_eq!(p["Layers"], json!([{"Ref": "FfmpegLayer"}]), "{f}");
            assert_eq!(p["EphemeralStorage"]["Size"], tmp, "{f}");
            assert_eq!(
                p["Environment"]["Variables"]["FFMPEG_PATH"],
                "/opt/bin/ffmpeg"
            );
        }
        for f in [
            "AuthorizerFunction",
            "TranscribeFunction",
            "TransferFunction",
            "TransferApiFunction",
        ] {
            assert!(
                t["Resources"][f]["Properties"].get("Layers").is_none(),
                "{f}"
            );
        }
    }

    #[test]
    fn the_authorizer_reads_only_the_jwt_secret_and_the_api_never_sees_it() {
        let t = local();
        assert_eq!(
            actions(&t, "AuthorizerFunctionRole"),
            [
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue"
            ]
        );
        let reads = statements(&t, "AuthorizerFunctionRole")
            .iter()
            .map(|s| s.to_string())
            .collect::<String>();
        assert!(
            reads.contains("local/upload-processor/jwt-secret"),
            "{reads}"
        );
        let api_env = &t["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
        assert!(api_env.get("JWT_SECRET_NAME").is_none());
        assert!(!actions(&t, "ApiFunctionRole")
            .iter()
            .any(|a| a.starts_with("secretsmanager:")));
    }

    #[test]
    fn aws_stages_need_a_static_url_and_fetch_transfer_media_over_https_only() {
        let aws = super::Settings {
            graphql_endpoint: Some("https://x/graphql".into()),
            ..Default::default()
        };
        assert_eq!(aws.validate(false).unwrap_err().0, "static_url_base");
        let no_slash = super::Settings {
            static_url_base: Some("https://static.example.org".into()),
            ..aws.clone()
        };
        assert!(no_slash.validate(false).unwrap_err().1.contains("end in /"));
        let ok = super::Settings {
            static_url_base: Some("https://static.example.org/".into()),
            ..aws.clone()
        };
        assert!(ok.validate(false).is_ok());
        let mut http = ok.clone();
        http.transfer.allow_http = true;
        assert_eq!(http.validate(false).unwrap_err().0, "transfer.allow_http");
        assert!(http.validate(true).is_ok());
        let mut url = ok.clone();
        url.transfer.allowed_media_hosts = vec!["https://media.example.org".into()];
        let (key, message) = url.validate(false).unwrap_err();
        assert_eq!(key, "transfer.allowed_media_hosts");
        assert!(message.contains("no scheme"), "{message}");
        let mut zero = ok;
        zero.transfer.concurrency = 0;
        assert_eq!(zero.validate(false).unwrap_err().0, "transfer.concurrency");
    }

    #[test]
    fn the_transfer_worker_drains_its_queue_into_a_dead_letter_queue() {
        let t = local();
        let r = &t["Resources"];
        let mapping = r
            .as_object()
            .unwrap()
            .values()
            .find(|v| v["Type"] == "AWS::Lambda::EventSourceMapping")
            .expect("an event source mapping");
        assert_eq!(mapping["Properties"]["FunctionName"], json!({"Ref": "TransferFunction"}));
        assert_eq!(mapping["Properties"]["BatchSize"], 1);
        let queue = &r["TransferJobsQueue"]["Properties"];
        assert_eq!(queue["VisibilityTimeout"], 5400);
        assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], 2);
        let env = &r["TransferFunction"]["Properties"]["Environment"]["Variables"];
        // the local stage's media host is its GraphQL fake, over http
        assert_eq!(env["TRANSFER_ALLOWED_HOSTS"], super::LOCAL_MEDIA_HOST);
        let api = actions(&t, "TransferApiFunctionRole");
        assert!(api.contains(&"sqs:SendMessage".to_string()), "{api:?}");
        assert!(!api.iter().any(|a| a == "sqs:ReceiveMessage"), "{api:?}");
        // the upload routes' function neither queues nor reads transfer jobs
        let uploads = actions(&t, "ApiFunctionRole");
        assert!(!uploads.iter().any(|a| a.starts_with("sqs:")), "{uploads:?}");
        let statements = statements(&t, "ApiFunctionRole")
            .iter()
            .map(|s| s.to_string())
            .collect::<String>();
        assert!(!statements.contains("TransfersBucket"), "{statements}");
        let worker = actions(&t, "TransferFunctionRole");
        assert!(!worker.iter().any(|a| a.starts_with("states:")), "{worker:?}");
    }

    #[test]
    fn routes_go_through_the_bearer_authorizer_with_a_300_second_cache() {
        let t = local();
        let resources = t["Resources"].as_object().unwrap();
        let routes: Vec<&Value> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
            .collect();
        let mut keys: Vec<&str> = routes
            .iter()
            .map(|r| r["Properties"]["RouteKey"].as_str().unwrap())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "GET /transfer/status/{id}",
                "GET /upload/url",
                "POST /footer",
                "POST /header",
                "POST /regen_vtt",
                "POST /thumbnail",
                "POST /transfer/mentor",
                "POST /upload/answer",
                "POST /vbg",
                "POST /vtt"
            ]
        );
        for r in &routes {
            assert_eq!(r["Properties"]["AuthorizationType"], "CUSTOM");
        }
        // the transfer routes reach their own function, the others the upload api
        for r in routes {
            let key = r["Properties"]["RouteKey"].as_str().unwrap();
            let target = r["Properties"]["Target"].to_string();
            let integration = resources
                .iter()
                .find(|(id, _)| target.contains(&format!("{{{id}}}")))
                .map(|(_, v)| v["Properties"]["IntegrationUri"].to_string())
                .unwrap_or_else(|| panic!("{key}: no integration in {target}"));
            let function = if key.contains("/transfer/") {
                "TransferApiFunction"
            } else {
                "ApiFunction"
            };
            let refers = |f: &str| {
                integration.contains(&format!("\"{f}"))
                    || integration.contains(&format!("{{{f}."))
            };
            assert!(refers(function), "{key}: {integration}");
        }
        let authorizer = resources
            .values()
            .find(|r| r["Type"] == "AWS::ApiGatewayV2::Authorizer")
            .unwrap();
        assert_eq!(
            authorizer["Properties"]["AuthorizerResultTtlInSeconds"],
            300
        );
        assert_eq!(
            authorizer["Properties"]["IdentitySource"],
            json!(["$request.header.Authorization"])
        );
    }

    #[test]
    fn transcripts_notify_the_transcribe_function_once_per_job() {
        let t = local();
        let config =
            &t["Resources"]["TranscriptsBucket"]["Properties"]["NotificationConfiguration"];
        let lambdas = config["LambdaConfigurations"].as_array().unwrap();
        assert_eq!(lambdas.len(), 1);
        assert_eq!(
            lambdas[0]["Filter"]["S3Key"]["Rules"],
            json!([{"Name": "suffix", "Value": "transcribe.vtt"}])
        );
        // the token is returned by the function the machine invokes, without a cycle
        let granted = actions(&t, "TranscribeFunctionRole");
        for a in [
            "states:SendTaskFailure",
            "states:SendTaskHeartbeat",
            "states:SendTaskSuccess",
            "transcribe:StartTranscriptionJob",
        ] {
            assert!(granted.contains(&a.to_string()), "{a}: {granted:?}");
        }
    }

    #[test]
    fn failures_end_in_an_alarmed_queue_the_machine_may_send_to() {
        let t = local();
        let resources = t["Resources"].as_object().unwrap();
        assert!(resources.contains_key("FailedUploadsDlq"));
        assert!(resources.contains_key("FailedUploadsDlqAlarm"));
        let machine_role = statements(&t, "ProcessStateMachineRole")
            .iter()
            .map(|s| s.to_string())
            .collect::<String>();
        assert!(machine_role.contains("sqs:SendMessage"), "{machine_role}");
        assert!(machine_role.contains("FailedUploadsDlq"), "{machine_role}");
    }
}
