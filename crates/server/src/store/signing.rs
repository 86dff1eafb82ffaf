//! The keys that sign emergency summaries.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, with_pool};

/// A signing key as stored.
#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    pub key_id: String,
    pub secret_hex: String,
    pub public_hex: String,
    pub created_at_ms: i64,
    pub retired_at_ms: Option<i64>,
}

impl Store {
    /// Every signing key, newest first.
    pub async fn signing_keys(&self) -> anyhow::Result<Vec<StoredSigningKey>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT key_id, secret_hex, public_hex, created_at_ms, retired_at_ms
                 FROM signing_keys ORDER BY created_at_ms DESC, key_id",
            )
            .fetch_all(pool)
            .await
            .context("reading signing keys")?;
            rows.iter()
                .map(|r| {
                    Ok(StoredSigningKey {
                        key_id: r.try_get("key_id")?,
                        secret_hex: r.try_get("secret_hex")?,
                        public_hex: r.try_get("public_hex")?,
                        created_at_ms: r.try_get("created_at_ms")?,
                        retired_at_ms: r.try_get("retired_at_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Retires the active key (if any) and makes `key` the active one, atomically.
    pub async fn rotate_signing_key(&self, key: &StoredSigningKey) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a key rotation")?;
            sqlx::query("UPDATE signing_keys SET retired_at_ms = $1 WHERE retired_at_ms IS NULL")
                .bind(key.created_at_ms)
                .execute(&mut *tx)
                .await
                .context("retiring the signing key")?;
            sqlx::query(
                "INSERT INTO signing_keys (key_id, secret_hex, public_hex, created_at_ms)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&key.key_id)
            .bind(&key.secret_hex)
            .bind(&key.public_hex)
            .bind(key.created_at_ms)
            .execute(&mut *tx)
            .await
            .context("storing a signing key")?;
            tx.commit().await.context("committing a key rotation")
        })
    }
}
