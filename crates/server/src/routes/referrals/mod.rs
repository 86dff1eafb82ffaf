//! Referral peer review over HTTP (issue 15; seeds 000 CASES and 001 CASPeR): a case
//! manager at a practice makes a routine referral; a GP reviewer assigned to its
//! specialty forwards it to hospital, returns it with advice or asks a question, within 3
//! working days; the referrer answers and acknowledges returned advice; the patient gets a
//! printable letter; the learning report counts outcomes without naming a patient.
//!
//! The rules are the shared core's (`redfolder_shared::referral`), who acts in which
//! capacity is [`crate::access::referral_party`]. Every read that shows a referral is
//! audited per referral (with the patient where they have a plan), every step in its own
//! transaction with the step; refusals are audited too.

mod admin;
mod documents;
mod education;
mod letter;
mod lists;
mod making;
mod report;
mod steps;
mod views;

pub(crate) use steps::record_in_plan;

use redfolder_shared::Date;
use redfolder_shared::referral::{Party, Specialties};

use crate::access::referral_party;
use crate::audit::{AuditEvent, action, purpose};
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::referrals::StoredReferral;

/// A practice's "today": the calendar date in the United Kingdom (BST in summer).
fn today() -> Date {
    Date::uk_from_unix_ms(now_ms())
}

fn role_of(party: Party) -> Role {
    match party {
        Party::Referrer => Role::CaseManager,
        Party::Reviewer => Role::GpReviewer,
    }
}

fn purpose_of(party: Party) -> &'static str {
    match party {
        Party::Referrer => purpose::DIRECT_CARE,
        Party::Reviewer => purpose::PEER_REVIEW,
    }
}

/// An audit entry about one referral, with its patient where they have a plan.
fn referral_event(
    principal: &Principal,
    party: Party,
    act: &str,
    outcome: &str,
    r: &StoredReferral,
) -> AuditEvent {
    let e = AuditEvent::new(now_ms(), act, purpose_of(party), outcome)
        .by(principal, role_of(party))
        .subject(r.id.clone());
    match &r.patient_id {
        Some(p) => e.patient(p.clone()),
        None => e,
    }
}

async fn deny(state: &AppState, principal: &Principal, act: &str, detail: &str) -> ApiError {
    let event = AuditEvent::new(now_ms(), act, purpose::DIRECT_CARE, "denied")
        .by(principal, principal.user.primary_role())
        .detail(detail.to_owned());
    match state.store().record_audit(&[event]).await {
        Ok(()) => ApiError::Forbidden,
        Err(e) => ApiError::Internal(e),
    }
}

async fn specialties(state: &AppState) -> Result<Specialties, ApiError> {
    Ok(Specialties::new(
        state.store().referral_specialties().await?,
    ))
}

async fn holidays(state: &AppState) -> Result<Vec<Date>, ApiError> {
    Ok(state
        .store()
        .bank_holidays()
        .await?
        .iter()
        .filter_map(|d| Date::parse(d))
        .collect())
}

/// The specialties the caller reviews, and whether they are mentored in each.
async fn reviewed_by(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<(String, bool)>, ApiError> {
    if !principal.user.has(Role::GpReviewer) {
        return Ok(Vec::new());
    }
    Ok(state
        .store()
        .reviewer_assignments(Some(&principal.user.id))
        .await?
        .into_iter()
        .map(|a| (a.specialty, a.mentored))
        .collect())
}

/// The referral and the caller's capacity on it. A referral the caller may not see at
/// all is "not found" (audited as denied), so its existence is not disclosed.
async fn reach(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(StoredReferral, Party, Option<bool>), ApiError> {
    let r = state.store().referral(id).await?;
    let reviewed = reviewed_by(state, principal).await?;
    if let Some(r) = r {
        let assignment = reviewed.iter().find(|(s, _)| *s == r.specialty);
        if let Some(party) =
            referral_party(&principal.user, &r.organisation_id, assignment.is_some())
        {
            return Ok((r, party, assignment.map(|(_, m)| *m)));
        }
    }
    let event = AuditEvent::new(
        now_ms(),
        action::REFERRAL_READ,
        purpose::DIRECT_CARE,
        "denied",
    )
    .by(principal, principal.user.primary_role())
    .subject(id.chars().take(64).collect::<String>());
    state.store().record_audit(&[event]).await?;
    Err(ApiError::not_found("no such referral for you"))
}

/// The referral routes, merged under `/api/v1`.
pub(crate) fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/referrals", get(lists::practice_list).post(making::create))
        .route("/referrals/fhir", post(making::import_fhir))
        .route(
            "/referrals/specialties",
            get(admin::list_specialties).post(admin::add_specialty),
        )
        .route(
            "/referrals/reviewers",
            get(admin::reviewers).post(admin::assign_reviewer),
        )
        .route("/referrals/queue", get(lists::queue))
        .route(
            "/referrals/education-notes",
            get(education::list).post(education::write),
        )
        .route("/referrals/report", get(report::report))
        .route("/referrals/{id}", get(steps::detail))
        .route("/referrals/{id}/decision", post(steps::decide))
        .route("/referrals/{id}/answer", post(steps::answer))
        .route("/referrals/{id}/acknowledge", post(steps::acknowledge))
        .route("/referrals/{id}/letter", get(letter::letter))
        .route("/referrals/{id}/fhir", get(documents::fhir))
        .route(
            "/referrals/{id}/attachments/{seq}",
            get(documents::attachment),
        )
}

/// The referrals' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    admin::list_specialties,
    admin::add_specialty,
    admin::reviewers,
    admin::assign_reviewer,
    making::create,
    making::import_fhir,
    lists::practice_list,
    lists::queue,
    steps::detail,
    steps::decide,
    steps::answer,
    steps::acknowledge,
    letter::letter,
    report::report,
    education::write,
    education::list,
    documents::attachment,
    documents::fhir,
))]
pub(crate) struct ReferralApi;
