//! One TLS stack for the process: rustls on ring, for the AWS SDK and for every HTTP client.
//! (aws-lc, the SDK's default, adds ~1 MB of C to every zip and minutes to every build.)

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Makes ring rustls's process-wide provider, which reqwest (built without a provider of its
/// own) reads when a client is built. Idempotent.
pub fn install() {
    // Err means a provider is already installed: ours, by an earlier call.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A `reqwest` client builder on this process's TLS stack: build every HTTP client from here.
pub fn http_builder() -> reqwest::ClientBuilder {
    install();
    reqwest::Client::builder()
}

/// [`http_builder`] with reqwest's defaults, for callers that set nothing.
pub fn http_client() -> reqwest::Client {
    http_builder()
        .build()
        .expect("an HTTP client with default settings builds")
}

/// The AWS SDK's own hyper client (connection pooling, timeouts, retries as the SDK sets them)
/// on rustls with ring; every config loader takes this one.
pub fn aws_https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_clients_build_on_the_installed_provider() {
        let _client = http_client();
        let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
        let ring = rustls::crypto::ring::default_provider();
        let names = |p: &rustls::crypto::CryptoProvider| {
            p.cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(provider), names(&ring));
        install(); // a second call is harmless
    }
}
