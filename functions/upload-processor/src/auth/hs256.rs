//! HS256, the only algorithm mentor's tokens use, as `jsonwebtoken`'s crypto provider. Its own
//! providers link every algorithm (RSA, ECDSA, EdDSA on aws-lc or RustCrypto) into the binary,
//! since the algorithm is a runtime value; this one links HMAC-SHA256 alone, on the `hmac` and
//! `sha2` crates this crate already signs S3 uploads with.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{new_error, ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes HS256 `jsonwebtoken`'s provider for this process. Idempotent.
pub fn install() {
    // Err means a provider is already installed: this one, by an earlier call.
    let _ = PROVIDER.install_default();
}

struct Hs256(HmacSha256);

impl Hs256 {
    fn new(algorithm: &Algorithm, family: AlgorithmFamily, key: &[u8]) -> Result<Hs256> {
        if *algorithm != Algorithm::HS256 {
            return Err(new_error(ErrorKind::InvalidAlgorithm));
        }
        if family != AlgorithmFamily::Hmac {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        HmacSha256::new_from_slice(key)
            .map(Hs256)
            .map_err(|_| new_error(ErrorKind::InvalidKeyFormat))
    }

    fn mac(&self, msg: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(msg);
        mac
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(Hs256::new(
        algorithm,
        key.family(),
        key.as_bytes(),
    )?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let bytes = key.try_get_as_bytes()?;
    Ok(Box::new(Hs256::new(algorithm, key.family(), bytes)?))
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.mac(msg).finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        // verify_slice compares in constant time
        self.mac(msg)
            .verify_slice(tag)
            .map_err(signature::Error::from_source)
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, encode, Header, Validation};
    use serde_json::{json, Value};

    fn validation(alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.required_spec_claims.clear();
        v
    }

    /// RFC 7515 appendix A.1's HS256 example, the JWS every implementation must verify.
    #[test]
    fn verifies_rfc_7515_example() {
        install();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
        use base64::Engine;
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k)
            .expect("the RFC's key");
        // its exp (2011) has passed; the signature is what is checked here
        let mut v = validation(Algorithm::HS256);
        v.validate_exp = false;
        let claims = decode::<Value>(token, &DecodingKey::from_secret(&k), &v).expect("verifies");
        assert_eq!(claims.claims["iss"], "joe");
        let mut forged = token.to_string();
        forged.replace_range(forged.len() - 2.., "kk");
        let e = decode::<Value>(&forged, &DecodingKey::from_secret(&k), &v).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidSignature);
    }

    #[test]
    fn signs_what_it_verifies_and_refuses_a_changed_token() {
        install();
        let token = encode(
            &Header::new(Algorithm::HS256),
            &json!({"id": "u1"}),
            &EncodingKey::from_secret(b"secret"),
        )
        .expect("signs");
        let key = DecodingKey::from_secret(b"secret");
        let ok = decode::<Value>(&token, &key, &validation(Algorithm::HS256)).expect("verifies");
        assert_eq!(ok.claims["id"], "u1");
        let wrong = DecodingKey::from_secret(b"other");
        let e = decode::<Value>(&token, &wrong, &validation(Algorithm::HS256)).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidSignature);
    }

    #[test]
    fn refuses_other_algorithms() {
        install();
        let e = encode(
            &Header::new(Algorithm::HS512),
            &json!({}),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidAlgorithm);
    }
}
