//! MDT meetings as members from other organisations see them, and how long meetings ran.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::AuditEvent;

/// A meeting an MDT member was invited to: its practice and schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitedMeeting {
    pub id: String,
    pub practice: String,
    pub meeting_date: String,
    pub duration_minutes: Option<i64>,
    pub held: bool,
}

/// A patient listed for a meeting, as the meeting's patient list names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPatient {
    pub patient_id: String,
    pub organisation_id: String,
    pub name: String,
    pub nhs_number: String,
    pub share_with_mdt: bool,
}

/// Someone invited to a meeting from another organisation, as the practice's meeting
/// lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InvitedMember {
    pub username: String,
    pub name: String,
    pub organisation: String,
    pub invited_at_ms: i64,
}

impl Store {
    /// Who is invited to a meeting, in the order they were invited.
    pub async fn mdt_members(&self, meeting_id: &str) -> anyhow::Result<Vec<InvitedMember>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT u.username, u.name, o.name AS organisation, i.invited_at_ms
                 FROM mdt_meeting_members i
                 JOIN users u ON u.id = i.user_id
                 JOIN organisations o ON o.id = u.organisation_id
                 WHERE i.meeting_id = $1
                 ORDER BY i.invited_at_ms, u.username",
            )
            .bind(meeting_id)
            .fetch_all(pool)
            .await
            .context("reading who is invited to a meeting")?;
            rows.iter()
                .map(|r| {
                    Ok(InvitedMember {
                        username: r.try_get("username")?,
                        name: r.try_get("name")?,
                        organisation: r.try_get("organisation")?,
                        invited_at_ms: r.try_get("invited_at_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Invites a user to a meeting; false if already invited.
    pub async fn invite_mdt_member(
        &self,
        meeting_id: &str,
        user_id: &str,
        invited_by: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query(
                "INSERT INTO mdt_meeting_members (meeting_id, user_id, invited_by, invited_at_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(meeting_id)
            .bind(user_id)
            .bind(invited_by)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("inviting an MDT member")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing an MDT invitation")?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Records how long a meeting ran.
    pub async fn record_mdt_duration(
        &self,
        meeting_id: &str,
        minutes: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query("UPDATE mdt_meetings SET duration_minutes = $1 WHERE id = $2")
                .bind(minutes)
                .bind(meeting_id)
                .execute(&mut *tx)
                .await
                .context("recording an MDT meeting's duration")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing an MDT meeting's duration")?;
            Ok(())
        })
    }

    /// The meetings a user was invited to, dated `from` onwards, soonest first.
    pub async fn invited_mdt_meetings(
        &self,
        user_id: &str,
        from: &str,
    ) -> anyhow::Result<Vec<InvitedMeeting>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT m.id, o.name AS practice, m.meeting_date, m.duration_minutes, m.held
                 FROM mdt_meeting_members i
                 JOIN mdt_meetings m ON m.id = i.meeting_id
                 JOIN organisations o ON o.id = m.organisation_id
                 WHERE i.user_id = $1 AND m.meeting_date >= $2
                 ORDER BY m.meeting_date, m.id",
            )
            .bind(user_id)
            .bind(from)
            .fetch_all(pool)
            .await
            .context("reading a member's MDT meetings")?;
            rows.iter()
                .map(|r| {
                    Ok(InvitedMeeting {
                        id: r.try_get("id")?,
                        practice: r.try_get("practice")?,
                        meeting_date: r.try_get("meeting_date")?,
                        duration_minutes: r.try_get("duration_minutes")?,
                        held: r.try_get("held")?,
                    })
                })
                .collect()
        })
    }

    /// The patients listed for a meeting, with their name and NHS number.
    pub async fn listed_patients(&self, meeting_id: &str) -> anyhow::Result<Vec<ListedPatient>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT p.id, p.organisation_id, p.name, p.nhs_number, p.share_with_mdt
                 FROM mdt_meeting_patients l JOIN patients p ON p.id = l.patient_id
                 WHERE l.meeting_id = $1 ORDER BY l.listed_at_ms, p.id",
            )
            .bind(meeting_id)
            .fetch_all(pool)
            .await
            .context("reading a meeting's patient list")?;
            rows.iter()
                .map(|r| {
                    Ok(ListedPatient {
                        patient_id: r.try_get("id")?,
                        organisation_id: r.try_get("organisation_id")?,
                        name: r.try_get("name")?,
                        nhs_number: r.try_get("nhs_number")?,
                        share_with_mdt: r.try_get("share_with_mdt")?,
                    })
                })
                .collect()
        })
    }
}
