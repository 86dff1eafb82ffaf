//! The monthly data return (JSON or CSV) and its commissioner aggregate.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use redfolder_shared::Date;
use serde::{Deserialize, Serialize};

use super::{act, date_param, event, practice, today};
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::{ApiPath, ApiQuery};
use crate::scheme::practice_plans;
use crate::scheme::rules::{self, Month, MonthlyReturn, PlanFacts};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReturnParams {
    /// The day the return is submitted (`YYYY-MM-DD`, default today): activity done more
    /// than three months earlier is shown as not payable.
    #[param(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    claimed_on: Option<String>,
    /// `csv` for CSV; `json` (the default) for JSON.
    #[param(pattern = "^(csv|json)$")]
    format: Option<String>,
}

fn month_param(s: &str) -> Result<Month, ApiError> {
    Month::parse(s).ok_or_else(|| ApiError::BadRequest("month must be YYYY-MM".into()))
}

async fn practice_return(
    state: &AppState,
    org: &str,
    month: Month,
    claimed_on: Date,
) -> Result<MonthlyReturn, ApiError> {
    let plans: Vec<PlanFacts> = practice_plans(state, org, claimed_on).await?;
    let size = state
        .store()
        .list_size(org, &month.last_day().to_string())
        .await?
        .and_then(|s| u64::try_from(s.list_size).ok());
    Ok(rules::monthly_return(month, claimed_on, size, &plans))
}

/// The practice's monthly data return (section 4.3) and claim (section 7) for a month.
#[utoipa::path(get, path = "/api/v1/scheme/returns/{month}", tag = "scheme",
    security(("bearer" = [])),
    params(("month" = String, Path, description = "YYYY-MM", pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$"), ReturnParams),
    responses((status = 200, description = "The return as JSON, or CSV (measure,category,value) with format=csv",
            content(
                (rules::MonthlyReturn = "application/json"),
                (String = "text/csv"),
            )),
        (status = 400, description = "Bad month or date"), (status = 403, description = "Only case managers")))]
pub(crate) async fn monthly_return(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(month): ApiPath<String>,
    ApiQuery(params): ApiQuery<ReturnParams>,
) -> Result<Response, ApiError> {
    let org = practice(&state, &principal, act::RETURN).await?;
    let month = month_param(&month)?;
    let claimed_on = match &params.claimed_on {
        Some(s) => date_param("claimed_on", s)?,
        None => today(),
    };
    let r = practice_return(&state, &org, month, claimed_on).await?;
    let ev =
        event(&principal, act::RETURN, purpose::COMMISSIONING).detail(format!("return {month}"));
    state.store().record_audit(&[ev]).await?;
    if params.format.as_deref() == Some("csv") {
        let csv = rules::monthly_return_csv(&r);
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"return-{month}.csv\""),
                ),
            ],
            csv,
        )
            .into_response());
    }
    Ok(Json(r).into_response())
}

/// Every practice's return for a month, for commissioners: counts and money per practice
/// and in total, never a patient.
#[utoipa::path(get, path = "/api/v1/scheme/returns/{month}/aggregate", tag = "scheme",
    security(("bearer" = [])),
    params(("month" = String, Path, description = "YYYY-MM", pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$"), ReturnParams),
    responses((status = 200, body = AggregateReturn, description = "Every practice's return and the totals"),
        (status = 403, description = "Only commissioners")))]
pub(crate) async fn aggregate_return(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(month): ApiPath<String>,
    ApiQuery(params): ApiQuery<ReturnParams>,
) -> Result<Json<AggregateReturn>, ApiError> {
    if !principal.user.has(Role::Commissioner) {
        let event = AuditEvent::new(now_ms(), act::RETURN, purpose::COMMISSIONING, "denied")
            .by(&principal, principal.user.primary_role());
        state.store().record_audit(&[event]).await?;
        return Err(ApiError::Forbidden);
    }
    let month = month_param(&month)?;
    let claimed_on = match &params.claimed_on {
        Some(s) => date_param("claimed_on", s)?,
        None => today(),
    };
    let mut practices = Vec::new();
    let (mut new_plans, mut reviews, mut over_75, mut in_place, mut total) = (0, 0, 0, 0, 0);
    let mut discharges = rules::Discharges::default();
    for org in state.store().organisations().await? {
        if org.kind != "gp_practice" {
            continue;
        }
        let r = practice_return(&state, &org.id, month, claimed_on).await?;
        new_plans += r.new_plans.values().sum::<u64>();
        reviews += r.reviews_done;
        over_75 += r.over_75_case_reviews;
        in_place += r.plans_in_place.values().sum::<u64>();
        total += r.claim_total;
        discharges.add(&r.discharges);
        practices.push(PracticeReturn {
            code: org.code,
            name: org.name,
            r#return: r,
        });
    }
    let ev = AuditEvent::new(now_ms(), act::RETURN, purpose::COMMISSIONING, "ok")
        .by(&principal, Role::Commissioner)
        .detail(format!("aggregate return {month} (aggregates only)"));
    state.store().record_audit(&[ev]).await?;
    Ok(Json(AggregateReturn {
        month,
        claimed_on: claimed_on.to_string(),
        practices,
        totals: ReturnTotals {
            new_plans,
            reviews_done: reviews,
            over_75_case_reviews: over_75,
            plans_in_place: in_place,
            claim_total: total,
            discharges,
        },
    }))
}

/// Every practice's return for a month, and the totals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AggregateReturn {
    /// `YYYY-MM`
    #[schema(value_type = String)]
    month: Month,
    /// `YYYY-MM-DD`
    claimed_on: String,
    practices: Vec<PracticeReturn>,
    totals: ReturnTotals,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PracticeReturn {
    code: String,
    name: String,
    r#return: MonthlyReturn,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReturnTotals {
    new_plans: u64,
    reviews_done: u64,
    over_75_case_reviews: u64,
    plans_in_place: u64,
    claim_total: i64,
    discharges: rules::Discharges,
}
