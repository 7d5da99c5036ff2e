//! What can go wrong talking to a source, the database or S3. Messages name the service and the
//! URL or key, never a credential.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{service}: {url}: {source}")]
    Http {
        service: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{service}: {url} answered HTTP {status}: {body}")]
    Status {
        service: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{service}: {url}: unexpected answer: {message}")]
    Decode {
        service: &'static str,
        url: String,
        message: String,
    },
    #[error("database: {0}")]
    Db(#[from] mysql_async::Error),
    #[error("database: {0}")]
    Schema(String),
    #[error("S3 {operation} {key}: {message}")]
    S3 {
        operation: &'static str,
        key: String,
        message: String,
    },
    #[error("zipball of {release}: {message}")]
    Zip { release: String, message: String },
}

impl Error {
    /// An S3 SDK error as `Code: message`, or its whole chain when the call got no answer.
    pub(crate) fn s3<E, R>(
        operation: &'static str,
        key: &str,
        e: &aws_sdk_s3::error::SdkError<E, R>,
    ) -> Error
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        let message = match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
        };
        Error::S3 {
            operation,
            key: key.into(),
            message,
        }
    }
}
