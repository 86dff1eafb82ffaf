//! Referral peer review: specialties, bank holidays, reviewer assignments, referrals and
//! the steps of their review. Every write carries its audit events into the same
//! transaction; a step moves a referral only from the state the caller read, so two
//! reviewers deciding at once cannot both succeed.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::AuditEvent;

/// A GP reviewer's assignment to a specialty.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewerAssignment {
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub organisation: String,
    pub specialty: String,
    pub mentored: bool,
}

/// A patient on the referring practice's caseload, as a referral copies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferredPatient {
    pub patient_id: Option<String>,
    pub nhs_number: String,
    pub name: String,
    pub date_of_birth: String,
}

/// A referral to store.
#[derive(Debug, Clone)]
pub struct NewReferral<'a> {
    pub organisation_id: &'a str,
    pub referrer_id: &'a str,
    pub patient: &'a ReferredPatient,
    pub referral: &'a redfolder_shared::referral::Referral,
    pub received_on: &'a str,
    pub deadline: &'a str,
    /// Documents it came with (a FHIR import's), kept with it.
    pub attachments: &'a [super::referral_notes::NewAttachment],
    pub now_ms: i64,
}

/// A stored referral with its referring practice's name and code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredReferral {
    pub id: String,
    pub organisation_id: String,
    pub practice_code: String,
    pub practice_name: String,
    pub referrer_id: String,
    pub referrer_name: String,
    pub patient_id: Option<String>,
    pub nhs_number: String,
    pub patient_name: String,
    pub date_of_birth: String,
    pub specialty: String,
    pub urgency: String,
    pub condition: String,
    pub clinical_question: String,
    pub relevant_history: String,
    pub state: String,
    pub received_on: String,
    pub deadline: String,
    pub question_asked: bool,
    pub decided_on: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One step of a referral's review as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReferralEvent {
    pub seq: i64,
    pub kind: String,
    pub user_id: String,
    pub user_name: String,
    pub organisation: String,
    /// For a reviewer's step: whether they were still mentored in this specialty.
    pub mentored: Option<bool>,
    /// The step as submitted (note, advice, question or answer).
    pub body: serde_json::Value,
    pub at_ms: i64,
}

/// A step to record: the referral moves from `from_state` to `to_state`.
#[derive(Debug, Clone)]
pub struct StepRecord<'a> {
    pub referral_id: &'a str,
    pub from_state: &'a str,
    pub to_state: &'a str,
    pub kind: &'a str,
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub organisation: &'a str,
    pub mentored: Option<bool>,
    pub body_json: &'a str,
    /// A new deadline (after an answer the reviewer's clock starts again).
    pub deadline: Option<&'a str>,
    /// Set by a decision (forward or return): the day it was decided.
    pub decided_on: Option<&'a str>,
    pub question_asked: bool,
    pub now_ms: i64,
}

/// `SELECT` of a referral's columns followed by `$rest` (a literal, so the statement is
/// one static string).
macro_rules! select_referrals {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.organisation_id, o.code AS practice_code, o.name AS practice_name,
    r.referrer_id, u.name AS referrer_name, r.patient_id, r.nhs_number, r.patient_name,
    r.date_of_birth, r.specialty, r.urgency, r.condition, r.clinical_question,
    r.relevant_history, r.state, r.received_on, r.deadline, r.question_asked, r.decided_on,
    r.created_at_ms, r.updated_at_ms
    FROM referrals r JOIN organisations o ON o.id = r.organisation_id
    JOIN users u ON u.id = r.referrer_id ",
            $rest
        )
    };
}

fn referral_from_row<R: Row>(r: &R) -> anyhow::Result<StoredReferral>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> bool: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(StoredReferral {
        id: r.try_get("id")?,
        organisation_id: r.try_get("organisation_id")?,
        practice_code: r.try_get("practice_code")?,
        practice_name: r.try_get("practice_name")?,
        referrer_id: r.try_get("referrer_id")?,
        referrer_name: r.try_get("referrer_name")?,
        patient_id: r.try_get("patient_id")?,
        nhs_number: r.try_get("nhs_number")?,
        patient_name: r.try_get("patient_name")?,
        date_of_birth: r.try_get("date_of_birth")?,
        specialty: r.try_get("specialty")?,
        urgency: r.try_get("urgency")?,
        condition: r.try_get("condition")?,
        clinical_question: r.try_get("clinical_question")?,
        relevant_history: r.try_get("relevant_history")?,
        state: r.try_get("state")?,
        received_on: r.try_get("received_on")?,
        deadline: r.try_get("deadline")?,
        question_asked: r.try_get("question_asked")?,
        decided_on: r.try_get("decided_on")?,
        created_at_ms: r.try_get("created_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
    })
}

