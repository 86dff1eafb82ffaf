//! Emergency summaries and the emergency distribution feed.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_feed, with_pool, with_read_pool};
use crate::domain::{Committer, published_summary, published_summary_json};

/// A stored emergency summary.
#[derive(Debug, Clone)]
pub struct StoredSummary {
    pub patient_id: String,
    pub consent: bool,
    pub summary_json: String,
    pub plan_version: String,
    pub updated_at_ms: i64,
    pub updated_by: Option<Committer>,
    /// From the patient projection, for the optional second check.
    pub date_of_birth: String,
}

impl StoredSummary {
    /// The summary as the API publishes it.
    pub fn published(&self) -> anyhow::Result<serde_json::Value> {
        let mut summary = published_summary(
            &self.summary_json,
            &self.patient_id,
            &self.plan_version,
            self.updated_at_ms,
            self.updated_by.as_ref(),
        )?;
        never_settled(&mut summary);
        Ok(summary)
    }

    /// The same, as JSON text, without building the summary as a tree on the way.
    pub fn published_json(&self) -> anyhow::Result<String> {
        published_summary_json(
            &self.summary_json,
            &self.patient_id,
            &self.plan_version,
            self.updated_at_ms,
            self.updated_by.as_ref(),
        )
    }
}

/// A summary stored before the DNACPR flag could say `conflicting` carries Automerge's
/// winner in `dnacpr`/`dnacpr_label` while its `resuscitation` item lists the conflict:
/// such a summary is served with the flag and label the core now gives it, so no stored
/// row, however old, presents one side of a conflict as settled. Current summaries
/// already say so and are left as they are.
pub fn never_settled(summary: &mut serde_json::Value) {
    if summary["resuscitation"]["conflicting"] != true || summary["dnacpr"] == "conflicting" {
        return;
    }
    let labels: Vec<String> = summary["resuscitation"]["values"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v["label"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    summary["dnacpr"] = "conflicting".into();
    summary["dnacpr_label"] = redfolder_shared::conflict_line(&labels).into();
}

/// One item of the emergency feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    pub seq: i64,
    /// `summary` or `withdrawal`.
    pub kind: String,
    pub patient_id: String,
    pub nhs_number: String,
    pub at_ms: i64,
    /// The published summary (JSON) of a `summary` item.
    pub summary_json: Option<String>,
}

impl Store {
    /// The live plan holding an NHS number (ten digits), if any.
    pub async fn live_plan_for_nhs_number(
        &self,
        nhs_number: &str,
    ) -> anyhow::Result<Option<super::NhsHolder>> {
        with_pool!(self, pool => {
            let mut conn = pool.acquire().await.context("acquiring a connection")?;
            Ok(super::nhs_holder!(conn, nhs_number, ""))
        })
    }

    /// The stored summary for an NHS number (ten digits): the live plan's, which is the
    /// only one (a unique index holds it); where the patient has no live plan, the most
    /// recently ended one. Never chooses by consent: a withdrawn consent is never hidden
    /// behind another plan's.
    pub async fn emergency_summary(
        &self,
        nhs_number: &str,
    ) -> anyhow::Result<Option<StoredSummary>> {
        with_read_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT s.patient_id, s.consent, s.summary_json, s.plan_version, s.updated_at_ms,
                        s.updated_by_user_id, s.updated_by_name, s.updated_by_organisation, p.date_of_birth,
                        p.live
                 FROM emergency_summaries s JOIN patients p ON p.id = s.patient_id
                 WHERE s.nhs_number = $1
                 ORDER BY p.live DESC, s.updated_at_ms DESC, s.patient_id LIMIT 2",
            )
            .bind(nhs_number)
            .fetch_all(pool)
            .await
            .context("reading an emergency summary")?;
            if rows.len() == 2
                && rows.iter().all(|r| r.try_get::<bool, _>("live").unwrap_or(false))
            {
                anyhow::bail!("two live plans carry one NHS number; the emergency route will not choose between them");
            }
            rows.into_iter().next().map(|r| {
                let by_id: Option<String> = r.try_get("updated_by_user_id")?;
                let by_name: Option<String> = r.try_get("updated_by_name")?;
                let by_org: Option<String> = r.try_get("updated_by_organisation")?;
                Ok(StoredSummary {
                    patient_id: r.try_get("patient_id")?,
                    consent: r.try_get("consent")?,
                    summary_json: r.try_get("summary_json")?,
                    plan_version: r.try_get("plan_version")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                    updated_by: match (by_id, by_name) {
                        (Some(user_id), Some(name)) => Some(Committer {
                            user_id,
                            name,
                            organisation: by_org.unwrap_or_default(),
                        }),
                        _ => None,
                    },
                    date_of_birth: r.try_get("date_of_birth")?,
                })
            })
            .transpose()
        })
    }

    /// Feed items after `since`, at most `limit` rows scanned. Returns the items still
    /// publishable (a withdrawn patient's earlier summaries are purged) and the cursor to
    /// resume from.
    pub async fn feed_since(&self, since: i64, limit: i64) -> anyhow::Result<(Vec<FeedItem>, i64)> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT seq, kind, patient_id, nhs_number, at_ms, summary_json FROM emergency_feed
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("reading the emergency feed")?;
            let mut next = since;
            let mut items = Vec::with_capacity(rows.len());
            for r in &rows {
                let item = FeedItem {
                    seq: r.try_get("seq")?,
                    kind: r.try_get("kind")?,
                    patient_id: r.try_get("patient_id")?,
                    nhs_number: r.try_get("nhs_number")?,
                    at_ms: r.try_get("at_ms")?,
                    summary_json: r.try_get("summary_json")?,
                };
                next = item.seq;
                if item.kind == "summary" && item.summary_json.is_none() {
                    continue;
                }
                items.push(item);
            }
            Ok((items, next))
        })
    }

    /// The last feed sequence number handed out.
    pub async fn feed_head(&self) -> anyhow::Result<i64> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT value FROM sequences WHERE name = 'feed'")
                .fetch_one(pool)
                .await
                .context("reading the feed head")?;
            Ok(row.try_get("value")?)
        })
    }

    /// Puts every consenting patient that has no feed item yet (plans stored before the
    /// feed existed) into the feed, so a mirror built from the start is complete.
    pub async fn backfill_feed(&self, now_ms: i64) -> anyhow::Result<usize> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            // Take the feed lock first so that no commit can slip a newer item in between.
            sqlx::query("UPDATE sequences SET value = value WHERE name = 'feed'")
                .execute(&mut *tx)
                .await
                .context("locking the feed")?;
            let rows = sqlx::query(
                "SELECT s.patient_id, s.nhs_number, s.summary_json, s.plan_version, s.updated_at_ms,
                        s.updated_by_user_id, s.updated_by_name, s.updated_by_organisation
                 FROM emergency_summaries s
                 WHERE s.consent = TRUE
                   AND NOT EXISTS (SELECT 1 FROM emergency_feed f WHERE f.patient_id = s.patient_id)
                 ORDER BY s.updated_at_ms, s.patient_id",
            )
            .fetch_all(&mut *tx)
            .await
            .context("finding summaries missing from the feed")?;
            for r in &rows {
                let patient_id: String = r.try_get("patient_id")?;
                let nhs_number: String = r.try_get("nhs_number")?;
                let by = match (
                    r.try_get::<Option<String>, _>("updated_by_user_id")?,
                    r.try_get::<Option<String>, _>("updated_by_name")?,
                ) {
                    (Some(user_id), Some(name)) => Some(Committer {
                        user_id,
                        name,
                        organisation: r.try_get::<Option<String>, _>("updated_by_organisation")?.unwrap_or_default(),
                    }),
                    _ => None,
                };
                let published = published_summary(
                    &r.try_get::<String, _>("summary_json")?,
                    &patient_id,
                    &r.try_get::<String, _>("plan_version")?,
                    r.try_get("updated_at_ms")?,
                    by.as_ref(),
                )?
                .to_string();
                append_feed!(tx, &patient_id, &nhs_number, "summary", Some(published.as_str()), now_ms);
            }
            tx.commit().await.context("committing the feed backfill")?;
            Ok(rows.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::never_settled;

    #[test]
    fn an_old_stored_conflict_is_served_as_conflicting() {
        let by = json!({"user_id": "u", "user_name": "U", "at_ms": 1});
        let mut old = json!({
            "dnacpr": "do_not_attempt_cpr",
            "dnacpr_label": "DNACPR in place: do not attempt CPR",
            "resuscitation": {"conflicting": true, "label": "CONFLICTING ENTRIES", "recorded": null,
                "values": [{"label": "For attempted CPR", "recorded": by},
                           {"label": "DNACPR in place: do not attempt CPR", "recorded": by}]},
        });
        never_settled(&mut old);
        assert_eq!(old["dnacpr"], "conflicting");
        assert_eq!(
            old["dnacpr_label"],
            "Conflicting: For attempted CPR / DNACPR in place: do not attempt CPR \u{2014} confirm with the care team"
        );

        let settled = json!({"dnacpr": "for_attempted_cpr", "dnacpr_label": "For attempted CPR",
            "resuscitation": {"conflicting": false, "values": []}});
        let mut same = settled.clone();
        never_settled(&mut same);
        assert_eq!(same, settled);
    }
}
