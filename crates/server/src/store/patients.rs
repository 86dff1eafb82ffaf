//! Patients: caseloads, who may reach which plan, care teams, new plans and reports.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Projection, Store, append_audit, append_feed, with_pool};
use crate::access::{PatientContext, PlanAccess};
use crate::audit::AuditEvent;
use crate::domain::{Committer, Role, User, published_summary};

/// One row of a caseload, read from the `patients` projection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PatientListing {
    pub id: String,
    pub nhs_number: String,
    pub name: String,
    pub date_of_birth: String,
    pub share_with_mdt: bool,
    pub share_with_emergency_services: bool,
    pub dnacpr: String,
    #[schema(value_type = Option<crate::openapi::AttributionSchema>)]
    pub last_updated: Option<redfolder_shared::Attribution>,
    /// Whether the paper copy in the home is current: `not_printed`, `current` or
    /// `out_of_date` ([`redfolder_shared::PaperState`]).
    pub paper_copy: String,
    /// What the caseload says about it, e.g. "Paper copy in the home is out of date
    /// (printed 2026-11-29 by Sam Carter): reprint. Changed since: allergies".
    pub paper_copy_label: String,
    /// The capacity in which the caller reaches this plan: `case_manager` or `mdt_member`.
    pub access: &'static str,
}

/// A patient to register, with the first snapshot of their plan.
#[derive(Debug, Clone)]
pub struct NewPatient {
    pub id: String,
    pub organisation_id: String,
    pub snapshot: Vec<u8>,
    pub projection: Projection,
    pub created_by: Option<Committer>,
}

/// An organisation in a patient's care team.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CareTeamMember {
    pub organisation_id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub added_at_ms: i64,
}

/// Aggregate figures for one practice: no identifiable field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct OrganisationReport {
    pub organisation_id: String,
    pub organisation_code: String,
    pub organisation_name: String,
    pub plans: i64,
    pub consent_mdt: i64,
    pub consent_emergency: i64,
    pub dnacpr_recorded: i64,
    pub updated_last_30_days: i64,
    pub with_care_team: i64,
}

const LISTING_COLUMNS: &str = "p.id, p.nhs_number, p.name, p.date_of_birth, p.share_with_mdt,
    p.share_with_emergency_services, p.dnacpr, p.last_updated_at_ms, p.last_updated_by_id,
    p.last_updated_by_name, p.paper_copy, p.paper_copy_label";

impl Store {
    /// The plans a user may sync and in which capacity: as case manager, those of patients
    /// registered at their practice; as MDT member, those of patients who consented to MDT
    /// sharing and whose care team includes their organisation.
    pub async fn accessible_docs(&self, user: &User) -> anyhow::Result<Vec<(String, PlanAccess)>> {
        let listing = self.caseload(user).await?;
        Ok(listing
            .into_iter()
            .map(|p| {
                let access = if p.access == Role::CaseManager.as_str() {
                    PlanAccess::CaseManager
                } else {
                    PlanAccess::Mdt
                };
                (p.id, access)
            })
            .collect())
    }

    /// The caseload listing of a user: see [`Store::accessible_docs`].
    pub async fn caseload(&self, user: &User) -> anyhow::Result<Vec<PatientListing>> {
        let mut out: Vec<PatientListing> = Vec::new();
        if user.has(Role::CaseManager) {
            let sql = format!(
                "SELECT {LISTING_COLUMNS} FROM patients p WHERE p.organisation_id = $1 ORDER BY p.name, p.id"
            );
            out.extend(
                self.listing(&sql, &user.organisation_id, "case_manager")
                    .await?,
            );
        }
        if user.has(Role::MdtMember) {
            let sql = format!(
                "SELECT {LISTING_COLUMNS} FROM patients p
                 JOIN care_team ct ON ct.patient_id = p.id
                 WHERE ct.organisation_id = $1 AND p.share_with_mdt = TRUE
                 ORDER BY p.name, p.id"
            );
            for row in self
                .listing(&sql, &user.organisation_id, "mdt_member")
                .await?
            {
                if !out.iter().any(|p| p.id == row.id) {
                    out.push(row);
                }
            }
        }
        Ok(out)
    }

