//! Canvas Data 2 → PostgreSQL. [`dap`] talks to Instructure's API, [`schema`] and [`rows`] turn
//! its tables and JSON Lines into columns and COPY lines, [`init`] loads snapshots resumably,
//! [`sync`] applies incremental changes, [`handlers`] are what the three Lambda functions run,
//! [`prepare`] sets up the database (`cargo xtask db-prepare`).

pub mod dap;
pub mod db;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod handlers;
pub mod init;
mod load;
pub mod metrics;
pub mod ops;
pub mod prepare;
pub mod rows;
pub mod schema;
pub mod sync;

use serde::Serialize;

pub use error::{check_table_name, TableError};

/// What a function tells the state machine about a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    NeedsInit,
    NeedsInitContinue,
    NeedsSyncContinue,
    Complete,
    CompleteWithUpdate,
}
