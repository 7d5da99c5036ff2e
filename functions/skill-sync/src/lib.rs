//! The Skill App sync: every run brings Airtable's `assessments` table, Badgr's badge classes and
//! assertions into the app's MySQL database and copies each assessment's GitHub release into S3
//! (`docs/skill-sync.md`; the original's behaviour is `../shared/specs/skill-sync.md`).
//!
//! [`airtable`], [`badgr`] and [`github`] talk to the three services; [`rows`] turns what they
//! answer into the app's columns; [`db`] writes a table's changes in one transaction;
//! [`templates`] unpacks a zipball and uploads it; [`handler`] runs the four steps and reports
//! each; [`schema`] is the app's schema for `cargo xtask db-prepare`.

pub mod airtable;
pub mod badgr;
pub mod db;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod github;
pub mod handler;
pub mod http;
pub mod report;
pub mod rows;
pub mod schema;
pub mod templates;
pub mod text;

pub use error::Error;
