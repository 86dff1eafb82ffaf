//! The practice's list size, the risk tool's uploads and the cohort position against
//! 3 % and 5 % of the list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{act, date_param, event, practice, today};
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::scheme::practice_plans;
use crate::scheme::rules;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ListSizeBody {
    #[schema(minimum = 1, maximum = 10_000_000)]
    list_size: i64,
    /// `YYYY-MM-DD`; today when absent.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    as_of: Option<String>,
}

/// Records the practice's list size (earlier figures are kept).
#[utoipa::path(post, path = "/api/v1/scheme/list-size", tag = "scheme",
    security(("bearer" = [])), request_body = ListSizeBody,
    responses((status = 201, body = ListSizeSet, description = "Recorded"), (status = 400, description = "Not a positive number or a date"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn set_list_size(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ListSizeBody>,
) -> Result<(StatusCode, Json<ListSizeSet>), ApiError> {
    let org = practice(&state, &principal, act::LIST_SIZE).await?;
    if !(1..=10_000_000).contains(&body.list_size) {
        return Err(ApiError::BadRequest(
            "list_size must be a positive number".into(),
        ));
    }
    let as_of = match &body.as_of {
        Some(s) => date_param("as_of", s)?,
        None => today(),
    };
    let now = now_ms();
    let ev = event(&principal, act::LIST_SIZE, purpose::ADMINISTRATION)
        .detail(format!("list size {} as of {as_of}", body.list_size));
    state
        .store()
        .record_list_size(
            &org,
            body.list_size,
            &as_of.to_string(),
            &principal.user.id,
            now,
            &[ev],
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ListSizeSet {
            list_size: body.list_size,
            as_of: as_of.to_string(),
        }),
    ))
}

/// The practice's current list size.
#[utoipa::path(get, path = "/api/v1/scheme/list-size", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, body = crate::store::scheme::ListSize, description = "The latest figure as of today"), (status = 404, description = "None recorded"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn list_size(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<crate::store::scheme::ListSize>, ApiError> {
    let org = practice(&state, &principal, act::LIST_SIZE).await?;
    let size = state
        .store()
        .list_size(&org, &today().to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("no list size recorded"))?;
    Ok(Json(size))
}

/// Uploads the risk tool's output as CSV (`nhs_number,risk_score,risk_level,as_of`).
/// A file with any bad row is refused whole with every problem by line; an accepted file
/// becomes the practice's current list, earlier uploads are kept.
#[utoipa::path(post, path = "/api/v1/scheme/risk-uploads", tag = "scheme",
    security(("bearer" = [])), request_body(content = String, content_type = "text/csv",
        description = "A header line naming nhs_number, risk_score, risk_level and as_of (any order, any case), then one patient a line"),
    responses((status = 201, body = RiskUploadAccepted, description = "Accepted, with the movement against the previous upload"),
        (status = 422, body = RiskUploadRefused, description = "Refused, every problem by line; nothing kept"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn upload_risk(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    body: String,
) -> Result<Response, ApiError> {
    let org = practice(&state, &principal, act::RISK_UPLOAD).await?;
    let store = state.store();
    match rules::parse_risk_csv(&body, today()) {
        Err(problems) => {
            let ev = AuditEvent::new(now_ms(), act::RISK_UPLOAD, purpose::DIRECT_CARE, "refused")
                .by(&principal, Role::CaseManager)
                .detail(format!("{} bad rows", problems.len()));
            store.record_audit(&[ev]).await?;
            let body = RiskUploadRefused {
                error: "invalid_rows",
                message: "the file was not accepted: nothing of it was kept",
                problems,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Ok(rows) => {
            let top = rows.iter().filter(|r| r.in_top_5_percent()).count();
            let previous = match store.risk_uploads(&org).await?.first() {
                Some(p) => Some((p.id.clone(), store.risk_rows(&p.id).await?)),
                None => None,
            };
            let moved = rules::movement(
                previous
                    .as_ref()
                    .map_or(&[][..], |(_, rows)| rows.as_slice()),
                &rows,
            );
            let ev = event(&principal, act::RISK_UPLOAD, purpose::DIRECT_CARE)
                .detail(format!("{} rows", rows.len()));
            let id = store
                .save_risk_upload(&org, &principal.user.id, &rows, now_ms(), &[ev])
                .await?;
            let body = RiskUploadAccepted {
                upload_id: id,
                rows: rows.len(),
                top_5_percent: top,
                movement: MovementView {
                    compared_with: previous.map(|(id, _)| id),
                    entered_top_5_percent: moved.entered,
                    left_top_5_percent: moved.left,
                },
            };
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
    }
}

/// Every accepted upload, newest first (the history of the risk list).
#[utoipa::path(get, path = "/api/v1/scheme/risk-uploads", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<crate::store::scheme::RiskUpload>, description = "Uploads, newest first"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn risk_uploads(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<crate::store::scheme::RiskUpload>>, ApiError> {
    let org = practice(&state, &principal, act::RISK_UPLOAD).await?;
    Ok(Json(state.store().risk_uploads(&org).await?))
}

/// The practice's position against 3 % and 5 % of its list, by category, and nothing
/// else: cheap enough for the app to show on the caseload all the time. No patient is
/// named, so one audit entry covers it.
#[utoipa::path(get, path = "/api/v1/scheme/cohort", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, body = CohortAnswer, description = "The position, or null without a list size"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn cohort(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<CohortAnswer>, ApiError> {
    let org = practice(&state, &principal, act::CANDIDATES).await?;
    let today = today();
    let plans = practice_plans(&state, &org, today).await?;
    let cohort = state
        .store()
        .list_size(&org, &today.to_string())
        .await?
        .map(|s| rules::cohort_position(u64::try_from(s.list_size).unwrap_or(0), &plans));
    let ev = event(&principal, act::CANDIDATES, purpose::DIRECT_CARE).detail("cohort position");
    state.store().record_audit(&[ev]).await?;
    Ok(Json(CohortAnswer { cohort }))
}

/// A list size as recorded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ListSizeSet {
    list_size: i64,
    /// `YYYY-MM-DD`
    as_of: String,
}

/// An accepted risk-tool upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RiskUploadAccepted {
    upload_id: String,
    rows: usize,
    /// Rows at risk level 2 or 3.
    top_5_percent: usize,
    movement: MovementView,
}

/// Who entered and left the top 5 % since the previous upload (by NHS number).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MovementView {
    /// The previous upload's id; null for the first.
    compared_with: Option<String>,
    entered_top_5_percent: Vec<String>,
    left_top_5_percent: Vec<String>,
}

/// A refused risk-tool upload: every problem by line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RiskUploadRefused {
    /// `invalid_rows`
    error: &'static str,
    message: &'static str,
    problems: Vec<rules::RowProblem>,
}

/// The practice's position against 3 % and 5 % of its list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CohortAnswer {
    /// Null until a list size is recorded.
    cohort: Option<rules::CohortPosition>,
}
