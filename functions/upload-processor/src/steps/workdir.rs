//! Scratch space in `/tmp`. Lambda keeps `/tmp` between invocations of a warm instance (512 MB by
//! default), so every step works in a directory of its own under the root, removed when the step
//! ends, and removes whatever a killed invocation (a timeout) left under the root first. One
//! instance runs one invocation at a time and has a `/tmp` of its own, so anything already under
//! the root is stale. The root follows `TMPDIR` ([`lambda_root`]): the local Lambda service gives
//! each invocation its own, as Lambda gives each instance its own `/tmp`.

use std::path::{Path, PathBuf};

use super::StepError;

/// The root the Lambda binaries use: `/tmp/upload-processor` in Lambda (no `TMPDIR` there).
pub fn lambda_root() -> PathBuf {
    std::env::temp_dir().join("upload-processor")
}

/// A step's directory; removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Empties `root` (leftovers of earlier invocations), then creates a fresh directory in it.
    pub async fn fresh(root: &Path) -> Result<WorkDir, StepError> {
        match tokio::fs::remove_dir_all(root).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StepError::io(root, e)),
        }
        let path = root.join(uuid::Uuid::new_v4().simple().to_string());
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|e| StepError::io(&path, e))?;
        Ok(WorkDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove the work directory");
            }
        }
    }
}
