//! `webhook-runner`: Amperity webhook-destination jobs. The intake validates and queues a job;
//! the worker streams the NDJSON file to the destination in batches under a token-bucket rate
//! limit, reports progress, and continues itself through the queue before the Lambda deadline.

pub mod batch;
pub mod job;
pub mod limiter;
pub mod report;
pub mod retry;
pub mod runner;

pub use job::{Invalid, Job};
pub use runner::{Checkpoint, Outcome, RunError, Runner};
