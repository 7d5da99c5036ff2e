//! `cargo xtask destroy --stage S [--service S] [--yes] [--confirm prod]`.

use anyhow::{bail, Result};
use infra::stage::Stage;

use crate::deploy::{confirm, stack};
use crate::{aws, deployed, ui};

pub async fn run(
    stage: Stage,
    service: Option<&str>,
    yes: bool,
    confirm_stage: Option<&str>,
) -> Result<()> {
    confirm::check_up_front(&stage.name, yes, confirm_stage)?;
    let services: Vec<&str> = match service {
        Some(s) if infra::services::SERVICES.contains(&s) => vec![s],
        Some(s) => bail!(
            "no service `{s}`; known: {}",
            infra::services::SERVICES.join(", ")
        ),
        None => infra::services::SERVICES.to_vec(),
    };
    let clients = aws::Clients::connect(&stage).await?;
    let mut present = Vec::new();
    for s in services {
        let name = format!("{s}-{}", stage.name);
        if deployed::describe(&clients.cfn, &name).await?.is_some() {
            present.push(name);
        }
    }
    if present.is_empty() {
        ui::ok("nothing to destroy");
        return Ok(());
    }
    println!(
        "will delete: {} (buckets and databases are retained or snapshotted)",
        present.join(", ")
    );
    confirm::confirm(
        &stage.name,
        yes,
        confirm_stage,
        &format!("delete {} stack(s) from {}", present.len(), stage.name),
    )?;
    for name in present {
        clients
            .cfn
            .delete_stack()
            .stack_name(&name)
            .send()
            .await
            .map_err(|e| aws::explain("cloudformation:DeleteStack", &name, e))?;
        let pb = ui::spinner(format!("{name}: deleting"));
        let r = stack::wait_deleted(&clients.cfn, &name, &pb).await;
        pb.finish_and_clear();
        r?;
        ui::ok(format!("{name} deleted"));
    }
    Ok(())
}

impl crate::flags::Destroy {
    pub async fn run(self) -> Result<i32> {
        let t = self.target;
        let stage = crate::synth::load_stage(&t.stage)?;
        run(stage, t.service.as_deref(), t.yes, t.confirm.as_deref()).await?;
        Ok(0)
    }
}
