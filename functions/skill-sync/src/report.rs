//! What a run reports: per step, how many rows (or releases) were inserted, updated, left
//! unchanged or skipped, and the errors that made the step fail.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Records that cannot be stored as they are (each has a note saying why); the rest of the
    /// step goes on.
    pub skipped: u64,
    /// Why the step failed; empty when it succeeded.
    pub errors: Vec<String>,
    /// Skipped records, text stored as HTML entities, ignored fields: one line each.
    pub notes: Vec<String>,
}

impl StepReport {
    pub fn new(step: &'static str) -> StepReport {
        StepReport {
            step,
            ..StepReport::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn skip(&mut self, note: String) {
        tracing::warn!(step = self.step, "{note}");
        self.skipped += 1;
        self.notes.push(note);
    }

    pub fn note(&mut self, note: String) {
        tracing::warn!(step = self.step, "{note}");
        self.notes.push(note);
    }

    pub fn fail(&mut self, error: String) {
        tracing::error!(step = self.step, "{error}");
        self.errors.push(error);
    }
}

/// A whole run: every step, or why none ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Set when another run held the lock and this one did nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_run: Option<String>,
    pub steps: Vec<StepReport>,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.steps.iter().all(StepReport::ok)
    }

    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.step == name)
    }

    /// `assessments failed: …; badges failed: …`, for the function's error.
    pub fn failures(&self) -> String {
        self.steps
            .iter()
            .filter(|s| !s.ok())
            .map(|s| format!("{} failed: {}", s.step, s.errors.join("; ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