    async fn listing(
        &self,
        sql: &str,
        organisation_id: &str,
        access: &'static str,
    ) -> anyhow::Result<Vec<PatientListing>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(organisation_id)
                .fetch_all(pool)
                .await
                .context("reading a caseload")?;
            rows.iter()
                .map(|row| {
                    let at: Option<i64> = row.try_get("last_updated_at_ms")?;
                    let by_id: Option<String> = row.try_get("last_updated_by_id")?;
                    let by_name: Option<String> = row.try_get("last_updated_by_name")?;
                    Ok(PatientListing {
                        id: row.try_get("id")?,
                        nhs_number: row.try_get("nhs_number")?,
                        name: row.try_get("name")?,
                        date_of_birth: row.try_get("date_of_birth")?,
                        share_with_mdt: row.try_get("share_with_mdt")?,
                        share_with_emergency_services: row.try_get("share_with_emergency_services")?,
                        dnacpr: row.try_get("dnacpr")?,
                        paper_copy: row.try_get("paper_copy")?,
                        paper_copy_label: row.try_get("paper_copy_label")?,
                        last_updated: match (at, by_id, by_name) {
                            (Some(at_ms), Some(user_id), Some(user_name)) => {
                                Some(redfolder_shared::Attribution { user_id, user_name, at_ms })
                            }
                            _ => None,
                        },
                        access,
                    })
                })
                .collect()
        })
    }

    /// What the access rules need to know about a patient, seen from `organisation_id`.
    pub async fn patient_context(
        &self,
        patient_id: &str,
        organisation_id: &str,
    ) -> anyhow::Result<Option<PatientContext>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT p.organisation_id, p.share_with_mdt,
                        (SELECT COUNT(*) FROM care_team ct WHERE ct.patient_id = p.id AND ct.organisation_id = $2) AS in_team
                 FROM patients p WHERE p.id = $1",
            )
            .bind(patient_id)
            .bind(organisation_id)
            .fetch_optional(pool)
            .await
            .context("reading a patient's access context")?;
            row.map(|r| {
                Ok(PatientContext {
                    organisation_id: r.try_get("organisation_id")?,
                    share_with_mdt: r.try_get("share_with_mdt")?,
                    in_care_team: r.try_get::<i64, _>("in_team")? > 0,
                })
            })
            .transpose()
        })
    }

    /// Whether an organisation already has a patient with this NHS number.
    pub async fn has_patient(
        &self,
        organisation_id: &str,
        nhs_number: &str,
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM patients WHERE organisation_id = $1 AND nhs_number = $2",
            )
            .bind(organisation_id)
            .bind(nhs_number)
            .fetch_one(pool)
            .await
            .context("looking for a patient")?;
            Ok(row.try_get::<i64, _>("n")? > 0)
        })
    }

    /// Creates patients with their first document snapshots, projections and (for
    /// consenting patients) emergency feed items, all in one transaction. Creates nothing
    /// and answers the holder if a live plan already has one of their NHS numbers.
    pub async fn create_patients(
        &self,
        patients: &[NewPatient],
        now_ms: i64,
    ) -> anyhow::Result<Option<super::NhsHolder>> {
        if patients.is_empty() {
            return Ok(None);
        }
        let notify = self.backend() == super::Backend::Postgres;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let mut fed = false;
            for patient in patients {
                let projection = &patient.projection;
                let by = patient.created_by.as_ref();
                if projection.live
                    && let Some(holder) = super::nhs_holder!(tx, &projection.nhs_number, &patient.id)
                {
                    return Ok(Some(holder));
                }
                let inserted = sqlx::query(
                    "INSERT INTO patients (id, organisation_id, nhs_number, name, date_of_birth, share_with_mdt,
                        share_with_emergency_services, dnacpr, last_updated_at_ms, last_updated_by_id,
                        last_updated_by_name, created_at_ms, updated_at_ms, live, paper_copy, paper_copy_label)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15)",
                )
                .bind(&patient.id)
                .bind(&patient.organisation_id)
                .bind(&projection.nhs_number)
                .bind(&projection.name)
                .bind(&projection.date_of_birth)
                .bind(projection.share_with_mdt)
                .bind(projection.share_with_emergency_services)
                .bind(&projection.dnacpr)
                .bind(projection.last_updated.as_ref().map(|a| a.at_ms))
                .bind(projection.last_updated.as_ref().map(|a| a.user_id.as_str()))
                .bind(projection.last_updated.as_ref().map(|a| a.user_name.as_str()))
                .bind(now_ms)
                .bind(projection.live)
                .bind(&projection.paper_copy)
                .bind(&projection.paper_copy_label)
                .execute(&mut *tx)
                .await;
                if let Err(e) = &inserted
                    && super::is_nhs_number_taken(e)
                {
                    return Ok(Some(super::NhsHolder {
                        patient_id: String::new(),
                        organisation_id: String::new(),
                        emergency_consent: false,
                    }));
                }
                inserted.context("inserting a patient")?;
                sqlx::query(
                    "INSERT INTO doc_chunks (doc_id, kind, data, created_at_ms) VALUES ($1, 'snapshot', $2, $3)",
                )
                .bind(&patient.id)
                .bind(&patient.snapshot)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("inserting a document snapshot")?;
                sqlx::query(
                    "INSERT INTO emergency_summaries (patient_id, nhs_number, consent, summary_json, plan_version,
                        updated_at_ms, updated_by_user_id, updated_by_name, updated_by_organisation)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&patient.id)
                .bind(&projection.nhs_number)
                .bind(projection.share_with_emergency_services)
                .bind(&projection.summary_json)
                .bind(&projection.plan_version)
                .bind(now_ms)
                .bind(by.map(|c| c.user_id.as_str()))
                .bind(by.map(|c| c.name.as_str()))
                .bind(by.map(|c| c.organisation.as_str()))
                .execute(&mut *tx)
                .await
                .context("inserting an emergency summary")?;
                if projection.share_with_emergency_services {
                    let published = published_summary(
                        &projection.summary_json,
                        &patient.id,
                        &projection.plan_version,
                        now_ms,
                        by,
                    )?
                    .to_string();
                    append_feed!(tx, &patient.id, &projection.nhs_number, "summary", Some(published.as_str()), now_ms);
                    fed = true;
                }
            }
            if fed && notify {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(super::NOTIFY_CHANNEL)
                    .bind(self.notice_payload(&super::Notice::Feed))
                    .execute(&mut *tx)
                    .await
                    .context("notifying other instances")?;
            }
            tx.commit().await.context("committing new patients")?;
            Ok(None)
        })
    }

    // ---- care teams ----

    pub async fn care_team(&self, patient_id: &str) -> anyhow::Result<Vec<CareTeamMember>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT o.id, o.code, o.name, o.kind, ct.added_at_ms FROM care_team ct
                 JOIN organisations o ON o.id = ct.organisation_id
                 WHERE ct.patient_id = $1 ORDER BY o.name, o.id",
            )
            .bind(patient_id)
            .fetch_all(pool)
            .await
            .context("reading a care team")?;
            rows.iter()
                .map(|r| {
                    Ok(CareTeamMember {
                        organisation_id: r.try_get("id")?,
                        code: r.try_get("code")?,
                        name: r.try_get("name")?,
                        kind: r.try_get("kind")?,
                        added_at_ms: r.try_get("added_at_ms")?,
                    })
                })
                .collect()
        })
    }

    /// Adds (`add`) or removes an organisation from a patient's care team, with its audit
    /// entries. Returns whether anything changed.
    pub async fn change_care_team(
        &self,
        patient_id: &str,
        organisation_id: &str,
        add: bool,
        by_user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = if add {
                sqlx::query(
                    "INSERT INTO care_team (patient_id, organisation_id, added_by_user_id, added_at_ms)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(patient_id)
                .bind(organisation_id)
                .bind(by_user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("adding to a care team")?
            } else {
                sqlx::query("DELETE FROM care_team WHERE patient_id = $1 AND organisation_id = $2")
                    .bind(patient_id)
                    .bind(organisation_id)
                    .execute(&mut *tx)
                    .await
                    .context("removing from a care team")?
            };
            append_audit!(tx, audit);
            if self.backend() == super::Backend::Postgres {
                // Every instance's sync connections look again at who may reach the plan.
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(super::NOTIFY_CHANNEL)
                    .bind(self.notice_payload(&super::Notice::Doc(patient_id.to_owned())))
                    .execute(&mut *tx)
                    .await
                    .context("notifying other instances")?;
            }
            tx.commit().await.context("committing a care team change")?;
            Ok(done.rows_affected() > 0)
        })
    }

    // ---- reports ----

    /// Per-practice aggregates for commissioners.
    pub async fn organisation_reports(
        &self,
        now_ms: i64,
    ) -> anyhow::Result<Vec<OrganisationReport>> {
        let since = now_ms - 30 * 24 * 60 * 60 * 1000;
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT o.id, o.code, o.name,
                        COUNT(p.id) AS plans,
                        COALESCE(SUM(CASE WHEN p.share_with_mdt THEN 1 ELSE 0 END), 0) AS consent_mdt,
                        COALESCE(SUM(CASE WHEN p.share_with_emergency_services THEN 1 ELSE 0 END), 0) AS consent_emergency,
                        COALESCE(SUM(CASE WHEN p.dnacpr <> 'not_recorded' THEN 1 ELSE 0 END), 0) AS dnacpr_recorded,
                        COALESCE(SUM(CASE WHEN p.updated_at_ms > $1 THEN 1 ELSE 0 END), 0) AS updated_recently,
                        COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM care_team ct WHERE ct.patient_id = p.id) THEN 1 ELSE 0 END), 0) AS with_team
                 FROM organisations o JOIN patients p ON p.organisation_id = o.id
                 GROUP BY o.id, o.code, o.name ORDER BY o.code",
            )
            .bind(since)
            .fetch_all(pool)
            .await
            .context("reading reports")?;
            rows.iter()
                .map(|r| {
                    Ok(OrganisationReport {
                        organisation_id: r.try_get("id")?,
                        organisation_code: r.try_get("code")?,
                        organisation_name: r.try_get("name")?,
                        plans: r.try_get("plans")?,
                        consent_mdt: r.try_get("consent_mdt")?,
                        consent_emergency: r.try_get("consent_emergency")?,
                        dnacpr_recorded: r.try_get("dnacpr_recorded")?,
                        updated_last_30_days: r.try_get("updated_recently")?,
                        with_care_team: r.try_get("with_team")?,
                    })
                })
                .collect()
        })
    }
}
