//! The job queue's message: the job with its secrets sealed, and where it stands.

use serde::{Deserialize, Serialize};

use crate::job::{Job, Settings};
use crate::runner::Checkpoint;
use crate::seal::{SealError, Sealer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub settings: Settings,
    pub sealed_auth_header_value: Option<String>,
    pub label_name: String,
    pub data_url: String,
    pub sealed_access_token: String,
    pub webhook_id: String,
    pub callback_url: String,
    pub tenant_id: Option<String>,
    pub checkpoint: Checkpoint,
}

impl Message {
    pub fn seal(job: &Job, checkpoint: Checkpoint, sealer: &Sealer) -> Message {
        Message {
            settings: job.settings.clone(),
            sealed_auth_header_value: job
                .settings
                .auth_header_value
                .as_ref()
                .map(|v| sealer.seal(v)),
            label_name: job.label_name.clone(),
            data_url: job.data_url.clone(),
            sealed_access_token: sealer.seal(&job.access_token),
            webhook_id: job.webhook_id.clone(),
            callback_url: job.callback_url.clone(),
            tenant_id: job.tenant_id.clone(),
            checkpoint,
        }
    }

    pub fn open(self, sealer: &Sealer) -> Result<(Job, Checkpoint), SealError> {
        let mut settings = self.settings;
        settings.auth_header_value = self
            .sealed_auth_header_value
            .as_deref()
            .map(|v| sealer.open(v))
            .transpose()?;
        let job = Job {
            settings,
            label_name: self.label_name,
            data_url: self.data_url,
            access_token: sealer.open(&self.sealed_access_token)?,
            webhook_id: self.webhook_id,
            callback_url: self.callback_url,
            tenant_id: self.tenant_id,
        };
        Ok((job, self.checkpoint))
    }
}
