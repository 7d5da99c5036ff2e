//! `webhook-runner`: Amperity webhook-destination jobs. The authorizer checks the caller's key;
//! the intake validates and queues a job; the worker streams the NDJSON file to the destination in
//! batches under a token-bucket rate limit, reports progress, and continues itself through the
//! queue before the Lambda deadline.

pub mod auth;
pub mod batch;
pub mod download;
pub mod handlers;
pub mod job;
pub mod keys;
pub mod limiter;
pub mod lines;
pub mod message;
pub mod metrics;
pub mod report;
pub mod runner;
pub mod seal;

pub use job::{Invalid, Job};
pub use runner::{Checkpoint, Outcome, RunError, Runner};
