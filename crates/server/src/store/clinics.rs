//! Virtual clinics (seed 004): scheduling, the patients chosen, their pre-clinic
//! readings, the specialist's outcome for each, education sessions, and the rows the
//! metrics count. Every write carries its audit events into the same transaction.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::AuditEvent;

/// A clinic as the access rules and the screens need it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct VirtualClinic {
    pub id: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub specialist_id: String,
    pub specialist_name: String,
    pub specialist_username: String,
    pub specialty: String,
    /// `YYYY-MM-DD`.
    pub clinic_date: String,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
    /// When the practice closed it, if it did.
    pub closed_at_ms: Option<i64>,
    pub patient_ids: Vec<String>,
}

/// What scheduling a clinic stores.
#[derive(Debug)]
pub struct NewClinic<'a> {
    pub organisation_id: &'a str,
    pub specialist_id: &'a str,
    pub specialty: &'a str,
    pub clinic_date: &'a str,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
    pub patient_ids: &'a [String],
    pub created_by: &'a str,
    pub now_ms: i64,
}

/// A patient on a clinic's list, with the outcome once the specialist records one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClinicPatient {
    pub patient_id: String,
    pub name: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    /// Whether the patient consents to sharing with the MDT now (without it the
    /// specialist reads nothing of theirs).
    pub share_with_mdt: bool,
    pub outcome: Option<ClinicOutcome>,
}

/// The specialist's outcome for one patient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClinicOutcome {
    /// `keep_in_practice`, `locality_clinic` or `refer_to_hub`.
    pub outcome: String,
    /// The plan the practice follows (keep in practice) or what the referral is for.
    pub plan: String,
    /// `YYYY-MM-DD`, when the practice follows the patient up.
    pub follow_up_on: Option<String>,
    pub recorded_by: String,
    pub recorded_at_ms: i64,
}

/// One pre-clinic reading.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClinicReadingRow {
    pub id: String,
    pub measure: String,
    pub value: String,
    /// `YYYY-MM-DD`.
    pub observed_on: String,
    /// `fhir` (imported from a GP system) or `typed` (entered by the practice).
    pub source: String,
    pub recorded_at_ms: i64,
}

/// An education session the specialist gave in a clinic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EducationSession {
    pub id: String,
    pub topic: String,
    /// Who attended, as recorded (names or roles).
    pub attendees: String,
    /// `YYYY-MM-DD`.
    pub session_date: String,
    pub recorded_at_ms: i64,
}

/// One clinic patient's outcome (or none yet), for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRow {
    pub organisation_code: String,
    pub organisation_name: String,
    pub specialty: String,
    pub clinic_id: String,
    /// `None` for a clinic with nobody on its list.
    pub patient_id: Option<String>,
    pub outcome: Option<String>,
}

/// The clinics query with a filter on `$1`: a literal, so SQL stays static.
macro_rules! clinics_where {
    ($filter:literal) => {
        concat!(
            "SELECT c.id, c.organisation_id, o.name AS organisation_name, c.specialist_id,
                u.name AS specialist_name, u.username AS specialist_username, c.specialty,
                c.clinic_date, c.opens_at_ms, c.closes_at_ms, c.closed_at_ms
             FROM virtual_clinics c JOIN organisations o ON o.id = c.organisation_id
             JOIN users u ON u.id = c.specialist_id
             WHERE ",
            $filter,
            " ORDER BY c.clinic_date DESC, c.created_at_ms DESC LIMIT 200"
        )
    };
}

impl Store {
    pub async fn create_virtual_clinic(
        &self,
        clinic: &NewClinic<'_>,
        audit: &[AuditEvent],
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO virtual_clinics (id, organisation_id, specialist_id, specialty, clinic_date,
                    opens_at_ms, closes_at_ms, created_by, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(clinic.organisation_id)
            .bind(clinic.specialist_id)
            .bind(clinic.specialty)
            .bind(clinic.clinic_date)
            .bind(clinic.opens_at_ms)
            .bind(clinic.closes_at_ms)
            .bind(clinic.created_by)
            .bind(clinic.now_ms)
            .execute(&mut *tx)
            .await
            .context("creating a virtual clinic")?;
            for patient_id in clinic.patient_ids {
                sqlx::query(
                    "INSERT INTO virtual_clinic_patients (clinic_id, patient_id) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(patient_id)
                .execute(&mut *tx)
                .await
                .context("listing a virtual clinic patient")?;
            }
            append_audit!(tx, audit);
            tx.commit().await.context("committing a virtual clinic")?;
            Ok(id)
        })
    }

    pub async fn virtual_clinic(&self, id: &str) -> anyhow::Result<Option<VirtualClinic>> {
        let clinics = self.clinics_where(clinics_where!("c.id = $1"), id).await?;
        Ok(clinics.into_iter().next())
    }

    /// A practice's clinics, newest first.
    pub async fn practice_clinics(
        &self,
        organisation_id: &str,
    ) -> anyhow::Result<Vec<VirtualClinic>> {
        self.clinics_where(clinics_where!("c.organisation_id = $1"), organisation_id)
            .await
    }

