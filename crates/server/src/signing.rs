//! Server signatures on emergency summaries, so that an emergency service's system can
//! check offline that a summary came from this server unaltered.
//!
//! What is signed is the summary's canonical form: the JSON object as served with its
//! `signature` member left out, object keys sorted, no insignificant whitespace, strings
//! as serde_json writes them (UTF-8, only `"`, `\` and control characters escaped). For the
//! summary's content (ASCII keys, integer numbers) that is exactly RFC 8785 (JCS), so any
//! JCS library reproduces the bytes. The same rule signs the FHIR document Bundle, whose
//! `signature` element is likewise left out. See docs/operations.md "Signed summaries".

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoredSigningKey};

pub const ALGORITHM: &str = "Ed25519";

/// The active signing key.
#[derive(Clone)]
pub struct Signer {
    key_id: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Why a signature does not check.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the summary carries no signature")]
    Missing,
    #[error("the signature is not an {ALGORITHM} signature in base64")]
    Malformed,
    #[error("the public key is not an {ALGORITHM} key")]
    BadKey,
    #[error("the signature does not match the content")]
    Mismatch,
}

/// A new key, not yet stored.
pub fn generate(now_ms: i64) -> StoredSigningKey {
    let secret: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&secret);
    let public = key.verifying_key().to_bytes();
    StoredSigningKey {
        key_id: key_id(&public),
        secret_hex: hex::encode(secret),
        public_hex: hex::encode(public),
        created_at_ms: now_ms,
        retired_at_ms: None,
    }
}

/// The first 16 hex digits of the public key's SHA-256: names the key in signatures.
fn key_id(public: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

impl Signer {
    pub fn from_stored(k: &StoredSigningKey) -> anyhow::Result<Signer> {
        let bytes: [u8; 32] = hex::decode(&k.secret_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("signing key {} is not 32 bytes of hex", k.key_id))?;
        Ok(Signer {
            key_id: k.key_id.clone(),
            key: SigningKey::from_bytes(&bytes),
        })
    }

    /// The active key from the store, creating the first one if there is none.
    pub async fn load(store: &Store, now_ms: i64) -> anyhow::Result<Signer> {
        let keys = store.signing_keys().await?;
        if let Some(active) = keys.iter().find(|k| k.retired_at_ms.is_none()) {
            return Signer::from_stored(active);
        }
        let key = generate(now_ms);
        store.rotate_signing_key(&key).await?;
        Signer::from_stored(&key)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs a summary (or a FHIR document) in place: sets its `signature` member, JSON
    /// form `{algorithm, key_id, value}` with the signature in base64.
    pub fn sign_summary(&self, summary: &mut Value) {
        let signature = self.key.sign(&canonical_bytes(summary));
        if let Value::Object(map) = summary {
            map.insert(
                "signature".to_owned(),
                json!({
                    "algorithm": ALGORITHM,
                    "key_id": self.key_id,
                    "value": BASE64.encode(signature.to_bytes()),
                }),
            );
        }
    }

    /// The signature over `bytes`, in base64 (for FHIR's `Signature.data`).
    pub fn sign_base64(&self, bytes: &[u8]) -> String {
        BASE64.encode(self.key.sign(bytes).to_bytes())
    }
}

/// The canonical bytes of `value` with any top-level `signature` member left out.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut value = canonical(value);
    if let Value::Object(map) = &mut value {
        map.remove("signature");
    }
    serde_json::to_vec(&value).expect("a JSON value always serialises")
}

/// `value` with every object's keys in sorted order (whatever map serde_json is built with).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Checks a signed summary against a public key (32 bytes, hex), as a verifier would.
pub fn verify_summary(public_hex: &str, summary: &Value) -> Result<(), VerifyError> {
    let value = summary["signature"]["value"]
        .as_str()
        .ok_or(VerifyError::Missing)?;
    let bytes: [u8; 64] = BASE64
        .decode(value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Malformed)?;
    let public: [u8; 32] = hex::decode(public_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::BadKey)?;
    let key = VerifyingKey::from_bytes(&public).map_err(|_| VerifyError::BadKey)?;
    key.verify(&canonical_bytes(summary), &Signature::from_bytes(&bytes))
        .map_err(|_| VerifyError::Mismatch)
}

/// The public keys as published: every key, the active one first.
pub fn published_keys(keys: &[StoredSigningKey]) -> Value {
    let mut keys: Vec<&StoredSigningKey> = keys.iter().collect();
    keys.sort_by_key(|k| {
        (
            k.retired_at_ms.is_some(),
            std::cmp::Reverse(k.created_at_ms),
        )
    });
    json!({
        "algorithm": ALGORITHM,
        "canonical_form": "the summary's JSON without its signature member, keys sorted, no whitespace (RFC 8785)",
        "keys": keys.iter().map(|k| json!({
            "key_id": k.key_id,
            "public_key_hex": k.public_hex,
            "active": k.retired_at_ms.is_none(),
            "created_at_ms": k.created_at_ms,
            "retired_at_ms": k.retired_at_ms,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_summary_verifies_and_a_tampered_one_does_not() {
        let stored = generate(1);
        let signer = Signer::from_stored(&stored).unwrap();
        let mut summary = json!({"name": "Ada", "dnacpr": "conflicting", "plan_version": "abc", "n": [1, {"b": 2, "a": 1}]});
        signer.sign_summary(&mut summary);
        assert_eq!(summary["signature"]["key_id"], stored.key_id);
        verify_summary(&stored.public_hex, &summary).unwrap();

        let mut tampered = summary.clone();
        tampered["dnacpr"] = json!("do_not_attempt_cpr");
        assert!(matches!(
            verify_summary(&stored.public_hex, &tampered),
            Err(VerifyError::Mismatch)
        ));
        let other = generate(2);
        assert!(matches!(
            verify_summary(&other.public_hex, &summary),
            Err(VerifyError::Mismatch)
        ));
        let mut unsigned = summary.clone();
        unsigned.as_object_mut().unwrap().remove("signature");
        assert!(matches!(
            verify_summary(&stored.public_hex, &unsigned),
            Err(VerifyError::Missing)
        ));
    }

    #[test]
    fn the_canonical_form_sorts_keys_and_leaves_out_the_signature() {
        let v = json!({"b": {"y": 1, "x": "é"}, "a": [2, 1], "signature": {"value": "x"}});
        assert_eq!(
            String::from_utf8(canonical_bytes(&v)).unwrap(),
            r#"{"a":[2,1],"b":{"x":"é","y":1}}"#
        );
    }
}
