//! Event sources of the local stage: SQS event source mappings polled as Lambda polls them, and
//! schedules fired on their times.

mod batch_response;
mod queue_poller;
mod schedule_expression;
mod scheduler;
mod sqs_event;

#[cfg(test)]
mod tests_queue;
#[cfg(test)]
mod tests_schedule;
#[cfg(test)]
mod tests_support;

pub use queue_poller::{poll_queue, INVOKE_MARK};
pub use scheduler::run_schedules;

/// The local stage's background process writes plain timestamped lines to its log.
fn log(line: &str) {
    eprintln!("{} {line}", crate::ui::now_utc());
}
