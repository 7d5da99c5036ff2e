//! `skill-sync`: every 6 hours (stage-overridable) Airtable assessments, Badgr badges and
//! assertions into the Skill App's MySQL database, and each assessment's GitHub release into S3
//! under `templates/` (`docs/skill-sync.md`).

use serde::Deserialize;
use serde_json::json;

use super::canvas_data::VpcSettings;
use super::{check, env};
use crate::cfn::{sub, Val};
use crate::constructs::grant;
use crate::constructs::*;
use crate::stage::{FunctionOverrides, ScheduleExpr, Stage};

pub const SERVICE: &str = "skill-sync";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub functions: Functions,
    pub schedule: ScheduleExpr,
    pub database: DatabaseSettings,
    /// Private subnets and security groups that reach the database; required on AWS stages.
    pub vpc: Option<VpcSettings>,
    /// An existing bucket the app's bot reads `templates/` from; absent: the stack makes one.
    pub templates_bucket: Option<String>,
    pub airtable_api_url: String,
    pub airtable_base_id: String,
    /// Secret holding the Airtable personal access token; default `<stage>/skill-sync/airtable-token`.
    pub airtable_token_secret: Option<String>,
    pub badgr_api_url: String,
    pub badgr_issuer_id: String,
    pub badgr_scope: String,
    pub badgr_client_id: String,
    /// Secret with the Badgr account's `{"username","password"}`; default
    /// `<stage>/skill-sync/badgr-credentials`.
    pub badgr_credentials_secret: Option<String>,
    pub github_api_url: String,
    pub github_org: String,
    /// Secret with a GitHub token (an empty value means anonymous); default
    /// `<stage>/skill-sync/github-token`.
    pub github_token_secret: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    pub sync: Option<FunctionOverrides>,
}

/// The app's existing database: where it is, and the secret with the login.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub name: String,
    /// `{"username","password"}` (optionally `sslmode`); default `<stage>/skill-sync/database`.
    pub secret: Option<String>,
    /// Path of a PEM file with the database's CA (the RDS bundle) in the function's filesystem;
    /// makes `verify-full` the default TLS mode.
    pub ca_bundle: Option<String>,
    /// A secret whose string is that PEM text (e.g. the region's RDS bundle); the same effect
    /// without shipping a file.
    pub ca_bundle_secret: Option<String>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            host: String::new(),
            port: 3306,
            name: "skillapp".into(),
            secret: None,
            ca_bundle: None,
            ca_bundle_secret: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            functions: Functions::default(),
            schedule: ScheduleExpr("rate(6 hours)".into()),
            database: DatabaseSettings::default(),
            vpc: None,
            templates_bucket: None,
            airtable_api_url: "https://api.airtable.com".into(),
            airtable_base_id: String::new(),
            airtable_token_secret: None,
            badgr_api_url: "https://api.badgr.io".into(),
            // the app's issuer (spec §5)
            badgr_issuer_id: "ZXuOnkDGSiC25nylSKfweA".into(),
            badgr_scope: "rw:issuer rw:backpack".into(),
            badgr_client_id: "public".into(),
            badgr_credentials_secret: None,
            github_api_url: "https://api.github.com".into(),
            github_org: "Bioinformatics-Research-Network".into(),
            github_token_secret: None,
        }
    }
}

impl Settings {
    pub(crate) fn validate(&self, local: bool) -> Result<(), (String, String)> {
        check(
            local || !self.database.host.is_empty(),
            "database.host",
            || "name the app's MySQL host (the RDS endpoint)".into(),
        )?;
        check(
            self.database
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !self.database.name.is_empty(),
            "database.name",
            || format!("`{}` must be a plain database name", self.database.name),
        )?;
        check(
            local || (self.airtable_base_id.starts_with("app") && self.airtable_base_id.len() > 3),
            "airtable_base_id",
            || "name the Airtable base (its id starts with `app`)".into(),
        )?;
        check(!self.badgr_issuer_id.is_empty(), "badgr_issuer_id", || {
            "name the Badgr issuer whose badges are synced".into()
        })?;
        for (key, url) in [
            ("airtable_api_url", &self.airtable_api_url),
            ("badgr_api_url", &self.badgr_api_url),
            ("github_api_url", &self.github_api_url),
        ] {
            check(
                url.starts_with("https://") || (local && url.starts_with("http://127.0.0.1")),
                key,
                || format!("`{url}` must be an https:// URL"),
            )?;
        }
        if let Some(b) = &self.templates_bucket {
            check(
                (3..=63).contains(&b.len())
                    && b.bytes().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.'
                    }),
                "templates_bucket",
                || format!("`{b}` is not an S3 bucket name"),
            )?;
        }
        check(local || self.vpc.is_some(), "vpc", || {
            "AWS stages need `vpc:` with subnets and security groups that reach the database".into()
        })
    }

    fn secret(&self, stage: &Stage, set: &Option<String>, name: &str) -> String {
        set.clone()
            .unwrap_or_else(|| format!("{}/{SERVICE}/{name}", stage.name))
    }

    pub fn database_secret(&self, stage: &Stage) -> String {
        self.secret(stage, &self.database.secret, "database")
    }

    pub fn airtable_token_secret(&self, stage: &Stage) -> String {
        self.secret(stage, &self.airtable_token_secret, "airtable-token")
    }

    pub fn badgr_credentials_secret(&self, stage: &Stage) -> String {
        self.secret(stage, &self.badgr_credentials_secret, "badgr-credentials")
    }

    pub fn github_token_secret(&self, stage: &Stage) -> String {
        self.secret(stage, &self.github_token_secret, "github-token")
    }
}

