//! The job queue's message: the job with its secrets and its presigned data URL sealed, the id of
//! the key that sealed them, and where the job stands.

use serde::{Deserialize, Serialize};

use crate::job::{Job, Settings};
use crate::runner::Checkpoint;
use crate::seal::{SealError, Sealer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The token key that sealed the `sealed_*` fields (the current or the previous one).
    pub key_id: String,
    pub settings: Settings,
    pub sealed_auth_header_value: Option<String>,
    pub label_name: String,
    /// The presigned URL is a credential for the file until it expires.
    pub sealed_data_url: String,
    pub sealed_access_token: String,
    pub webhook_id: String,
    pub callback_url: String,
    pub tenant_id: Option<String>,
    pub checkpoint: Checkpoint,
}

impl Message {
    pub fn seal(job: &Job, checkpoint: Checkpoint, sealer: &Sealer) -> Message {
        Message {
            key_id: sealer.key_id().to_string(),
            settings: job.settings.clone(),
            sealed_auth_header_value: job
                .settings
                .auth_header_value
                .as_ref()
                .map(|v| sealer.seal(v)),
            label_name: job.label_name.clone(),
            sealed_data_url: sealer.seal(&support::Secret::new(job.data_url.clone())),
            sealed_access_token: sealer.seal(&job.access_token),
            webhook_id: job.webhook_id.clone(),
            callback_url: job.callback_url.clone(),
            tenant_id: job.tenant_id.clone(),
            checkpoint,
        }
    }

    pub fn open(self, sealer: &Sealer) -> Result<(Job, Checkpoint), SealError> {
        let key = self.key_id.as_str();
        let mut settings = self.settings;
        settings.auth_header_value = self
            .sealed_auth_header_value
            .as_deref()
            .map(|v| sealer.open(key, v))
            .transpose()?;
        let job = Job {
            settings,
            label_name: self.label_name,
            data_url: sealer
                .open(key, &self.sealed_data_url)?
                .expose()
                .to_string(),
            access_token: sealer.open(key, &self.sealed_access_token)?,
            webhook_id: self.webhook_id,
            callback_url: self.callback_url,
            tenant_id: self.tenant_id,
        };
        Ok((job, self.checkpoint))
    }
}
