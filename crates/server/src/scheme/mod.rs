//! The case management scheme of seed 003 (Rotherham): cohort and candidates, reviews
//! due, the monthly data return and its claim, MDT meetings and virtual clinics.
//!
//! [`rules`] holds every rule as a pure function with its tests; this module only reads
//! what the rules need from the plans of a practice.

pub mod clinic;
pub mod rules;

use anyhow::Context;
use redfolder_shared::Date;

use crate::state::AppState;
use crate::sync::DocCache;
use rules::PlanFacts;

/// The scheme facts of every plan registered at a practice, read from the committed
/// documents (through the shared document cache, refreshed with whatever other instances
/// committed). Plans that do not read are skipped: they cannot be in the scheme.
pub async fn practice_plans(
    state: &AppState,
    organisation_id: &str,
    today: Date,
) -> anyhow::Result<Vec<PlanFacts>> {
    let store = state.store();
    let ids = store.practice_patient_ids(organisation_id).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(mut doc) = state.docs().lock(store, &id).await? else {
            continue;
        };
        DocCache::refresh(store, &mut doc)
            .await
            .context("refreshing a plan for the scheme")?;
        match doc.doc.plan() {
            Ok(plan) => out.push(PlanFacts::of(&id, &plan, today)),
            Err(e) => {
                tracing::warn!(error = %e, "a stored plan does not read; left out of the scheme")
            }
        }
    }
    Ok(out)
}
