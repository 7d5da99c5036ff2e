use crate::dap::DapError;
use crate::db::DbError;
use crate::rows::RowError;
use crate::schema::SchemaError;

/// Why a table could not be refreshed; the message names the table and, for bad data, the
/// object and line. It becomes the table's `error` in the refresh summary.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Dap(#[from] DapError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(
        "{table}: object {object}, line {line}: {error}; nothing of this object was committed"
    )]
    Row {
        table: String,
        object: String,
        line: u64,
        error: RowError,
    },
    #[error("{table}: object {object}: reading failed after line {line}: {message}")]
    Read {
        table: String,
        object: String,
        line: u64,
        message: String,
    },
    #[error("{0} is being refreshed by another run (its advisory lock is held); try again when that run ends")]
    Busy(String),
    #[error("{table}: stopped after {rounds} rounds in this execution (the stage's max_rounds); the next execution resumes from its checkpoint")]
    RoundCap { table: String, rounds: u32 },
    #[error("{table}: stopped, this execution has less than one function run left before its timeout (the stage's execution_timeout_minutes); the next execution resumes from its checkpoint")]
    OutOfTime { table: String },
    #[error("`{0}` is not a DAP table name (lower-case letters, digits and _)")]
    BadName(String),
}

/// DAP table names go into URL paths and SQL identifiers; they are checked first.
pub fn check_table_name(name: &str) -> Result<(), TableError> {
    let ok = !name.is_empty()
        && name.len() <= 55
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(TableError::BadName(name.into()))
    }
}
