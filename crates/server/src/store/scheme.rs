//! The case management scheme: list sizes, risk-tool uploads, exclusions, MDT meetings
//! and virtual clinics (closing one, the advice worklist; the rest is in `clinics.rs`).
//! Every write carries its audit events into the same transaction.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::AuditEvent;
use crate::scheme::rules::RiskRow;

/// A practice's list size as recorded on a day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ListSize {
    pub list_size: i64,
    pub as_of: String,
    pub recorded_at_ms: i64,
}

/// One accepted risk-tool upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RiskUpload {
    pub id: String,
    pub uploaded_at_ms: i64,
    pub uploaded_by: String,
    pub row_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Exclusion {
    pub id: String,
    pub nhs_number: String,
    pub reason: String,
    pub recorded_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MdtMeeting {
    pub id: String,
    pub meeting_date: String,
    pub scheduled_at_ms: i64,
    pub held: bool,
    /// How long the meeting ran, once recorded.
    pub duration_minutes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MdtAttendee {
    pub name: String,
    pub core_role: String,
    pub organisation: String,
    pub signed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MdtPatient {
    pub patient_id: String,
    pub listed_at_ms: i64,
    pub outcome: Option<String>,
    pub referrals: Option<String>,
}

/// Advice a specialist added in a virtual clinic, for the case managers' worklist. It is
/// read from the audit entry committed with the advice, so the list and the plans agree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClinicAdvice {
    pub patient_id: String,
    pub patient_name: String,
    pub nhs_number: String,
    pub clinic_id: String,
    pub advice_id: String,
    pub specialist: String,
    pub at_ms: i64,
}

impl Store {
    /// The ids of every patient registered at a practice.
    pub async fn practice_patient_ids(&self, organisation_id: &str) -> anyhow::Result<Vec<String>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id FROM patients WHERE organisation_id = $1 ORDER BY id")
                .bind(organisation_id)
                .fetch_all(pool)
                .await
                .context("listing a practice's patients")?;
            rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
        })
    }

    /// Whether a patient id is registered at a practice.
    pub async fn has_patient_id(
        &self,
        organisation_id: &str,
        patient_id: &str,
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM patients WHERE organisation_id = $1 AND id = $2")
                .bind(organisation_id)
                .bind(patient_id)
                .fetch_one(pool)
                .await
                .context("looking up a patient")?;
            Ok(row.try_get::<i64, _>("n")? > 0)
        })
    }

    pub async fn record_list_size(
        &self,
        organisation_id: &str,
        list_size: i64,
        as_of: &str,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO practice_list_sizes (id, organisation_id, list_size, as_of, recorded_by, recorded_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(organisation_id)
            .bind(list_size)
            .bind(as_of)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("recording a list size")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing a list size")?;
            Ok(())
        })
    }

    /// The practice's list size on `on` (`YYYY-MM-DD`): the latest recorded as of that day
    /// or earlier, or failing that the earliest recorded.
    pub async fn list_size(
        &self,
        organisation_id: &str,
        on: &str,
    ) -> anyhow::Result<Option<ListSize>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT list_size, as_of, recorded_at_ms FROM practice_list_sizes
                 WHERE organisation_id = $1
                 ORDER BY CASE WHEN as_of <= $2 THEN 0 ELSE 1 END,
                          CASE WHEN as_of <= $2 THEN as_of END DESC,
                          as_of, recorded_at_ms DESC
                 LIMIT 1",
            )
            .bind(organisation_id)
            .bind(on)
            .fetch_optional(pool)
            .await
            .context("reading a list size")?;
            row.map(|r| {
                Ok(ListSize {
                    list_size: r.try_get("list_size")?,
                    as_of: r.try_get("as_of")?,
                    recorded_at_ms: r.try_get("recorded_at_ms")?,
                })
            })
            .transpose()
        })
    }

    /// Stores an accepted upload (all its rows) in one transaction.
    pub async fn save_risk_upload(
        &self,
        organisation_id: &str,
        user_id: &str,
        rows: &[RiskRow],
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO risk_uploads (id, organisation_id, uploaded_by, uploaded_at_ms, row_count)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(organisation_id)
            .bind(user_id)
            .bind(now_ms)
            .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .context("recording a risk upload")?;
            for row in rows {
                sqlx::query(
                    "INSERT INTO risk_scores (upload_id, line, nhs_number, risk_score, risk_level, as_of)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(i64::try_from(row.line).unwrap_or(i64::MAX))
                .bind(&row.nhs_number)
                .bind(row.risk_score)
                .bind(i64::from(row.risk_level))
                .bind(&row.as_of)
                .execute(&mut *tx)
                .await
                .context("recording a risk score")?;
            }
            append_audit!(tx, audit);
            tx.commit().await.context("committing a risk upload")?;
            Ok(id)
        })
    }

    /// Every accepted upload of a practice, newest first.
    pub async fn risk_uploads(&self, organisation_id: &str) -> anyhow::Result<Vec<RiskUpload>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, uploaded_at_ms, uploaded_by, row_count FROM risk_uploads
                 WHERE organisation_id = $1 ORDER BY uploaded_at_ms DESC, id DESC",
            )
            .bind(organisation_id)
            .fetch_all(pool)
            .await
            .context("listing risk uploads")?;
            rows.iter()
                .map(|r| {
                    Ok(RiskUpload {
                        id: r.try_get("id")?,
                        uploaded_at_ms: r.try_get("uploaded_at_ms")?,
                        uploaded_by: r.try_get("uploaded_by")?,
                        row_count: r.try_get("row_count")?,
                    })
                })
                .collect()
        })
    }

    pub async fn risk_rows(&self, upload_id: &str) -> anyhow::Result<Vec<RiskRow>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT line, nhs_number, risk_score, risk_level, as_of FROM risk_scores
                 WHERE upload_id = $1 ORDER BY line",
            )
            .bind(upload_id)
            .fetch_all(pool)
            .await
            .context("reading risk scores")?;
            rows.iter()
                .map(|r| {
                    Ok(RiskRow {
                        line: usize::try_from(r.try_get::<i64, _>("line")?).unwrap_or(0),
                        nhs_number: r.try_get("nhs_number")?,
                        risk_score: r.try_get("risk_score")?,
                        risk_level: u8::try_from(r.try_get::<i64, _>("risk_level")?).unwrap_or(0),
                        as_of: r.try_get("as_of")?,
                    })
                })
                .collect()
        })
    }

    pub async fn add_exclusion(
        &self,
        organisation_id: &str,
        nhs_number: &str,
        reason: &str,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO scheme_exclusions (id, organisation_id, nhs_number, reason, recorded_by, recorded_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(organisation_id)
            .bind(nhs_number)
            .bind(reason)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("recording an exclusion")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing an exclusion")?;
            Ok(id)
        })
    }

    /// Lifts an exclusion of this practice; false if there was no such live exclusion.
    pub async fn lift_exclusion(
        &self,
        organisation_id: &str,
        id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query(
                "UPDATE scheme_exclusions SET lifted_at_ms = $1
                 WHERE id = $2 AND organisation_id = $3 AND lifted_at_ms IS NULL",
            )
            .bind(now_ms)
            .bind(id)
            .bind(organisation_id)
            .execute(&mut *tx)
            .await
            .context("lifting an exclusion")?;
            if done.rows_affected() > 0 {
                append_audit!(tx, audit);
            }
            tx.commit().await.context("committing an exclusion")?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The practice's live exclusions, oldest first.
    pub async fn exclusions(&self, organisation_id: &str) -> anyhow::Result<Vec<Exclusion>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, nhs_number, reason, recorded_at_ms FROM scheme_exclusions
                 WHERE organisation_id = $1 AND lifted_at_ms IS NULL ORDER BY recorded_at_ms, id",
            )
            .bind(organisation_id)
            .fetch_all(pool)
            .await
            .context("reading exclusions")?;
            rows.iter()
                .map(|r| {
                    Ok(Exclusion {
                        id: r.try_get("id")?,
                        nhs_number: r.try_get("nhs_number")?,
                        reason: r.try_get("reason")?,
                        recorded_at_ms: r.try_get("recorded_at_ms")?,
                    })
                })
                .collect()
        })
    }

    // ---- MDT meetings ----

    pub async fn create_mdt_meeting(
        &self,
        organisation_id: &str,
        meeting_date: &str,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO mdt_meetings (id, organisation_id, meeting_date, scheduled_by, scheduled_at_ms, held)
                 VALUES ($1, $2, $3, $4, $5, FALSE)",
            )
            .bind(&id)
            .bind(organisation_id)
            .bind(meeting_date)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("scheduling an MDT meeting")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing an MDT meeting")?;
            Ok(id)
        })
    }

    /// A practice's meetings with dates from `from` to `to` inclusive (`YYYY-MM-DD`).
    pub async fn mdt_meetings(
        &self,
        organisation_id: &str,
        from: &str,
        to: &str,
    ) -> anyhow::Result<Vec<MdtMeeting>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, meeting_date, scheduled_at_ms, held, duration_minutes FROM mdt_meetings
                 WHERE organisation_id = $1 AND meeting_date >= $2 AND meeting_date <= $3
                 ORDER BY meeting_date, id",
            )
            .bind(organisation_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
            .context("listing MDT meetings")?;
            rows.iter().map(meeting_row).collect()
        })
    }

    pub async fn mdt_meeting(
        &self,
        organisation_id: &str,
        id: &str,
    ) -> anyhow::Result<Option<MdtMeeting>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, meeting_date, scheduled_at_ms, held, duration_minutes FROM mdt_meetings
                 WHERE organisation_id = $1 AND id = $2",
            )
            .bind(organisation_id)
            .bind(id)
            .fetch_optional(pool)
            .await
            .context("reading an MDT meeting")?;
            row.as_ref().map(meeting_row).transpose()
        })
    }

    pub async fn mdt_attendance(&self, meeting_id: &str) -> anyhow::Result<Vec<MdtAttendee>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT name, core_role, organisation, signed FROM mdt_attendance
                 WHERE meeting_id = $1 ORDER BY recorded_at_ms, name",
            )
            .bind(meeting_id)
            .fetch_all(pool)
            .await
            .context("reading MDT attendance")?;
            rows.iter()
                .map(|r| {
                    Ok(MdtAttendee {
                        name: r.try_get("name")?,
                        core_role: r.try_get("core_role")?,
                        organisation: r.try_get("organisation")?,
                        signed: r.try_get("signed")?,
                    })
                })
                .collect()
        })
    }

    pub async fn mdt_patients(&self, meeting_id: &str) -> anyhow::Result<Vec<MdtPatient>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT patient_id, listed_at_ms, outcome, referrals FROM mdt_meeting_patients
                 WHERE meeting_id = $1 ORDER BY listed_at_ms, patient_id",
            )
            .bind(meeting_id)
            .fetch_all(pool)
            .await
            .context("reading MDT patients")?;
            rows.iter()
                .map(|r| {
                    Ok(MdtPatient {
                        patient_id: r.try_get("patient_id")?,
                        listed_at_ms: r.try_get("listed_at_ms")?,
                        outcome: r.try_get("outcome")?,
                        referrals: r.try_get("referrals")?,
                    })
                })
                .collect()
        })
    }

    /// Records (or corrects) one attendee's signature and marks the meeting held.
    pub async fn record_mdt_attendance(
        &self,
        meeting_id: &str,
        attendee: &MdtAttendee,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO mdt_attendance (meeting_id, name, core_role, organisation, signed, recorded_by, recorded_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (meeting_id, name) DO UPDATE SET core_role = excluded.core_role,
                    organisation = excluded.organisation, signed = excluded.signed,
                    recorded_by = excluded.recorded_by, recorded_at_ms = excluded.recorded_at_ms",
            )
            .bind(meeting_id)
            .bind(&attendee.name)
            .bind(&attendee.core_role)
            .bind(&attendee.organisation)
            .bind(attendee.signed)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("recording MDT attendance")?;
            sqlx::query("UPDATE mdt_meetings SET held = TRUE WHERE id = $1")
                .bind(meeting_id)
                .execute(&mut *tx)
                .await
                .context("marking an MDT meeting held")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing MDT attendance")?;
            Ok(())
        })
    }

    /// Lists a patient for discussion; false if already listed.
    pub async fn list_mdt_patient(
        &self,
        meeting_id: &str,
        patient_id: &str,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query(
                "INSERT INTO mdt_meeting_patients (meeting_id, patient_id, listed_by, listed_at_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(meeting_id)
            .bind(patient_id)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("listing a patient for MDT")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing an MDT listing")?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Records the outcome of a listed patient's discussion; false if not listed.
    pub async fn record_mdt_outcome(
        &self,
        meeting_id: &str,
        patient_id: &str,
        outcome: &str,
        referrals: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query(
                "UPDATE mdt_meeting_patients SET outcome = $1, referrals = $2, outcome_at_ms = $3
                 WHERE meeting_id = $4 AND patient_id = $5",
            )
            .bind(outcome)
            .bind(referrals)
            .bind(now_ms)
            .bind(meeting_id)
            .bind(patient_id)
            .execute(&mut *tx)
            .await
            .context("recording an MDT outcome")?;
            if done.rows_affected() > 0 {
                append_audit!(tx, audit);
            }
            tx.commit().await.context("committing an MDT outcome")?;
            Ok(done.rows_affected() > 0)
        })
    }

    // ---- virtual clinics ----

    /// Ends a clinic of `organisation_id` now, unless it has ended already; returns when
    /// its access ends (or ended), or `None` if the practice has no such clinic.
    pub async fn close_virtual_clinic(
        &self,
        id: &str,
        organisation_id: &str,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<Option<i64>> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "UPDATE virtual_clinics SET closes_at_ms = $3, closed_at_ms = $3, closed_by = $4
                 WHERE id = $1 AND organisation_id = $2 AND closes_at_ms > $3",
            )
            .bind(id)
            .bind(organisation_id)
            .bind(now_ms)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .context("closing a virtual clinic")?;
            let row = sqlx::query(
                "SELECT closes_at_ms FROM virtual_clinics WHERE id = $1 AND organisation_id = $2",
            )
            .bind(id)
            .bind(organisation_id)
            .fetch_optional(&mut *tx)
            .await
            .context("reading a virtual clinic")?;
            let Some(row) = row else {
                return Ok(None);
            };
            append_audit!(tx, audit);
            tx.commit().await.context("committing a closed virtual clinic")?;
            Ok(Some(row.try_get::<i64, _>("closes_at_ms")?))
        })
    }
}

