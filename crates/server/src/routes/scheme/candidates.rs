//! The candidates worklist and the exclusions from it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use redfolder_shared::NhsNumber;
use serde::{Deserialize, Serialize};

use super::{act, event, practice, today};
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::{ApiJson, ApiPath};
use crate::scheme::practice_plans;
use crate::scheme::rules::{self, CohortPosition};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ExclusionBody {
    /// Ten digits, optionally grouped 3-3-4 by spaces or hyphens, whose last is the Modulus 11 check digit.
    #[schema(pattern = r"^[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}$")]
    nhs_number: String,
    /// Why case management would be inappropriate, e.g. "renal unit follows up"; not
    /// blank.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    reason: String,
}

/// Excludes a high-risk patient from the worklist, with the reason (section 2.2.2).
#[utoipa::path(post, path = "/api/v1/scheme/exclusions", tag = "scheme",
    security(("bearer" = [])), request_body = ExclusionBody,
    responses((status = 201, body = super::Created, description = "Recorded"), (status = 400, description = "Bad NHS number or no reason"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn add_exclusion(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ExclusionBody>,
) -> Result<(StatusCode, Json<super::Created>), ApiError> {
    let org = practice(&state, &principal, act::EXCLUSION).await?;
    let nhs = NhsNumber::parse(&body.nhs_number)
        .map_err(|_| ApiError::BadRequest("not a valid NHS number".into()))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::BadRequest(
            "a reason (up to 500 characters) is required".into(),
        ));
    }
    let ev = event(&principal, act::EXCLUSION, purpose::DIRECT_CARE).subject(nhs.digits());
    let id = state
        .store()
        .add_exclusion(
            &org,
            &nhs.digits(),
            reason,
            &principal.user.id,
            now_ms(),
            &[ev],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(super::Created { id })))
}

/// Lifts an exclusion (it stays on record).
#[utoipa::path(delete, path = "/api/v1/scheme/exclusions/{id}", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Exclusion id")),
    responses((status = 204, description = "Lifted"), (status = 404, description = "No such exclusion"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn lift_exclusion(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let org = practice(&state, &principal, act::EXCLUSION).await?;
    let ev = event(&principal, act::EXCLUSION, purpose::DIRECT_CARE).detail(format!("lift {id}"));
    if state
        .store()
        .lift_exclusion(&org, &id, now_ms(), &[ev])
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such exclusion"))
    }
}

/// The candidates worklist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CandidatesView {
    cohort: Option<CohortPosition>,
    risk_upload: Option<crate::store::scheme::RiskUpload>,
    candidates: Vec<rules::Candidate>,
    excluded: Vec<rules::Excluded>,
    exclusions: Vec<crate::store::scheme::Exclusion>,
}

/// The worklist: where the practice stands against 3 % and 5 % (enrolled by category),
/// then care home residents not yet in the scheme, then risk-tool levels 3 and 2 by
/// score, leaving out the enrolled and listing the excluded with their reasons.
#[utoipa::path(get, path = "/api/v1/scheme/candidates", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, body = CandidatesView, description = "The worklist"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn candidates(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let org = practice(&state, &principal, act::CANDIDATES).await?;
    let store = state.store();
    let today = today();
    let plans = practice_plans(&state, &org, today).await?;
    let upload = store.risk_uploads(&org).await?.into_iter().next();
    let risk = match &upload {
        Some(u) => store.risk_rows(&u.id).await?,
        None => Vec::new(),
    };
    let exclusions = store.exclusions(&org).await?;
    let pairs: Vec<(String, String)> = exclusions
        .iter()
        .map(|e| (e.nhs_number.clone(), e.reason.clone()))
        .collect();
    let (list, excluded) = rules::candidates(&plans, &risk, &pairs);
    let cohort = store
        .list_size(&org, &today.to_string())
        .await?
        .map(|s| rules::cohort_position(u64::try_from(s.list_size).unwrap_or(0), &plans));
    let now = now_ms();
    let mut events = vec![
        AuditEvent::new(now, act::CANDIDATES, purpose::DIRECT_CARE, "ok")
            .by(&principal, Role::CaseManager)
            .detail(format!("{} candidates", list.len())),
    ];
    events.extend(list.iter().filter_map(|c| {
        c.patient_id.as_ref().map(|id| {
            AuditEvent::new(now, act::CANDIDATES, purpose::DIRECT_CARE, "ok")
                .by(&principal, Role::CaseManager)
                .patient(id.clone())
        })
    }));
    store.record_audit(&events).await?;
    Ok(Json(CandidatesView {
        cohort,
        risk_upload: upload,
        candidates: list,
        excluded,
        exclusions,
    })
    .into_response())
}