    /// The clinics a specialist is named for, newest first.
    pub async fn specialist_clinics(&self, user_id: &str) -> anyhow::Result<Vec<VirtualClinic>> {
        self.clinics_where(clinics_where!("c.specialist_id = $1"), user_id)
            .await
    }

    async fn clinics_where(
        &self,
        sql: &'static str,
        value: &str,
    ) -> anyhow::Result<Vec<VirtualClinic>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(value)
                .fetch_all(pool)
                .await
                .context("reading virtual clinics")?;
            let mut clinics = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: String = r.try_get("id")?;
                let patients = sqlx::query(
                    "SELECT patient_id FROM virtual_clinic_patients WHERE clinic_id = $1 ORDER BY patient_id",
                )
                .bind(&id)
                .fetch_all(pool)
                .await
                .context("reading a virtual clinic's patients")?;
                clinics.push(VirtualClinic {
                    id,
                    organisation_id: r.try_get("organisation_id")?,
                    organisation_name: r.try_get("organisation_name")?,
                    specialist_id: r.try_get("specialist_id")?,
                    specialist_name: r.try_get("specialist_name")?,
                    specialist_username: r.try_get("specialist_username")?,
                    specialty: r.try_get("specialty")?,
                    clinic_date: r.try_get("clinic_date")?,
                    opens_at_ms: r.try_get("opens_at_ms")?,
                    closes_at_ms: r.try_get("closes_at_ms")?,
                    closed_at_ms: r.try_get("closed_at_ms")?,
                    patient_ids: patients
                        .iter()
                        .map(|p| p.try_get("patient_id"))
                        .collect::<Result<_, _>>()?,
                });
            }
            Ok(clinics)
        })
    }

    /// Adds a patient to a clinic's list.
    pub async fn add_clinic_patient(
        &self,
        clinic_id: &str,
        patient_id: &str,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO virtual_clinic_patients (clinic_id, patient_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(clinic_id)
            .bind(patient_id)
            .execute(&mut *tx)
            .await
            .context("listing a virtual clinic patient")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing a virtual clinic patient")?;
            Ok(())
        })
    }

    /// The patients on a clinic's list with their outcomes, by name.
    pub async fn clinic_patients(&self, clinic_id: &str) -> anyhow::Result<Vec<ClinicPatient>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT p.id, p.name, p.nhs_number, p.date_of_birth, p.share_with_mdt,
                        o.outcome, o.plan, o.follow_up_on, u.name AS recorded_by, o.recorded_at_ms
                 FROM virtual_clinic_patients vp JOIN patients p ON p.id = vp.patient_id
                 LEFT JOIN virtual_clinic_outcomes o ON o.clinic_id = vp.clinic_id AND o.patient_id = vp.patient_id
                 LEFT JOIN users u ON u.id = o.recorded_by
                 WHERE vp.clinic_id = $1 ORDER BY p.name, p.id",
            )
            .bind(clinic_id)
            .fetch_all(pool)
            .await
            .context("reading a virtual clinic's patients")?;
            rows.iter()
                .map(|r| {
                    let outcome: Option<String> = r.try_get("outcome")?;
                    Ok(ClinicPatient {
                        patient_id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        nhs_number: r.try_get("nhs_number")?,
                        date_of_birth: r.try_get("date_of_birth")?,
                        share_with_mdt: r.try_get("share_with_mdt")?,
                        outcome: match outcome {
                            Some(outcome) => Some(ClinicOutcome {
                                outcome,
                                plan: r.try_get("plan")?,
                                follow_up_on: r.try_get("follow_up_on")?,
                                recorded_by: r.try_get::<Option<String>, _>("recorded_by")?.unwrap_or_default(),
                                recorded_at_ms: r.try_get("recorded_at_ms")?,
                            }),
                            None => None,
                        },
                    })
                })
                .collect()
        })
    }

    /// Stores readings for a clinic patient in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_clinic_readings(
        &self,
        clinic_id: &str,
        patient_id: &str,
        readings: &[redfolder_fhir::ClinicReading],
        source: &str,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            for reading in readings {
                sqlx::query(
                    "INSERT INTO virtual_clinic_readings (id, clinic_id, patient_id, measure, value, observed_on,
                        source, recorded_by, recorded_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(clinic_id)
                .bind(patient_id)
                .bind(reading.measure)
                .bind(&reading.value)
                .bind(&reading.observed_on)
                .bind(source)
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("recording a pre-clinic reading")?;
            }
            append_audit!(tx, audit);
            tx.commit().await.context("committing pre-clinic readings")?;
            Ok(())
        })
    }

    /// A clinic patient's readings, by measure, oldest first within each.
    pub async fn clinic_readings(
        &self,
        clinic_id: &str,
        patient_id: &str,
    ) -> anyhow::Result<Vec<ClinicReadingRow>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, measure, value, observed_on, source, recorded_at_ms FROM virtual_clinic_readings
                 WHERE clinic_id = $1 AND patient_id = $2 ORDER BY measure, observed_on, recorded_at_ms, id",
            )
            .bind(clinic_id)
            .bind(patient_id)
            .fetch_all(pool)
            .await
            .context("reading pre-clinic data")?;
            rows.iter()
                .map(|r| {
                    Ok(ClinicReadingRow {
                        id: r.try_get("id")?,
                        measure: r.try_get("measure")?,
                        value: r.try_get("value")?,
                        observed_on: r.try_get("observed_on")?,
                        source: r.try_get("source")?,
                        recorded_at_ms: r.try_get("recorded_at_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Records (or replaces) the outcome for a clinic patient.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_clinic_outcome(
        &self,
        clinic_id: &str,
        patient_id: &str,
        outcome: &str,
        plan: &str,
        follow_up_on: Option<&str>,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO virtual_clinic_outcomes (clinic_id, patient_id, outcome, plan, follow_up_on,
                    recorded_by, recorded_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (clinic_id, patient_id) DO UPDATE SET outcome = excluded.outcome,
                    plan = excluded.plan, follow_up_on = excluded.follow_up_on,
                    recorded_by = excluded.recorded_by, recorded_at_ms = excluded.recorded_at_ms",
            )
            .bind(clinic_id)
            .bind(patient_id)
            .bind(outcome)
            .bind(plan)
            .bind(follow_up_on)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("recording a clinic outcome")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing a clinic outcome")?;
            Ok(())
        })
    }

    pub async fn add_clinic_education(
        &self,
        clinic_id: &str,
        session: &EducationSession,
        user_id: &str,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO virtual_clinic_education (id, clinic_id, topic, attendees, session_date,
                    recorded_by, recorded_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&session.id)
            .bind(clinic_id)
            .bind(&session.topic)
            .bind(&session.attendees)
            .bind(&session.session_date)
            .bind(user_id)
            .bind(session.recorded_at_ms)
            .execute(&mut *tx)
            .await
            .context("recording an education session")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing an education session")?;
            Ok(())
        })
    }

    pub async fn clinic_education(&self, clinic_id: &str) -> anyhow::Result<Vec<EducationSession>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, topic, attendees, session_date, recorded_at_ms FROM virtual_clinic_education
                 WHERE clinic_id = $1 ORDER BY recorded_at_ms, id",
            )
            .bind(clinic_id)
            .fetch_all(pool)
            .await
            .context("reading education sessions")?;
            rows.iter()
                .map(|r| {
                    Ok(EducationSession {
                        id: r.try_get("id")?,
                        topic: r.try_get("topic")?,
                        attendees: r.try_get("attendees")?,
                        session_date: r.try_get("session_date")?,
                        recorded_at_ms: r.try_get("recorded_at_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Every clinic patient of clinics dated `from` to `to` (`YYYY-MM-DD`, inclusive), of
    /// one practice or of all, with the outcome if recorded; and the education sessions
    /// per clinic over the same clinics.
    pub async fn clinic_metric_rows(
        &self,
        organisation_id: Option<&str>,
        from: &str,
        to: &str,
    ) -> anyhow::Result<(Vec<MetricRow>, Vec<(String, i64)>)> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT org.code, org.name, c.specialty, c.id, vp.patient_id, o.outcome
                 FROM virtual_clinics c JOIN organisations org ON org.id = c.organisation_id
                 LEFT JOIN virtual_clinic_patients vp ON vp.clinic_id = c.id
                 LEFT JOIN virtual_clinic_outcomes o ON o.clinic_id = c.id AND o.patient_id = vp.patient_id
                 WHERE (CAST($1 AS TEXT) IS NULL OR c.organisation_id = $1) AND c.clinic_date >= $2 AND c.clinic_date <= $3
                 ORDER BY org.code, c.specialty, c.id",
            )
            .bind(organisation_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
            .context("reading clinic metrics")?;
            let education = sqlx::query(
                "SELECT e.clinic_id, COUNT(*) AS n FROM virtual_clinic_education e
                 JOIN virtual_clinics c ON c.id = e.clinic_id
                 WHERE (CAST($1 AS TEXT) IS NULL OR c.organisation_id = $1) AND c.clinic_date >= $2 AND c.clinic_date <= $3
                 GROUP BY e.clinic_id",
            )
            .bind(organisation_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
            .context("counting education sessions")?;
            let rows = rows
                .iter()
                .map(|r| {
                    Ok(MetricRow {
                        organisation_code: r.try_get("code")?,
                        organisation_name: r.try_get("name")?,
                        specialty: r.try_get("specialty")?,
                        clinic_id: r.try_get("id")?,
                        patient_id: r.try_get("patient_id")?,
                        outcome: r.try_get("outcome")?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let education = education
                .iter()
                .map(|r| Ok((r.try_get("clinic_id")?, r.try_get("n")?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok((rows, education))
        })
    }
}
