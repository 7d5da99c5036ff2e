//! `cargo xtask canvas-data status|reset --stage S`: what each replicated table is doing, and a
//! reset that makes a table's next run take a fresh snapshot. Locally straight to PostgreSQL;
//! on AWS through `canvas-data-sync-table` (the database is private to the VPC), which answers
//! `{"operator": "status"}` and `{"operator": "reset", "table_name"}`.

use anyhow::{bail, Context, Result};
use aws_sdk_secretsmanager::Client as Secrets;
use canvas_data::db::{self, DbConfig};
use canvas_data::ops::{self, TableStatus};
use infra::stage::Stage;
use serde_json::{json, Value};

use crate::{aws, invoke, local, ui};

#[derive(clap::Subcommand)]
pub enum Action {
    /// Per table: state, rows, last sync `until`, lag, checkpoint, last error.
    Status {
        #[arg(long)]
        stage: String,
    },
    /// Clear a table's checkpoints and staging table so its next run takes a fresh snapshot.
    Reset {
        table: String,
        #[arg(long)]
        stage: String,
        /// Do not ask (required without a terminal).
        #[arg(long)]
        yes: bool,
        /// The stage's name, required with --yes for prod.
        #[arg(long)]
        confirm: Option<String>,
    },
}

impl Action {
    pub fn stage(&self) -> &str {
        match self {
            Action::Status { stage } | Action::Reset { stage, .. } => stage,
        }
    }
}

pub async fn run(action: Action, stage: Stage) -> Result<()> {
    match action {
        Action::Status { .. } => {
            let tables: Vec<TableStatus> = if stage.is_local() {
                let app = local_login(&stage).await?;
                let conn = db::connect(&app).await?;
                let tables = ops::status(&conn.client, &stage.services.canvas_data.schema).await;
                conn.close().await;
                tables?
            } else {
                let answer = through_function(&stage, json!({"operator": "status"})).await?;
                serde_json::from_value(answer["tables"].clone())
                    .context("the function's status answer")?
            };
            if tables.is_empty() {
                ui::ok("no table has been loaded yet");
            } else {
                println!("{}", ops::render(&tables));
            }
        }
        Action::Reset {
            table,
            yes,
            confirm,
            ..
        } => {
            crate::deploy::confirm::confirm(
                &stage.name,
                yes,
                confirm.as_deref(),
                &format!(
                    "Reset {table} on {} (checkpoints and staging dropped; its next run takes a fresh snapshot)",
                    stage.name
                ),
            )?;
            let done: Vec<String> = if stage.is_local() {
                let app = local_login(&stage).await?;
                let mut conn = db::connect(&app).await?;
                let done =
                    ops::reset(&mut conn.client, &stage.services.canvas_data.schema, &table).await;
                conn.close().await;
                done?
            } else {
                let answer =
                    through_function(&stage, json!({"operator": "reset", "table_name": table}))
                        .await?;
                serde_json::from_value(answer["done"].clone())
                    .context("the function's reset answer")?
            };
            for line in done {
                ui::ok(line);
            }
        }
    }
    Ok(())
}

/// The application's login from the local stage's secret.
pub(crate) async fn local_login(stage: &Stage) -> Result<DbConfig> {
    local::up(stage).await?;
    let name = stage.services.canvas_data.database_secret(stage);
    let secrets = Secrets::new(&aws::config(stage).await);
    let out = secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .map_err(|e| aws::explain("secretsmanager:GetSecretValue", &name, e))?;
    DbConfig::from_secret_json(out.secret_string().unwrap_or_default())
        .with_context(|| format!("secret {name}"))
}

async fn through_function(stage: &Stage, event: Value) -> Result<Value> {
    let target = invoke::find(stage.clone(), "canvas-data-sync-table")?;
    let name = &target.function.physical_name;
    let out = invoke::remote_invoke(stage, name, serde_json::to_vec(&event)?).await?;
    let answer: Value = serde_json::from_slice(&out.payload)
        .with_context(|| format!("{name} answered something other than JSON"))?;
    if let Some(kind) = out.function_error {
        let message = answer["errorMessage"].as_str().unwrap_or("no message");
        bail!("{name} failed ({kind}): {message}");
    }
    Ok(answer)
}

impl crate::flags::CanvasData {
    pub async fn run(self) -> Result<i32> {
        let stage = crate::synth::load_stage(self.action.stage())?;
        run(self.action, stage).await?;
        Ok(0)
    }
}
