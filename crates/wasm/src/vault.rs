//! Encryption at rest: WebCrypto glue for the device's data key.
//!
//! Everything the app stores about patients is sealed with AES-256-GCM under one random
//! *data key*. The data key is created by `crypto.subtle.generateKey`, wrapped (AES-GCM
//! again) under a *PIN key*, and only the wrapped form is stored. The PIN key is derived
//! from the user's PIN with PBKDF2-HMAC-SHA256:
//!
//! - [`PBKDF2_ITERATIONS`] = 600,000 iterations, OWASP's recommendation for
//!   PBKDF2-HMAC-SHA256 (Password Storage Cheat Sheet, 2023). The count is stored with
//!   the keyring, so a later build can raise it for new PINs without locking anyone out.
//! - a random 16-byte salt per keyring.
//!
//! PBKDF2 through WebCrypto was chosen over Argon2id in wasm because it runs natively
//! (unlocking, derivation and loading the caseload together, takes about half a second
//! in headless Chromium on this project's 2-core machines), needs no extra crate in the
//! wasm binary, and lets both keys be non-extractable `CryptoKey`s whose bytes never
//! enter wasm or JavaScript memory. The cost is that PBKDF2 is not memory-hard: a
//! six-digit PIN cannot resist an attacker who copies the database out of the browser
//! profile and tries all million PINs offline on GPUs. The five-attempt erase protects
//! against guessing through the app, not against that; full-disk encryption and device
//! management on the tablet remain part of the defence.
//!
//! Every seal uses a fresh random 96-bit nonce from `crypto.getRandomValues`; a data key
//! seals far fewer than the 2^32 messages NIST SP 800-38D allows for random nonces.
//! Additional authenticated data names the record (`redfolder/docs/<id>`), so a sealed value
//! copied to another key fails to open instead of showing the wrong patient's plan.

use std::future::Future;

use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, DomException, SubtleCrypto};

use crate::idb::js_error;

/// PBKDF2-HMAC-SHA256 work factor for new PINs (OWASP Password Storage Cheat Sheet).
pub(crate) const PBKDF2_ITERATIONS: u32 = 600_000;
/// Wrong PINs in a row after which the device erases its data.
pub(crate) const MAX_PIN_ATTEMPTS: u32 = 5;
/// The shortest PIN accepted: one million combinations rather than ten thousand.
pub(crate) const MIN_PIN_DIGITS: usize = 6;
const MAX_PIN_DIGITS: usize = 12;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
/// First byte of every sealed value: the format (AES-256-GCM, 12-byte nonce, 16-byte tag).
const SEALED_V1: u8 = 1;
const WRAP_AAD: &[u8] = b"redfolder/keyring/v1";

/// What is stored to recover the data key from a PIN. Nothing in it reveals the PIN
/// without running the key derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keyring {
    pub(crate) salt: Vec<u8>,
    pub(crate) iterations: u32,
    /// The data key sealed under the PIN key: nonce, then ciphertext and tag.
    pub(crate) wrapped: Vec<u8>,
    /// Unlock attempts that have not (yet) succeeded. It is raised *before* each
    /// attempt, so closing the app mid-attempt does not earn a free guess.
    pub(crate) failed_attempts: u32,
}

impl Keyring {
    pub(crate) fn attempts_left(&self) -> u32 {
        MAX_PIN_ATTEMPTS.saturating_sub(self.failed_attempts)
    }
}

/// The unwrapped data key. The `CryptoKey` is non-extractable: it can seal and open, but
/// its bytes cannot be read back out of the browser.
#[derive(Debug, Clone)]
pub(crate) struct DataKey {
    key: CryptoKey,
}

/// Checks the shape of a PIN (digits only, 6 to 12 of them).
pub(crate) fn check_pin(pin: &str) -> Result<(), String> {
    let digits = pin.chars().count();
    if pin.is_empty() || !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err("the PIN must be digits only".to_owned());
    }
    if digits < MIN_PIN_DIGITS {
        return Err(format!("the PIN must be at least {MIN_PIN_DIGITS} digits"));
    }
    if digits > MAX_PIN_DIGITS {
        return Err(format!("the PIN must be at most {MAX_PIN_DIGITS} digits"));
    }
    Ok(())
}

