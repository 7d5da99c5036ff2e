//! `cargo xtask list [--stage S]`: services, functions, stacks and whether they are deployed.

use anyhow::Result;
use infra::stage::Stage;

use crate::{aws, deployed, ui};

pub async fn run(stage: Option<Stage>) -> Result<()> {
    let shown = match &stage {
        Some(s) => s.clone(),
        None => crate::synth::load_stage("local")?,
    };
    let stacks = infra::synth_stage(&shown, None)?;
    let clients = match &stage {
        Some(s) => match aws::Clients::connect(s).await {
            Ok(c) => Some(c),
            Err(e) => {
                ui::warn(format!("deployed status not shown: {e:#}"));
                None
            }
        },
        None => None,
    };
    for s in &stacks {
        let status = match &clients {
            Some(c) => match deployed::describe(&c.cfn, &s.name).await {
                Ok(Some(d)) => ui::green(d.status.as_str()),
                Ok(None) => "not deployed".into(),
                Err(e) => format!(
                    "unknown ({})",
                    e.to_string().lines().next().unwrap_or_default()
                ),
            },
            None => String::new(),
        };
        println!("{:<16} stack {:<24} {}", s.service, s.name, status);
        for f in &s.functions {
            println!("  function {:<34} {}", f.binary, f.physical_name);
        }
        for m in &s.state_machines {
            println!("  state machine {}", m.name);
        }
    }
    if stage.is_none() {
        println!("(pass --stage to see what is deployed)");
    }
    Ok(())
}

impl crate::flags::List {
    pub async fn run(self) -> Result<i32> {
        let stage = self
            .stage
            .map(|s| crate::synth::load_stage(&s))
            .transpose()?;
        run(stage).await?;
        Ok(0)
    }
}
