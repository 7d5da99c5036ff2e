//! `cargo xtask db-prepare --stage S`: the canvas-data database of a stage, set up idempotently
//! (application role with the password from its secret, database, schema, grants, and the
//! consumers' read-only `<app>_reader` role, whose secret `<database secret>-reader` is created
//! with a generated password on first use, locally too).
//!
//! Locally the administrator is the local cluster's superuser. On AWS it is the cluster's
//! RDS-managed master login (the stack's `ReplicaClusterMasterSecretArn` output), and the
//! application secret is created on first use with a generated password.

use anyhow::{bail, Context, Result};
use aws_sdk_secretsmanager::Client as Secrets;
use canvas_data::db::DbConfig;
use infra::services::canvas_data::SERVICE;
use infra::stage::Stage;
use serde_json::{json, Value};

use crate::{aws, deployed, local, ui};

/// Where to reach the database from here when it is private (an SSH tunnel or VPN endpoint);
/// the secret keeps the real host for the functions.
pub struct Reach {
    pub host: Option<String>,
    pub port: Option<u16>,
}

pub async fn run(stage: &Stage, reach: Reach) -> Result<()> {
    let settings = &stage.services.canvas_data;
    let (admin, app, secrets) = if stage.is_local() {
        local::up(stage).await?;
        let secrets = Secrets::new(&aws::config(stage).await);
        let app = read_secret(&secrets, &settings.database_secret(stage)).await?;
        (local::local_admin(stage)?, app, secrets)
    } else {
        aws_logins(stage).await?
    };
    let reader = reader_login(&secrets, &reader_secret(stage), &app).await?;
    let via = |c: DbConfig| DbConfig {
        host: reach.host.clone().unwrap_or(c.host.clone()),
        port: reach.port.unwrap_or(c.port),
        ..c
    };
    ui::step(format!(
        "preparing {:?} (schema {}) as {}",
        app, settings.schema, admin.user
    ));
    let done = canvas_data::prepare::prepare_with_reader(
        &via(admin),
        &via(app),
        Some(&via(reader)),
        &settings.schema,
    )
    .await
        .context("preparing the database (run where the database is reachable; --host/--port point at a tunnel)")?;
    for line in done {
        ui::ok(line);
    }
    Ok(())
}

/// Where the read-only login lives: next to the application's.
pub fn reader_secret(stage: &Stage) -> String {
    format!(
        "{}-reader",
        stage.services.canvas_data.database_secret(stage)
    )
}

/// The consumers' login, `<app>_reader` on the application's database; the secret is created
/// with a generated password when missing.
async fn reader_login(secrets: &Secrets, name: &str, app: &DbConfig) -> Result<DbConfig> {
    if secrets
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .is_ok()
    {
        return read_secret(secrets, name).await;
    }
    let password = generated_password(secrets, name).await?;
    let value = json!({
        "username": format!("{}_reader", app.user), "password": password,
        "host": app.host, "port": app.port, "dbname": app.dbname
    })
    .to_string();
    secrets
        .create_secret()
        .name(name)
        .description("canvas-data read-only login for consumers (cargo xtask db-prepare)")
        .secret_string(&value)
        .send()
        .await
        .map_err(|e| aws::explain("secretsmanager:CreateSecret", name, e))?;
    ui::ok(format!("secret {name}: created with a generated password"));
    Ok(DbConfig::from_secret_json(&value)?)
}

async fn generated_password(secrets: &Secrets, name: &str) -> Result<String> {
    Ok(secrets
        .get_random_password()
        .password_length(40)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| aws::explain("secretsmanager:GetRandomPassword", name, e))?
        .random_password
        .unwrap_or_default())
}

async fn read_secret(secrets: &Secrets, name: &str) -> Result<DbConfig> {
    let out = secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| aws::explain("secretsmanager:GetSecretValue", name, e))?;
    DbConfig::from_secret_json(out.secret_string().unwrap_or_default())
        .with_context(|| format!("secret {name}"))
}