/// Makes a new data key protected by `pin`.
pub(crate) async fn create(pin: &str) -> Result<(Keyring, DataKey), JsValue> {
    check_pin(pin).map_err(|e| js_error(&e))?;
    let subtle = subtle()?;
    let salt = random(SALT_LEN)?;
    let pin_key = pin_key(&subtle, pin, &salt, PBKDF2_ITERATIONS).await?;
    // Extractable only so it can be wrapped; this handle is dropped once the
    // non-extractable copy has been unwrapped below.
    let fresh: CryptoKey = await_js(subtle.generate_key_with_object(
        &aes_gcm_256(),
        true,
        &usages(&["encrypt", "decrypt"]),
    )?)
    .await?
    .dyn_into()?;
    let nonce = random(NONCE_LEN)?;
    let ciphertext = await_js(subtle.wrap_key_with_object(
        "raw",
        &fresh,
        &pin_key,
        &gcm_params(&nonce, WRAP_AAD)?,
    )?)
    .await?;
    let mut wrapped = nonce;
    wrapped.extend(bytes_of(&ciphertext)?);
    let keyring = Keyring {
        salt,
        iterations: PBKDF2_ITERATIONS,
        wrapped,
        failed_attempts: 0,
    };
    let key = unwrap(&subtle, &keyring, &pin_key)
        .await?
        .ok_or_else(|| js_error("the new data key could not be unwrapped"))?;
    Ok((keyring, key))
}

/// The data key, or `None` if `pin` is not the PIN the keyring was made with.
pub(crate) async fn open_keyring(keyring: &Keyring, pin: &str) -> Result<Option<DataKey>, JsValue> {
    let subtle = subtle()?;
    let pin_key = pin_key(&subtle, pin, &keyring.salt, keyring.iterations).await?;
    unwrap(&subtle, keyring, &pin_key).await
}

impl DataKey {
    /// Encrypts `plaintext` bound to `record`. The bytes are copied by WebCrypto before
    /// this returns, so the caller may reuse them at once.
    pub(crate) fn seal(
        &self,
        plaintext: &[u8],
        record: &str,
    ) -> impl Future<Output = Result<Vec<u8>, JsValue>> + use<> {
        let started = (|| {
            let nonce = random(NONCE_LEN)?;
            let promise = subtle()?.encrypt_with_object_and_u8_array(
                &gcm_params(&nonce, record.as_bytes())?,
                &self.key,
                plaintext,
            )?;
            Ok::<_, JsValue>((nonce, JsFuture::from(promise)))
        })();
        async move {
            let (nonce, encrypted) = started?;
            let ciphertext = encrypted.await?;
            let mut sealed = Vec::with_capacity(1 + NONCE_LEN + 16);
            sealed.push(SEALED_V1);
            sealed.extend(nonce);
            sealed.extend(bytes_of(&ciphertext)?);
            Ok(sealed)
        }
    }

    /// Decrypts what [`DataKey::seal`] made for the same `record`.
    pub(crate) fn open(
        &self,
        sealed: &[u8],
        record: &str,
    ) -> impl Future<Output = Result<Vec<u8>, JsValue>> + use<> {
        let started = (|| {
            let (nonce, ciphertext) = split_sealed(sealed)?;
            let promise = subtle()?.decrypt_with_object_and_u8_array(
                &gcm_params(nonce, record.as_bytes())?,
                &self.key,
                ciphertext,
            )?;
            Ok::<_, JsValue>(JsFuture::from(promise))
        })();
        async move {
            let plain = started?
                .await
                .map_err(|_| js_error("stored data failed its integrity check"))?;
            bytes_of(&plain)
        }
    }
}

fn split_sealed(sealed: &[u8]) -> Result<(&[u8], &[u8]), JsValue> {
    match sealed.split_first() {
        Some((&SEALED_V1, rest)) if rest.len() >= NONCE_LEN + 16 => Ok(rest.split_at(NONCE_LEN)),
        Some((&SEALED_V1, _)) => Err(js_error("stored data is truncated")),
        _ => Err(js_error("stored data is not in a known sealed format")),
    }
}

