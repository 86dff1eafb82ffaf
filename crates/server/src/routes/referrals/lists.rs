//! The practice's referrals and the reviewer's queue.

use axum::Json;
use axum::extract::State;
use redfolder_shared::referral::{Party, ReferralState};
use serde::Deserialize;

use super::views::{PracticeReferrals, QueueView, ReferralView, ReviewedSpecialty};
use super::{deny, referral_event, reviewed_by, today};
use crate::access::referral_party;
use crate::audit::{AuditEvent, action};
use crate::auth::Authenticated;
use crate::domain::Role;
use crate::error::ApiError;
use crate::routes::ApiQuery;
use crate::state::AppState;
use crate::store::referrals::StoredReferral;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only referrals in this state (`awaiting_review`, `question_asked`, `forwarded`,
    /// `returned`, `advice_acknowledged`).
    state: Option<String>,
}

/// The practice's referrals, newest first, with their outcomes: what the referrer acts
/// on (questions to answer, advice to acknowledge).
#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals",
    security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = PracticeReferrals, description = "The practice's referrals and how many wait for it"),
        (status = 400, description = "Unknown state"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only case managers")))]
pub(crate) async fn practice_list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<PracticeReferrals>, ApiError> {
    if !principal.user.has(Role::CaseManager) {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_READ,
            "practice referrals",
        )
        .await);
    }
    let wanted = match params.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            ReferralState::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown state {s}")))?,
        ),
    };
    let today = today();
    let list: Vec<StoredReferral> = state
        .store()
        .practice_referrals(&principal.user.organisation_id, 500)
        .await?
        .into_iter()
        .filter(|r| wanted.is_none_or(|w| r.state == w.as_str()))
        .collect();
    let events: Vec<AuditEvent> = list
        .iter()
        .map(|r| {
            referral_event(&principal, Party::Referrer, action::REFERRAL_READ, "ok", r)
                .detail("practice list")
        })
        .collect();
    state.store().record_audit(&events).await?;
    let needs_you = list
        .iter()
        .filter(|r| r.state == "question_asked" || r.state == "returned")
        .count();
    Ok(Json(PracticeReferrals {
        referrals: list.iter().map(|r| ReferralView::of(r, today)).collect(),
        needs_you,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QueueParams {
    /// One of the caller's specialties; all of them when absent.
    specialty: Option<String>,
}

/// The reviewer's queue: referrals under review in their specialties, earliest deadline
/// first, each flagged overdue once its deadline has passed. Those waiting for the
/// referrer's answer are listed with their state.
#[utoipa::path(get, path = "/api/v1/referrals/queue", tag = "referrals",
    security(("bearer" = [])), params(QueueParams),
    responses((status = 200, body = QueueView, description = "The queue, earliest deadline first"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only GP reviewers, in the specialties they are assigned")))]
pub(crate) async fn queue(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<QueueView>, ApiError> {
    let reviewed = reviewed_by(&state, &principal).await?;
    let chosen: Vec<&(String, bool)> = match params.specialty.as_deref() {
        None | Some("") => reviewed.iter().collect(),
        Some(s) => reviewed
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(s.trim()))
            .collect(),
    };
    if !principal.user.has(Role::GpReviewer) || chosen.is_empty() && params.specialty.is_some() {
        return Err(deny(&state, &principal, action::REFERRAL_READ, "review queue").await);
    }
    let today = today();
    let mut all = Vec::new();
    for (specialty, _) in &chosen {
        all.extend(state.store().referral_queue(specialty).await?);
    }
    // A reviewer who is also a case manager does not review their own practice's.
    all.retain(|r| {
        referral_party(&principal.user, &r.organisation_id, true) == Some(Party::Reviewer)
    });
    all.sort_by(|a, b| {
        a.deadline
            .cmp(&b.deadline)
            .then(a.created_at_ms.cmp(&b.created_at_ms))
            .then(a.id.cmp(&b.id))
    });
    let events: Vec<AuditEvent> = all
        .iter()
        .map(|r| {
            referral_event(&principal, Party::Reviewer, action::REFERRAL_READ, "ok", r)
                .detail("review queue")
        })
        .collect();
    state.store().record_audit(&events).await?;
    Ok(Json(QueueView {
        today: today.to_string(),
        specialties: chosen
            .iter()
            .map(|(specialty, mentored)| ReviewedSpecialty {
                specialty: specialty.clone(),
                mentored: *mentored,
            })
            .collect(),
        queue: all.iter().map(|r| ReferralView::of(r, today)).collect(),
    }))
}