async fn aws_logins(stage: &Stage) -> Result<(DbConfig, DbConfig, Secrets)> {
    let conf = aws::config(stage).await;
    aws::check_credentials(stage, &conf).await?;
    let secrets = Secrets::new(&conf);
    let stack = format!("{SERVICE}-{}", stage.name);
    let clients = aws::Clients::from_config(stage, &conf);
    let Some(d) = deployed::describe(&clients.cfn, &stack).await? else {
        bail!("{stack} is not deployed: run `cargo xtask deploy --stage {} --service {SERVICE}` first", stage.name);
    };
    let output = |key: &str| {
        d.outputs
            .get(key)
            .cloned()
            .with_context(|| format!("{stack} has no output {key}; redeploy it"))
    };
    let host = output("ReplicaClusterEndpoint")?;
    let master_arn = output("ReplicaClusterMasterSecretArn")?;
    let master: Value = serde_json::from_str(
        secrets
            .get_secret_value()
            .secret_id(&master_arn)
            .send()
            .await
            .map_err(|e| aws::explain("secretsmanager:GetSecretValue", &master_arn, e))?
            .secret_string()
            .unwrap_or_default(),
    )
    .context("the master secret is not JSON")?;
    // RDS's managed secret holds only username and password
    let mut admin = master.clone();
    admin["host"] = json!(host);
    admin["port"] = json!(5432);
    admin["dbname"] = json!("postgres");
    let admin = DbConfig::from_secret_json(&admin.to_string()).context("the master secret")?;

    let name = stage.services.canvas_data.database_secret(stage);
    let app = match secrets.describe_secret().secret_id(&name).send().await {
        Ok(_) => read_secret(&secrets, &name).await?,
        Err(_) => {
            let password = generated_password(&secrets, &name).await?;
            let value = json!({
                "username": "canvas_app", "password": password,
                "host": host, "port": 5432, "dbname": "canvas"
            })
            .to_string();
            secrets
                .create_secret()
                .name(&name)
                .description("canvas-data application login (cargo xtask db-prepare)")
                .secret_string(&value)
                .send()
                .await
                .map_err(|e| aws::explain("secretsmanager:CreateSecret", &name, e))?;
            ui::ok(format!("secret {name}: created with a generated password"));
            DbConfig::from_secret_json(&value)?
        }
    };
    Ok((admin, app, secrets))
}

/// `db-prepare --service S`: canvas-data (the default, [`run`]) or skill-sync ([`skill_sync`]).
pub async fn run_service(stage: &Stage, service: Option<&str>, reach: Reach) -> Result<()> {
    match service {
        None | Some(SERVICE) => run(stage, reach).await,
        Some(infra::services::skill_sync::SERVICE) => skill_sync(stage, reach).await,
        Some(other) => bail!("db-prepare knows canvas-data and skill-sync, not `{other}`"),
    }
}

/// skill-sync's part of the Skill App database (spec §2), created where missing.
///
/// Locally: the local MariaDB is started, and as its administrator the database, the application
/// login (password from the stage's database secret, which `local up` seeds) and the tables are
/// made. On AWS the database is the app's own MySQL and its login already exists: the tables are
/// created only where missing, as that login (the app's schema owner), so running it against the
/// app's database changes nothing that is there.
pub async fn skill_sync(stage: &Stage, reach: Reach) -> Result<()> {
    let conf = aws::config(stage).await;
    if stage.is_local() {
        local::up(stage).await?;
    } else {
        aws::check_credentials(stage, &conf).await?;
    }
    prepare_skill_sync(stage, &conf, reach).await
}

/// [`skill_sync`] once the stage is up (`local up` calls this itself, after seeding the secret).
pub async fn prepare_skill_sync(
    stage: &Stage,
    conf: &aws_config::SdkConfig,
    reach: Reach,
) -> Result<()> {
    use skill_sync::db::DbConfig as MyConfig;
    let settings = &stage.services.skill_sync;
    let secrets = Secrets::new(conf);
    let name = settings.database_secret(stage);
    let login = secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .map_err(|e| aws::explain("secretsmanager:GetSecretValue", &name, e))?;
    let host = reach.host.clone().unwrap_or(settings.database.host.clone());
    let port = reach.port.unwrap_or(settings.database.port);
    let app = MyConfig::new(
        &host,
        port,
        &settings.database.name,
        login.secret_string().unwrap_or_default(),
    )
    .with_context(|| format!("secret {name}"))?;
    ui::step(format!(
        "preparing skill-sync's tables in {} on {host}:{port} as {}",
        app.dbname, app.user
    ));
    let done = if stage.is_local() {
        // idempotent: usually `local up` has started it already
        local::MariaDb::new(port).ensure_running()?;
        let admin = MyConfig::new(
            "127.0.0.1",
            port,
            "mysql",
            &json!({
                "username": skill_sync::schema::LOCAL_ADMIN_USER,
                "password": skill_sync::schema::LOCAL_ADMIN_PASSWORD,
            })
            .to_string(),
        )?;
        skill_sync::schema::prepare(&admin, &app).await?
    } else {
        let mut conn = skill_sync::db::connect(&app).await.context(
            "connecting to the app's database (run where it is reachable; --host/--port point at a tunnel)",
        )?;
        let done = skill_sync::schema::create_tables(&mut conn).await?;
        conn.disconnect().await.ok();
        done
    };
    for line in done {
        ui::ok(line);
    }
    Ok(())
}

impl crate::flags::DbPrepare {
    pub async fn run(self) -> Result<i32> {
        let stage = crate::synth::load_stage(&self.stage)?;
        let reach = Reach {
            host: self.host,
            port: self.port,
        };
        run_service(&stage, self.service.as_deref(), reach).await?;
        Ok(0)
    }
}
