//! Discharges from case management and the practice's over-75 list. Every write carries
//! its audit events into the same transaction.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::AuditEvent;

/// A discharge as recorded: the decision, what it rested on, the steps taken and the
/// letter to the GP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Discharge {
    pub id: String,
    pub patient_id: String,
    /// `annual_review`, `discharge`, `moved_away` or `died`.
    pub decision: String,
    /// `YYYY-MM-DD`
    pub discharge_date: String,
    /// `yes`, `moved_away` or `died`.
    pub on_list: String,
    pub still_in_top_5_percent: bool,
    pub exceptional: bool,
    pub over_75: bool,
    /// Where "top 5 %" came from: the risk upload that placed the patient, or the case
    /// manager's statement when no upload names them.
    pub risk_source: String,
    pub tier: Option<String>,
    pub patient_told_on: Option<String>,
    pub questionnaire_sent_on: Option<String>,
    pub mdt_meeting_id: Option<String>,
    pub notes: String,
    pub gp_letter: String,
    pub recorded_by_name: String,
    pub recorded_at_ms: i64,
}

/// The practice's over-75 list as last given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Over75List {
    pub id: String,
    pub list_size: i64,
    pub as_of: String,
    pub recorded_at_ms: i64,
    /// Ten-digit NHS numbers, when the practice gave the list and not only its size.
    pub nhs_numbers: Vec<String>,
}

impl Store {
    /// Records a discharge whose plan change has been committed.
    pub async fn record_discharge(
        &self,
        organisation_id: &str,
        d: &Discharge,
        recorded_by: &str,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO scheme_discharges (organisation_id, recorded_by, id, patient_id, decision, discharge_date, on_list, still_in_top_5_percent,
                    exceptional, over_75, risk_source, tier, patient_told_on, questionnaire_sent_on,
                    mdt_meeting_id, notes, gp_letter, recorded_by_name, recorded_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            )
            .bind(organisation_id)
            .bind(recorded_by)
            .bind(&d.id)
            .bind(&d.patient_id)
            .bind(&d.decision)
            .bind(&d.discharge_date)
            .bind(&d.on_list)
            .bind(d.still_in_top_5_percent)
            .bind(d.exceptional)
            .bind(d.over_75)
            .bind(&d.risk_source)
            .bind(&d.tier)
            .bind(&d.patient_told_on)
            .bind(&d.questionnaire_sent_on)
            .bind(&d.mdt_meeting_id)
            .bind(&d.notes)
            .bind(&d.gp_letter)
            .bind(&d.recorded_by_name)
            .bind(d.recorded_at_ms)
            .execute(&mut *tx)
            .await
            .context("recording a discharge")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing a discharge")?;
            Ok(())
        })
    }

    /// A practice's discharges dated `from`..=`to` (`YYYY-MM-DD`), latest first.
    pub async fn discharges(
        &self,
        organisation_id: &str,
        from: &str,
        to: &str,
    ) -> anyhow::Result<Vec<Discharge>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, patient_id, decision, discharge_date, on_list, still_in_top_5_percent,
                    exceptional, over_75, risk_source, tier, patient_told_on, questionnaire_sent_on,
                    mdt_meeting_id, notes, gp_letter, recorded_by_name, recorded_at_ms
                 FROM scheme_discharges
                 WHERE organisation_id = $1 AND discharge_date >= $2 AND discharge_date <= $3
                 ORDER BY discharge_date DESC, recorded_at_ms DESC, id",
            )
            .bind(organisation_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
            .context("listing discharges")?;
            rows.iter().map(|r| Ok(Discharge {
                id: r.try_get("id")?,
                patient_id: r.try_get("patient_id")?,
                decision: r.try_get("decision")?,
                discharge_date: r.try_get("discharge_date")?,
                on_list: r.try_get("on_list")?,
                still_in_top_5_percent: r.try_get("still_in_top_5_percent")?,
                exceptional: r.try_get("exceptional")?,
                over_75: r.try_get("over_75")?,
                risk_source: r.try_get("risk_source")?,
                tier: r.try_get("tier")?,
                patient_told_on: r.try_get("patient_told_on")?,
                questionnaire_sent_on: r.try_get("questionnaire_sent_on")?,
                mdt_meeting_id: r.try_get("mdt_meeting_id")?,
                notes: r.try_get("notes")?,
                gp_letter: r.try_get("gp_letter")?,
                recorded_by_name: r.try_get("recorded_by_name")?,
                recorded_at_ms: r.try_get("recorded_at_ms")?,
            })).collect()
        })
    }

    /// Records the practice's over-75 list: its size, and the NHS numbers when given.
    pub async fn record_over_75_list(
        &self,
        organisation_id: &str,
        list: &Over75List,
        recorded_by: &str,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO over_75_lists (id, organisation_id, list_size, as_of, recorded_by, recorded_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&list.id)
            .bind(organisation_id)
            .bind(list.list_size)
            .bind(&list.as_of)
            .bind(recorded_by)
            .bind(list.recorded_at_ms)
            .execute(&mut *tx)
            .await
            .context("recording an over-75 list")?;
            for nhs in &list.nhs_numbers {
                sqlx::query("INSERT INTO over_75_list_patients (list_id, nhs_number) VALUES ($1, $2)")
                    .bind(&list.id)
                    .bind(nhs)
                    .execute(&mut *tx)
                    .await
                    .context("recording an over-75 list entry")?;
            }
            append_audit!(tx, audit);
            tx.commit().await.context("committing an over-75 list")?;
            Ok(())
        })
    }

    /// The practice's latest over-75 list, if it gave one.
    pub async fn over_75_list(&self, organisation_id: &str) -> anyhow::Result<Option<Over75List>> {
        with_pool!(self, pool => {
            let Some(r) = sqlx::query(
                "SELECT id, list_size, as_of, recorded_at_ms FROM over_75_lists
                 WHERE organisation_id = $1 ORDER BY recorded_at_ms DESC, id DESC LIMIT 1",
            )
            .bind(organisation_id)
            .fetch_optional(pool)
            .await
            .context("reading the over-75 list")? else {
                return Ok(None);
            };
            let id: String = r.try_get("id")?;
            let nhs_numbers = sqlx::query(
                "SELECT nhs_number FROM over_75_list_patients WHERE list_id = $1 ORDER BY nhs_number",
            )
            .bind(&id)
            .fetch_all(pool)
            .await
            .context("reading the over-75 list's patients")?
            .iter()
            .map(|r| r.try_get("nhs_number"))
            .collect::<Result<Vec<String>, _>>()?;
            Ok(Some(Over75List {
                id,
                list_size: r.try_get("list_size")?,
                as_of: r.try_get("as_of")?,
                recorded_at_ms: r.try_get("recorded_at_ms")?,
                nhs_numbers,
            }))
        })
    }
}
