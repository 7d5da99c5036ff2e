//! Values a reader of the queue must not be able to use (Amperity's access token, the presigned
//! data URL, the destination's auth header) sealed with AES-256-GCM before they enter the queue,
//! so neither the job queue nor its DLQ holds them in clear text. The key comes from a Secrets
//! Manager secret only the runner's functions may read; a message names the key that sealed it
//! (`key_id`), and the previous key still opens messages sealed before a rotation.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use support::Secret;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the message was sealed with key {0}, which is neither the current nor the previous token key")]
    UnknownKey(String),
    #[error("a sealed value could not be opened (wrong key or damaged message)")]
    Damaged,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    /// A key derived from the secret's text (SHA-256), whatever its length; its id is a short
    /// digest that tells keys apart and reveals nothing of them.
    fn new(secret: &Secret) -> Key {
        let sha = |data: &[u8]| ring::digest::digest(&ring::digest::SHA256, data);
        let material = sha(secret.expose().as_bytes());
        let id: String = sha(&[b"webhook-runner key id:", material.as_ref()].concat())
            .as_ref()
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = UnboundKey::new(&AES_256_GCM, material.as_ref()).expect("a 32-byte key");
        Key {
            id,
            key: LessSafeKey::new(key),
        }
    }
}

pub struct Sealer {
    current: Key,
    previous: Option<Key>,
}

impl Sealer {
    pub fn new(secret: &Secret) -> Sealer {
        Sealer::with_previous(secret, None)
    }

    /// Seals with `current`; opens what either key sealed.
    pub fn with_previous(current: &Secret, previous: Option<&Secret>) -> Sealer {
        Sealer {
            current: Key::new(current),
            previous: previous.map(Key::new),
        }
    }

    /// The id of the key [`seal`](Self::seal) uses.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// base64(nonce ‖ ciphertext ‖ tag), with the current key.
    pub fn seal(&self, plain: &Secret) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .expect("the system RNG works");
        let mut data = plain.expose().as_bytes().to_vec();
        self.current
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend(data);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Open a value sealed with the key `key_id`.
    pub fn open(&self, key_id: &str, sealed: &str) -> Result<Secret, SealError> {
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_string()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| SealError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Damaged);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Damaged)?;
        let mut data = rest.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| SealError::Damaged)
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
        assert_eq!(
            s.open(s.key_id(), &sealed).unwrap().expose(),
            "amperity-token"
        );
        assert!(s.open(s.key_id(), "not base64!").is_err());
        let other = Sealer::new(&Secret::new("other key"));
        assert_ne!(other.key_id(), s.key_id());
        assert_eq!(
            other.open(s.key_id(), &sealed).unwrap_err(),
            SealError::UnknownKey(s.key_id().to_string())
        );
        // a forged id does not make a wrong key open the value
        assert_eq!(
            other.open(other.key_id(), &sealed).unwrap_err(),
            SealError::Damaged
        );
    }

    #[test]
    fn the_previous_key_still_opens_after_a_rotation() {
        let old = Secret::new("old key");
        let before = Sealer::new(&old);
        let sealed = before.seal(&Secret::new("token"));
        let after = Sealer::with_previous(&Secret::new("new key"), Some(&old));
        assert_ne!(after.key_id(), before.key_id());
        assert_eq!(
            after.open(before.key_id(), &sealed).unwrap().expose(),
            "token"
        );
        let resealed = after.seal(&Secret::new("token"));
        assert_eq!(
            after.open(after.key_id(), &resealed).unwrap().expose(),
            "token"
        );
        assert!(before.open(after.key_id(), &resealed).is_err());
    }
}