async fn pin_key(
    subtle: &SubtleCrypto,
    pin: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<CryptoKey, JsValue> {
    let material: CryptoKey = await_js(subtle.import_key_with_str(
        "raw",
        &Uint8Array::from(pin.as_bytes()),
        "PBKDF2",
        false,
        &usages(&["deriveKey"]),
    )?)
    .await?
    .dyn_into()?;
    let params = object(&[
        ("name", "PBKDF2".into()),
        ("hash", "SHA-256".into()),
        ("salt", Uint8Array::from(salt).into()),
        ("iterations", iterations.into()),
    ])?;
    await_js(subtle.derive_key_with_object_and_object(
        &params,
        &material,
        &aes_gcm_256(),
        false,
        &usages(&["wrapKey", "unwrapKey"]),
    )?)
    .await?
    .dyn_into()
}

async fn unwrap(
    subtle: &SubtleCrypto,
    keyring: &Keyring,
    pin_key: &CryptoKey,
) -> Result<Option<DataKey>, JsValue> {
    if keyring.wrapped.len() < NONCE_LEN + 16 {
        return Err(js_error("the stored keyring is damaged"));
    }
    let (nonce, ciphertext) = keyring.wrapped.split_at(NONCE_LEN);
    let promise = subtle.unwrap_key_with_u8_array_and_object_and_object(
        "raw",
        ciphertext,
        pin_key,
        &gcm_params(nonce, WRAP_AAD)?,
        &object(&[("name", "AES-GCM".into())])?,
        false,
        &usages(&["encrypt", "decrypt"]),
    )?;
    match JsFuture::from(promise).await {
        Ok(key) => Ok(Some(DataKey {
            key: key.dyn_into()?,
        })),
        // A wrong PIN derives a different key, so the GCM tag does not verify.
        Err(e)
            if e.dyn_ref::<DomException>().map(|d| d.name()).as_deref()
                == Some("OperationError") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let window = web_sys::window().ok_or_else(|| js_error("no window"))?;
    let subtle = window.crypto()?.subtle();
    // `crypto.subtle` only exists in a secure context (https, or localhost).
    if JsValue::from(subtle.clone()).is_undefined() {
        return Err(js_error(
            "this page is not on a secure (https) connection, so it cannot encrypt data",
        ));
    }
    Ok(subtle)
}

pub(crate) fn random(len: usize) -> Result<Vec<u8>, JsValue> {
    let window = web_sys::window().ok_or_else(|| js_error("no window"))?;
    let mut bytes = vec![0u8; len];
    window
        .crypto()?
        .get_random_values_with_u8_array(&mut bytes)?;
    Ok(bytes)
}

fn aes_gcm_256() -> Object {
    let o = Object::new();
    let _ = Reflect::set(&o, &"name".into(), &"AES-GCM".into());
    let _ = Reflect::set(&o, &"length".into(), &256.into());
    o
}

fn gcm_params(nonce: &[u8], aad: &[u8]) -> Result<Object, JsValue> {
    object(&[
        ("name", "AES-GCM".into()),
        ("iv", Uint8Array::from(nonce).into()),
        ("additionalData", Uint8Array::from(aad).into()),
        ("tagLength", 128.into()),
    ])
}

fn object(fields: &[(&str, JsValue)]) -> Result<Object, JsValue> {
    let o = Object::new();
    for (name, value) in fields {
        Reflect::set(&o, &(*name).into(), value)?;
    }
    Ok(o)
}

fn usages(names: &[&str]) -> JsValue {
    names
        .iter()
        .map(|n| JsValue::from_str(n))
        .collect::<Array>()
        .into()
}

fn bytes_of(value: &JsValue) -> Result<Vec<u8>, JsValue> {
    let buffer: &ArrayBuffer = value
        .dyn_ref()
        .ok_or_else(|| js_error("WebCrypto returned no bytes"))?;
    Ok(Uint8Array::new(buffer).to_vec())
}

fn await_js(promise: js_sys::Promise) -> JsFuture {
    JsFuture::from(promise)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_split_into_nonce_and_ciphertext() {
        let mut sealed = vec![SEALED_V1];
        sealed.extend([7u8; NONCE_LEN]);
        sealed.extend([9u8; 20]);
        let (nonce, ct) = split_sealed(&sealed).unwrap();
        assert_eq!(nonce, &[7u8; NONCE_LEN]);
        assert_eq!(ct.len(), 20);
    }

    #[test]
    fn pins_are_six_to_twelve_digits() {
        for (pin, ok) in [
            ("123456", true),
            ("123456789012", true),
            ("12345", false),
            ("1234567890123", false),
            ("12345a", false),
            ("", false),
            ("１２３４５６", false),
        ] {
            assert_eq!(check_pin(pin).is_ok(), ok, "{pin:?}");
        }
    }

    #[test]
    fn keyring_counts_down_attempts() {
        let mut k = Keyring {
            salt: vec![],
            iterations: PBKDF2_ITERATIONS,
            wrapped: vec![],
            failed_attempts: 0,
        };
        assert_eq!(k.attempts_left(), 5);
        k.failed_attempts = 4;
        assert_eq!(k.attempts_left(), 1);
        k.failed_attempts = 9;
        assert_eq!(k.attempts_left(), 0);
    }
}
