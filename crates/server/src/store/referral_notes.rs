//! What surrounds a referral's review: the reviewer's education notes to a practice, and
//! the documents a referral arrived with. Writes carry their audit events into the same
//! transaction.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::AuditEvent;

/// An education note as stored, with the practice it was written to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EducationNote {
    pub id: String,
    pub practice_code: String,
    pub practice_name: String,
    pub author_name: String,
    pub specialty: String,
    /// The condition it is about, where it is about one.
    pub condition: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at_ms: i64,
}

/// An education note to store.
#[derive(Debug, Clone)]
pub struct NewEducationNote<'a> {
    pub organisation_id: &'a str,
    pub author_id: &'a str,
    pub author_name: &'a str,
    pub specialty: &'a str,
    pub condition: Option<&'a str>,
    pub title: &'a str,
    pub body: &'a str,
    pub now_ms: i64,
}

/// A document that came with a referral, without its content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AttachmentInfo {
    /// Its number on the referral, from 1: `GET /referrals/{id}/attachments/{seq}`.
    pub seq: i64,
    pub title: String,
    pub content_type: String,
    /// Bytes.
    pub size: i64,
}

/// A document to keep with a new referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub title: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Whom to list notes for.
#[derive(Debug, Clone, Copy)]
pub enum NotesFor<'a> {
    /// Notes written to this practice (organisation id).
    Practice(&'a str),
    /// Notes this reviewer (user id) wrote.
    Author(&'a str),
    /// Every note.
    All,
}

impl Store {
    /// Stores an education note; its id.
    pub async fn add_education_note(
        &self,
        note: &NewEducationNote<'_>,
        audit: &[AuditEvent],
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO referral_education_notes (id, organisation_id, author_id,
                     author_name, specialty, condition, title, body, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(note.organisation_id)
            .bind(note.author_id)
            .bind(note.author_name)
            .bind(note.specialty)
            .bind(note.condition)
            .bind(note.title)
            .bind(note.body)
            .bind(note.now_ms)
            .execute(&mut *tx)
            .await
            .context("storing an education note")?;
            let audit: Vec<AuditEvent> =
                audit.iter().cloned().map(|e| e.subject(id.clone())).collect();
            append_audit!(tx, &audit);
            tx.commit().await.context("committing an education note")?;
            Ok(id)
        })
    }

    /// Education notes, newest first, at most `limit`.
    pub async fn education_notes(
        &self,
        who: NotesFor<'_>,
        limit: i64,
    ) -> anyhow::Result<Vec<EducationNote>> {
        // One static statement: an empty parameter leaves its filter out.
        let (practice, author) = match who {
            NotesFor::Practice(org) => (org, ""),
            NotesFor::Author(user) => ("", user),
            NotesFor::All => ("", ""),
        };
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT n.id, o.code AS practice_code, o.name AS practice_name, n.author_name,
                     n.specialty, n.condition, n.title, n.body, n.created_at_ms
                 FROM referral_education_notes n JOIN organisations o ON o.id = n.organisation_id
                 WHERE ($1 = '' OR n.organisation_id = $1) AND ($2 = '' OR n.author_id = $2)
                 ORDER BY n.created_at_ms DESC, n.id LIMIT $3",
            )
            .bind(practice)
            .bind(author)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("listing education notes")?;
            rows.iter()
                .map(|r| {
                    Ok(EducationNote {
                        id: r.try_get("id")?,
                        practice_code: r.try_get("practice_code")?,
                        practice_name: r.try_get("practice_name")?,
                        author_name: r.try_get("author_name")?,
                        specialty: r.try_get("specialty")?,
                        condition: r.try_get("condition")?,
                        title: r.try_get("title")?,
                        body: r.try_get("body")?,
                        created_at_ms: r.try_get("created_at_ms")?,
                    })
                })
                .collect()
        })
    }

    /// The documents a referral came with, in order, without their content.
    pub async fn referral_attachments(
        &self,
        referral_id: &str,
    ) -> anyhow::Result<Vec<AttachmentInfo>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT seq, title, content_type, CAST(LENGTH(data) AS BIGINT) AS size
                 FROM referral_attachments WHERE referral_id = $1 ORDER BY seq",
            )
            .bind(referral_id)
            .fetch_all(pool)
            .await
            .context("listing a referral's attachments")?;
            rows.iter()
                .map(|r| {
                    Ok(AttachmentInfo {
                        seq: r.try_get("seq")?,
                        title: r.try_get("title")?,
                        content_type: r.try_get("content_type")?,
                        size: r.try_get::<i64, _>("size")?,
                    })
                })
                .collect()
        })
    }

    /// One document a referral came with: its content type and bytes.
    pub async fn referral_attachment(
        &self,
        referral_id: &str,
        seq: i64,
    ) -> anyhow::Result<Option<(AttachmentInfo, Vec<u8>)>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT seq, title, content_type, data FROM referral_attachments
                 WHERE referral_id = $1 AND seq = $2",
            )
            .bind(referral_id)
            .bind(seq)
            .fetch_optional(pool)
            .await
            .context("reading a referral's attachment")?;
            row.map(|r| {
                let data: Vec<u8> = r.try_get("data")?;
                Ok((
                    AttachmentInfo {
                        seq: r.try_get("seq")?,
                        title: r.try_get("title")?,
                        content_type: r.try_get("content_type")?,
                        size: i64::try_from(data.len()).unwrap_or(i64::MAX),
                    },
                    data,
                ))
            })
            .transpose()
        })
    }
}