/// Where the function writes: release files under `templates/`, its markers under `skill-sync/`.
const PREFIXES: [&str; 2] = ["templates/", "skill-sync/"];

pub fn stack(stage: &Stage) -> Stack {
    let s = &stage.services.skill_sync;
    let stack = Stack::new(
        SERVICE,
        stage,
        "Skill App sync: Airtable, Badgr and GitHub releases into the app's MySQL database and S3",
    );
    let db_secret = Secret::from_name(&s.database_secret(stage));
    let airtable = Secret::from_name(&s.airtable_token_secret(stage));
    let badgr = Secret::from_name(&s.badgr_credentials_secret(stage));
    let github = Secret::from_name(&s.github_token_secret(stage));
    let (bucket_name, bucket_arn, objects): (Val<String>, Val<String>, Vec<Val<String>>) =
        match &s.templates_bucket {
            Some(name) => (
                name.clone().into(),
                sub(format!("arn:${{AWS::Partition}}:s3:::{name}")).into(),
                PREFIXES
                    .iter()
                    .map(|p| sub(format!("arn:${{AWS::Partition}}:s3:::{name}/{p}*")).into())
                    .collect(),
            ),
            None => {
                let b = Bucket::new(&stack, "templates", BucketProps::default());
                stack.suppress(
                    "CKV_AWS_21",
                    &b.id,
                    "holds copies of GitHub release bundles that every sync rewrites from the \
                     releases; versions would restore nothing the releases do not hold",
                );
                stack.suppress(
                    "CKV_AWS_18",
                    &b.id,
                    "written only by the sync function through its role and read by the skill \
                     app; access logs would need a log bucket per stage",
                );
                (
                    b.name(),
                    b.arn(),
                    PREFIXES.iter().map(|p| b.objects_arn(p)).collect(),
                )
            }
        };
    let ca_secret = s
        .database
        .ca_bundle_secret
        .as_deref()
        .map(Secret::from_name);
    let mut vars = vec![
        ("DB_HOST", s.database.host.clone().into()),
        ("DB_PORT", s.database.port.to_string().into()),
        ("DB_NAME", s.database.name.clone().into()),
        ("DATABASE_SECRET", db_secret.name.clone().into()),
        ("AIRTABLE_API_URL", s.airtable_api_url.clone().into()),
        ("AIRTABLE_BASE_ID", s.airtable_base_id.clone().into()),
        ("AIRTABLE_TOKEN_SECRET", airtable.name.clone().into()),
        ("BADGR_API_URL", s.badgr_api_url.clone().into()),
        ("BADGR_ISSUER_ID", s.badgr_issuer_id.clone().into()),
        ("BADGR_SCOPE", s.badgr_scope.clone().into()),
        ("BADGR_CLIENT_ID", s.badgr_client_id.clone().into()),
        ("BADGR_CREDENTIALS_SECRET", badgr.name.clone().into()),
        ("GITHUB_API_URL", s.github_api_url.clone().into()),
        ("GITHUB_ORG", s.github_org.clone().into()),
        ("GITHUB_TOKEN_SECRET", github.name.clone().into()),
        ("TEMPLATES_BUCKET", bucket_name),
    ];
    if let Some(path) = &s.database.ca_bundle {
        vars.push(("DATABASE_CA_BUNDLE", path.clone().into()));
    }
    if let Some(secret) = &ca_secret {
        vars.push(("DATABASE_CA_BUNDLE_SECRET", secret.name.clone().into()));
    }
    let function = Function::new(
        &stack,
        "sync",
        FunctionProps {
            description: "Syncs Airtable, Badgr and GitHub releases into the Skill App".into(),
            config: stage.function_config(512, 600, &s.functions.sync),
            environment: env(vars),
            ..Default::default()
        },
    );
    for secret in [&db_secret, &airtable, &badgr, &github]
        .into_iter()
        .chain(ca_secret.as_ref())
    {
        secret.grant_read(&function);
    }
    // the marker is read back; release files are written and, when a release drops them, deleted
    grant(&function, &["s3:ListBucket"], vec![bucket_arn]);
    grant(&function, &["s3:GetObject"], vec![objects[1].clone()]);
    grant(
        &function,
        &["s3:DeleteObject", "s3:PutObject"],
        objects.clone(),
    );
    if let Some(vpc) = &s.vpc {
        function.in_vpc(&Vpc {
            subnet_ids: vpc.subnet_ids.clone(),
            security_group_ids: vpc.security_group_ids.clone(),
        });
    }
    // a failed run is retried once; the next scheduled run comes hours later anyway, and the
    // run lock keeps a retry from overlapping a run still going
    function.invoked_async(AsyncOptions {
        max_retries: 1,
        max_event_age: crate::constructs::duration::hours(1),
    });
    Schedule::new(
        &stack,
        "sync",
        &s.schedule,
        ScheduleTarget::Function(&function),
        json!({}),
    );
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

    fn statements(t: &Value) -> Vec<Value> {
        let role = &t["Resources"]["SyncFunctionRole"]["Properties"];
        role["Policies"]
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

    #[test]
    fn an_existing_bucket_is_granted_by_prefix_and_no_bucket_is_made() {
        let t = template(
            "local",
            "services:\n  skill-sync:\n    templates_bucket: skill-assessment-app\n    airtable_base_id: appLocal\n    database:\n      host: 127.0.0.1\n",
        );
        let buckets = t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::S3::Bucket")
            .count();
        assert_eq!(buckets, 0);
        let writes = statements(&t)
            .into_iter()
            .find(|s| s["Action"] == json!(["s3:DeleteObject", "s3:PutObject"]))
            .expect("a write statement");
        assert_eq!(
            writes["Resource"],
            json!([
                {"Fn::Sub": "arn:${AWS::Partition}:s3:::skill-assessment-app/templates/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:s3:::skill-assessment-app/skill-sync/*"}
            ])
        );
        let env = &t["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"];
        assert_eq!(env["TEMPLATES_BUCKET"], "skill-assessment-app");
    }

    #[test]
    fn the_schedule_invokes_the_function_with_an_empty_event() {
        let t = template(
            "local",
            "services:\n  skill-sync:\n    schedule: rate(12 hours)\n    airtable_base_id: appLocal\n    database:\n      host: 127.0.0.1\n",
        );
        let rule = t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .find(|r| r["Type"] == "AWS::Events::Rule")
            .unwrap()["Properties"]
            .clone();
        assert_eq!(rule["ScheduleExpression"], "rate(12 hours)");
        assert_eq!(rule["Targets"][0]["Input"], "{}");
        assert!(rule["Targets"][0]["DeadLetterConfig"]["Arn"].is_object());
    }

    #[test]
    fn a_ca_bundle_secret_reaches_the_function_and_its_role() {
        let t = template(
            "local",
            "services:\n  skill-sync:\n    airtable_base_id: appLocal\n    database:\n      host: 127.0.0.1\n      ca_bundle_secret: local/skill-sync/rds-ca\n",
        );
        let env = &t["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"];
        assert_eq!(env["DATABASE_CA_BUNDLE_SECRET"], "local/skill-sync/rds-ca");
        assert!(env.get("DATABASE_CA_BUNDLE").is_none());
        let reads = statements(&t)
            .into_iter()
            .filter(|s| s.to_string().contains("secretsmanager:GetSecretValue"))
            .map(|s| s.to_string())
            .collect::<String>();
        assert!(reads.contains("local/skill-sync/rds-ca"), "{reads}");
        // without the setting nothing is added
        let plain = template(
            "local",
            "services:\n  skill-sync:\n    airtable_base_id: appLocal\n    database:\n      host: 127.0.0.1\n",
        );
        let env = &plain["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"];
        assert!(env.get("DATABASE_CA_BUNDLE_SECRET").is_none());
    }
}