impl Store {
    /// The reviewed specialties, in the order offered.
    pub async fn referral_specialties(&self) -> anyhow::Result<Vec<String>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT name FROM referral_specialties ORDER BY position, name")
                .fetch_all(pool)
                .await
                .context("listing specialties")?;
            rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
        })
    }

    /// Adds a specialty at the end of the list; false if it is already there.
    pub async fn add_referral_specialty(
        &self,
        name: &str,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query(
                "INSERT INTO referral_specialties (name, position)
                 SELECT $1, COALESCE(MAX(position), 0) + 1 FROM referral_specialties
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .execute(&mut *tx)
            .await
            .context("adding a specialty")?
            .rows_affected();
            append_audit!(tx, audit);
            tx.commit().await.context("committing a specialty")?;
            Ok(done == 1)
        })
    }

    /// Days besides weekends that are not working days (`YYYY-MM-DD`).
    pub async fn bank_holidays(&self) -> anyhow::Result<Vec<String>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT day FROM bank_holidays ORDER BY day")
                .fetch_all(pool)
                .await
                .context("listing bank holidays")?;
            rows.iter().map(|r| Ok(r.try_get("day")?)).collect()
        })
    }

    /// Every assignment, or one user's.
    pub async fn reviewer_assignments(
        &self,
        user_id: Option<&str>,
    ) -> anyhow::Result<Vec<ReviewerAssignment>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT a.user_id, u.username, u.name, o.name AS organisation, a.specialty, a.mentored
                 FROM reviewer_assignments a JOIN users u ON u.id = a.user_id
                 JOIN organisations o ON o.id = u.organisation_id
                 WHERE $1 IS NULL OR a.user_id = $1
                 ORDER BY a.specialty, u.name",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
            .context("listing reviewer assignments")?;
            rows.iter()
                .map(|r| {
                    Ok(ReviewerAssignment {
                        user_id: r.try_get("user_id")?,
                        username: r.try_get("username")?,
                        name: r.try_get("name")?,
                        organisation: r.try_get("organisation")?,
                        specialty: r.try_get("specialty")?,
                        mentored: r.try_get("mentored")?,
                    })
                })
                .collect()
        })
    }

    /// Assigns a reviewer to a specialty, or changes whether they are mentored in it.
    pub async fn assign_reviewer(
        &self,
        user_id: &str,
        specialty: &str,
        mentored: bool,
        assigned_by: Option<&str>,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO reviewer_assignments (user_id, specialty, mentored, assigned_by, assigned_at_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, specialty) DO UPDATE SET mentored = excluded.mentored,
                     assigned_by = excluded.assigned_by, assigned_at_ms = excluded.assigned_at_ms",
            )
            .bind(user_id)
            .bind(specialty)
            .bind(mentored)
            .bind(assigned_by)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("assigning a reviewer")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing an assignment")?;
            Ok(())
        })
    }

    /// A patient registered at the practice, by plan id.
    pub async fn practice_patient(
        &self,
        organisation_id: &str,
        patient_id: &str,
    ) -> anyhow::Result<Option<ReferredPatient>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, nhs_number, name, date_of_birth FROM patients
                 WHERE organisation_id = $1 AND id = $2",
            )
            .bind(organisation_id)
            .bind(patient_id)
            .fetch_optional(pool)
            .await
            .context("looking up a patient to refer")?;
            row.map(|r| {
                Ok(ReferredPatient {
                    patient_id: Some(r.try_get("id")?),
                    nhs_number: r.try_get("nhs_number")?,
                    name: r.try_get("name")?,
                    date_of_birth: r.try_get("date_of_birth")?,
                })
            })
            .transpose()
        })
    }

    /// The live plan at the practice holding an NHS number, if any: a referral by NHS
    /// number for a caseload patient is linked to their plan.
    pub async fn practice_patient_by_nhs(
        &self,
        organisation_id: &str,
        nhs_number: &str,
    ) -> anyhow::Result<Option<String>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id FROM patients WHERE organisation_id = $1 AND nhs_number = $2 AND live
                 ORDER BY id LIMIT 1",
            )
            .bind(organisation_id)
            .bind(nhs_number)
            .fetch_optional(pool)
            .await
            .context("looking up a patient by NHS number")?;
            row.map(|r| Ok(r.try_get("id")?)).transpose()
        })
    }

    /// Stores a new referral awaiting review, with its audit events.
    pub async fn create_referral(
        &self,
        new: &NewReferral<'_>,
        audit: &[AuditEvent],
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let r = new.referral;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO referrals (id, organisation_id, referrer_id, patient_id, nhs_number,
                     patient_name, date_of_birth, specialty, urgency, condition, clinical_question,
                     relevant_history, state, received_on, deadline, created_at_ms, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'routine', $9, $10, $11,
                     'awaiting_review', $12, $13, $14, $14)",
            )
            .bind(&id)
            .bind(new.organisation_id)
            .bind(new.referrer_id)
            .bind(new.patient.patient_id.as_deref())
            .bind(&new.patient.nhs_number)
            .bind(&new.patient.name)
            .bind(&new.patient.date_of_birth)
            .bind(&r.specialty)
            .bind(&r.condition)
            .bind(&r.clinical_question)
            .bind(&r.relevant_history)
            .bind(new.received_on)
            .bind(new.deadline)
            .bind(new.now_ms)
            .execute(&mut *tx)
            .await
            .context("storing a referral")?;
            for (seq, a) in (1_i64..).zip(new.attachments) {
                sqlx::query(
                    "INSERT INTO referral_attachments (referral_id, seq, title, content_type, data)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(seq)
                .bind(&a.title)
                .bind(&a.content_type)
                .bind(&a.data)
                .execute(&mut *tx)
                .await
                .context("storing a referral's attachment")?;
            }
            let audit: Vec<AuditEvent> = audit
                .iter()
                .cloned()
                .map(|e| e.subject(id.clone()))
                .collect();
            append_audit!(tx, &audit);
            tx.commit().await.context("committing a referral")?;
            Ok(id)
        })
    }

    pub async fn referral(&self, id: &str) -> anyhow::Result<Option<StoredReferral>> {
        with_pool!(self, pool => {
            let row = sqlx::query(select_referrals!("WHERE r.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
                .context("reading a referral")?;
            row.as_ref().map(referral_from_row).transpose()
        })
    }

    /// A practice's referrals, newest first (at most `limit`).
    pub async fn practice_referrals(
        &self,
        organisation_id: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<StoredReferral>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(select_referrals!(
                "WHERE r.organisation_id = $1
                 ORDER BY r.created_at_ms DESC, r.id LIMIT $2"
            ))
            .bind(organisation_id)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("listing a practice's referrals")?;
            rows.iter().map(referral_from_row).collect()
        })
    }

    /// Referrals in a specialty still under review (awaiting review or waiting for the
    /// referrer's answer), earliest deadline first.
    pub async fn referral_queue(&self, specialty: &str) -> anyhow::Result<Vec<StoredReferral>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(select_referrals!(
                "WHERE r.specialty = $1
                   AND r.state IN ('awaiting_review', 'question_asked')
                 ORDER BY r.deadline, r.created_at_ms, r.id"
            ))
            .bind(specialty)
            .fetch_all(pool)
            .await
            .context("listing a review queue")?;
            rows.iter().map(referral_from_row).collect()
        })
    }

    /// Every referral (or one practice's), for the learning report.
    pub async fn report_referrals(
        &self,
        organisation_id: Option<&str>,
    ) -> anyhow::Result<Vec<StoredReferral>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(select_referrals!(
                "WHERE $1 IS NULL OR r.organisation_id = $1
                 ORDER BY r.created_at_ms, r.id"
            ))
            .bind(organisation_id)
            .fetch_all(pool)
            .await
            .context("reading referrals for the report")?;
            rows.iter().map(referral_from_row).collect()
        })
    }

    pub async fn referral_events(&self, referral_id: &str) -> anyhow::Result<Vec<ReferralEvent>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT seq, kind, user_id, user_name, organisation, mentored, body_json, at_ms
                 FROM referral_events WHERE referral_id = $1 ORDER BY seq",
            )
            .bind(referral_id)
            .fetch_all(pool)
            .await
            .context("reading a referral's history")?;
            rows.iter()
                .map(|r| {
                    let body: String = r.try_get("body_json")?;
                    Ok(ReferralEvent {
                        seq: r.try_get("seq")?,
                        kind: r.try_get("kind")?,
                        user_id: r.try_get("user_id")?,
                        user_name: r.try_get("user_name")?,
                        organisation: r.try_get("organisation")?,
                        mentored: r.try_get("mentored")?,
                        body: serde_json::from_str(&body)
                            .context("a stored referral step is not JSON")?,
                        at_ms: r.try_get("at_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Records a step and moves the referral, only if it is still in `from_state`.
    /// Answers false, writing nothing, if someone else moved it first.
    pub async fn record_referral_step(
        &self,
        step: &StepRecord<'_>,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            // The conditional update takes the referral's row lock first, so the event's
            // sequence number below cannot race another step on the same referral.
            let moved = sqlx::query(
                "UPDATE referrals SET state = $1, updated_at_ms = $2,
                     deadline = COALESCE($3, deadline),
                     decided_on = COALESCE($4, decided_on),
                     decided_by = CASE WHEN $4 IS NULL THEN decided_by ELSE $5 END,
                     question_asked = question_asked OR $6
                 WHERE id = $7 AND state = $8",
            )
            .bind(step.to_state)
            .bind(step.now_ms)
            .bind(step.deadline)
            .bind(step.decided_on)
            .bind(step.user_id)
            .bind(step.question_asked)
            .bind(step.referral_id)
            .bind(step.from_state)
            .execute(&mut *tx)
            .await
            .context("moving a referral")?
            .rows_affected();
            if moved != 1 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO referral_events (referral_id, seq, kind, user_id, user_name,
                     organisation, mentored, body_json, at_ms)
                 SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8
                 FROM referral_events WHERE referral_id = $1",
            )
            .bind(step.referral_id)
            .bind(step.kind)
            .bind(step.user_id)
            .bind(step.user_name)
            .bind(step.organisation)
            .bind(step.mentored)
            .bind(step.body_json)
            .bind(step.now_ms)
            .execute(&mut *tx)
            .await
            .context("recording a referral step")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing a referral step")?;
            Ok(true)
        })
    }
}
