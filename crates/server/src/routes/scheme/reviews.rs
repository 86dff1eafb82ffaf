//! Reviews due and overdue, and what a review should decide.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{act, practice, today};
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::{ApiJson, ApiQuery};
use crate::scheme::practice_plans;
use crate::scheme::rules::{self, DueState};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DueParams {
    /// Days ahead that count as due soon (default 28).
    within_days: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DueRow {
    patient_id: String,
    nhs_number: String,
    name: String,
    case_manager: Option<String>,
    due: String,
    #[schema(value_type = rules::DueStateSchema)]
    state: DueState,
    /// `not_printed`, `current` or `out_of_date`: a review is when the paper copy in the
    /// home is most often replaced, so the list says which need a reprint.
    paper_copy: &'static str,
    paper_copy_label: String,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub(crate) struct DueCounts {
    overdue: u64,
    due_soon: u64,
    not_yet_due: u64,
}

impl DueCounts {
    fn add(&mut self, s: DueState) {
        match s {
            DueState::Overdue => self.overdue += 1,
            DueState::DueSoon => self.due_soon += 1,
            DueState::NotYetDue => self.not_yet_due += 1,
        }
    }
}

/// Reviews due and overdue at the practice and per case manager, computed from each
/// plan's enrolment: four months after the last review (twelve for over-75 case reviews),
/// sooner if the case manager set an earlier date.
#[utoipa::path(get, path = "/api/v1/scheme/reviews-due", tag = "scheme",
    security(("bearer" = [])), params(DueParams),
    responses((status = 200, body = ReviewsDue, description = "Counts for the practice and per case manager, and the plans due soon or overdue"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn reviews_due(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<DueParams>,
) -> Result<Json<ReviewsDue>, ApiError> {
    let org = practice(&state, &principal, act::REVIEWS_DUE).await?;
    let today = today();
    let window = params.within_days.unwrap_or(28).clamp(0, 366);
    let plans = practice_plans(&state, &org, today).await?;
    let mut total = DueCounts::default();
    let mut by_manager: BTreeMap<String, DueCounts> = BTreeMap::new();
    let mut rows = Vec::new();
    for p in &plans {
        let Some(due) = rules::review_due(p) else {
            continue;
        };
        let s = rules::due_state(due, today, window);
        total.add(s);
        let manager = p
            .case_manager
            .clone()
            .unwrap_or_else(|| "(none named)".into());
        by_manager.entry(manager).or_default().add(s);
        if s != DueState::NotYetDue {
            rows.push(DueRow {
                patient_id: p.patient_id.clone(),
                nhs_number: p.nhs_number.clone(),
                name: p.name.clone(),
                case_manager: p.case_manager.clone(),
                due: due.to_string(),
                state: s,
                paper_copy: p.paper_copy.state.key(),
                paper_copy_label: p.paper_copy.label.clone(),
            });
        }
    }
    rows.sort_by(|a, b| a.due.cmp(&b.due).then(a.patient_id.cmp(&b.patient_id)));
    let now = now_ms();
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|r| {
            AuditEvent::new(now, act::REVIEWS_DUE, purpose::DIRECT_CARE, "ok")
                .by(&principal, Role::CaseManager)
                .patient(r.patient_id.clone())
        })
        .collect();
    state.store().record_audit(&events).await?;
    let by_case_manager = by_manager
        .into_iter()
        .map(|(case_manager, counts)| ManagerCounts {
            case_manager,
            counts,
        })
        .collect();
    Ok(Json(ReviewsDue {
        today: today.to_string(),
        within_days: window,
        practice: total,
        by_case_manager,
        plans: rows,
    }))
}

/// Reviews due at the practice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReviewsDue {
    /// `YYYY-MM-DD`
    today: String,
    within_days: i64,
    practice: DueCounts,
    by_case_manager: Vec<ManagerCounts>,
    /// Due soon or overdue, soonest first.
    plans: Vec<DueRow>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ManagerCounts {
    /// `(none named)` for plans without one.
    case_manager: String,
    counts: DueCounts,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct OutcomeQuestion {
    still_in_top_5_percent: bool,
    #[serde(default)]
    exceptional_circumstances: bool,
    over_75: bool,
}

/// What a review should decide (Appendix 1, step 17), for the app to propose.
#[utoipa::path(post, path = "/api/v1/scheme/review-outcome", tag = "scheme",
    security(("bearer" = [])), request_body = OutcomeQuestion,
    responses((status = 200, body = OutcomeAnswer, description = "What the review should decide"), (status = 403, description = "Only case managers")))]
pub(crate) async fn review_outcome(
    Authenticated(principal): Authenticated,
    ApiJson(q): ApiJson<OutcomeQuestion>,
) -> Result<Json<OutcomeAnswer>, ApiError> {
    if !principal.user.has(Role::CaseManager) {
        return Err(ApiError::Forbidden);
    }
    let outcome = rules::review_outcome(
        q.still_in_top_5_percent,
        q.exceptional_circumstances,
        q.over_75,
    );
    Ok(Json(OutcomeAnswer { outcome }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OutcomeAnswer {
    #[schema(value_type = String, pattern = "^(continue|practice_discretion|end_case_management|move_to_annual_review)$")]
    outcome: redfolder_shared::ReviewOutcome,
}
