//! Secrets of a job (Amperity's access token, the destination's auth header) sealed with
//! AES-256-GCM before they enter the queue, so neither the job queue nor its DLQ holds them in
//! clear text. The key comes from a Secrets Manager secret only the runner's functions may read.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use support::Secret;

#[derive(Debug, thiserror::Error)]
#[error("a sealed value could not be opened (wrong key or damaged message)")]
pub struct SealError;

pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// A key derived from the secret's text (SHA-256), whatever its length.
    pub fn new(secret: &Secret) -> Sealer {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.expose().as_bytes());
        let key = UnboundKey::new(&AES_256_GCM, digest.as_ref()).expect("a 32-byte key");
        Sealer {
            key: LessSafeKey::new(key),
        }
    }

    /// base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plain: &Secret) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system RNG works");
        let mut data = plain.expose().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend(data);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<Secret, SealError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| SealError)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| SealError)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| SealError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hides_the_value() {
        let s = Sealer::new(&Secret::new("key material"));
        let sealed = s.seal(&Secret::new("amperity-token"));
        assert!(!sealed.contains("amperity-token"));
        assert_ne!(
            sealed,
            s.seal(&Secret::new("amperity-token")),
            "a fresh nonce each time"
        );
        assert_eq!(s.open(&sealed).unwrap().expose(), "amperity-token");
        assert!(Sealer::new(&Secret::new("other key"))
            .open(&sealed)
            .is_err());
        assert!(s.open("not base64!").is_err());
    }
}
