//! Parameters and secrets the services read, seeded into the local emulator with local-only
//! values (the emulator forgets them when it stops, so `up` seeds every time). Seeding creates
//! what is missing and keeps what exists: a value a user set stays.

use anyhow::Result;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::ParameterType;
use infra::stage::Stage;
use serde_json::json;

use canvas_data::db::DbConfig;

use crate::aws;

fn pg_port(stage: &Stage) -> u16 {
    stage
        .local
        .as_ref()
        .map(|l| l.postgres_port)
        .unwrap_or(54329)
}

/// The canvas-data application login of the local stage (its secret's value).
fn local_database(pg_port: u16) -> serde_json::Value {
    json!({
        "username": "canvas_app", "password": "local-only-password",
        "host": "127.0.0.1", "port": pg_port, "dbname": "canvas"
    })
}

/// The key the local stage's intake accepts; the intake's sample events send it as `x-api-key`.
pub const LOCAL_INTAKE_KEY: &str = "local-only-intake-key";

/// The local cluster's superuser (trust authentication on 127.0.0.1).
pub fn local_admin(stage: &Stage) -> Result<DbConfig> {
    Ok(DbConfig::from_secret_json(
        &json!({
            "username": super::postgres::SUPERUSER, "password": "",
            "host": "127.0.0.1", "port": pg_port(stage), "dbname": "postgres"
        })
        .to_string(),
    )?)
}

/// canvas-data's role, database and schema in the local PostgreSQL; idempotent.
pub async fn prepare_database(stage: &Stage) -> Result<()> {
    let app = DbConfig::from_secret_json(&local_database(pg_port(stage)).to_string())?;
    let schema = &stage.services.canvas_data.schema;
    canvas_data::prepare::prepare(&local_admin(stage)?, &app, schema).await?;
    Ok(())
}

pub async fn seed(stage: &Stage) -> Result<()> {
    let conf = aws::config(stage).await;
    let ssm = aws_sdk_ssm::Client::new(&conf);
    let secrets = aws_sdk_secretsmanager::Client::new(&conf);
    let pg_port = pg_port(stage);
    let s = &stage.services;
    let params = [
        (
            s.mips_cache.credentials_parameter(stage),
            json!({"username": "local", "password": "local-only-password", "org": "LOCAL"})
                .to_string(),
        ),
        (
            format!("/{}/canvas_data_2/dap_client_id", stage.name),
            "local-client".to_string(),
        ),
        (
            format!("/{}/canvas_data_2/dap_client_secret", stage.name),
            "local-only-secret".to_string(),
        ),
    ];
    for (name, value) in params {
        let created = ssm
            .put_parameter()
            .name(&name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(false)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ParameterAlreadyExists") => {}
            Err(e) => return Err(aws::explain("ssm:PutParameter", &name, e)),
        }
    }
    create_secret(
        &secrets,
        &s.canvas_data.database_secret(stage),
        &local_database(pg_port).to_string(),
    )
    .await?;
    create_secret(
        &secrets,
        &s.webhook_runner.token_key_secret(stage),
        "local-only-token-key",
    )
    .await?;
    create_secret(
        &secrets,
        &s.webhook_runner.intake_key_secret(stage),
        LOCAL_INTAKE_KEY,
    )
    .await?;
    let ss = &s.skill_sync;
    create_secret(
        &secrets,
        &ss.database_secret(stage),
        &json!({"username": "skill_app", "password": "local-only-password"}).to_string(),
    )
    .await?;
    create_secret(
        &secrets,
        &ss.airtable_token_secret(stage),
        skill_sync::fake::AIRTABLE_TOKEN,
    )
    .await?;
    create_secret(
        &secrets,
        &ss.badgr_credentials_secret(stage),
        &json!({
            "username": skill_sync::fake::BADGR_USERNAME,
            "password": skill_sync::fake::BADGR_PASSWORD
        })
        .to_string(),
    )
    .await?;
    // no GitHub token secret: skill-sync then calls GitHub anonymously, as the fake allows
    let up = &s.upload_processor;
    create_secret(
        &secrets,
        &up.jwt_secret(stage),
        upload_processor::fake::JWT_SECRET,
    )
    .await?;
    create_secret(
        &secrets,
        &up.graphql_api_key_secret(stage),
        upload_processor::fake::API_KEY,
    )
    .await?;
    if let Some((_, secret)) = up.graphql_secret_header(stage) {
        create_secret(
            &secrets,
            &secret,
            upload_processor::fake::SECRET_HEADER_VALUE,
        )
        .await?;
    }
    Ok(())
}

/// Create the secret `name` with `value` unless it exists.
async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<()> {
    match client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceExistsException") => Ok(()),
        Err(e) => Err(aws::explain("secretsmanager:CreateSecret", name, e)),
    }
}