impl Store {
    /// Advice added in virtual clinics to the plans of `organisation_id` since `since_ms`,
    /// newest first, at most `limit`.
    pub async fn clinic_advice(
        &self,
        organisation_id: &str,
        since_ms: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<ClinicAdvice>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT a.patient_id, p.name, p.nhs_number, a.subject, a.detail, a.username, a.at_ms
                 FROM audit_log a JOIN patients p ON p.id = a.patient_id
                 WHERE a.action = $1 AND a.outcome = 'advice' AND p.organisation_id = $2
                   AND a.at_ms >= $3
                 ORDER BY a.seq DESC LIMIT $4",
            )
            .bind(CLINIC_ACTION)
            .bind(organisation_id)
            .bind(since_ms)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("reading virtual clinic advice")?;
            rows.iter()
                .map(|r| {
                    Ok(ClinicAdvice {
                        patient_id: r.try_get("patient_id")?,
                        patient_name: r.try_get("name")?,
                        nhs_number: r.try_get("nhs_number")?,
                        clinic_id: r.try_get("subject")?,
                        advice_id: r.try_get("detail")?,
                        specialist: r.try_get::<Option<String>, _>("username")?.unwrap_or_default(),
                        at_ms: r.try_get("at_ms")?,
                    })
                })
                .collect()
        })
    }
}

/// The audit action under which virtual clinic activity is logged.
pub const CLINIC_ACTION: &str = "scheme.virtual_clinic";

fn meeting_row<R: Row>(r: &R) -> anyhow::Result<MdtMeeting>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(MdtMeeting {
        id: r.try_get("id")?,
        meeting_date: r.try_get("meeting_date")?,
        scheduled_at_ms: r.try_get("scheduled_at_ms")?,
        held: r.try_get("held")?,
        duration_minutes: r.try_get("duration_minutes")?,
    })
}
