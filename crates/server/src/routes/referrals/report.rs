//! The learning report by specialty and condition.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use redfolder_shared::Date;
use redfolder_shared::referral::{self, LearningReport, ReferralState, ReportRow};
use serde::Deserialize;

use super::{deny, holidays, today};
use crate::audit::{AuditEvent, action, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportParams {
    /// Received on or after (`YYYY-MM-DD`).
    from: Option<String>,
    /// Received on or before (`YYYY-MM-DD`).
    to: Option<String>,
    /// `csv` for CSV; JSON otherwise.
    format: Option<String>,
}

fn report_csv(report: &referral::LearningReport) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(anyhow::anyhow!("writing the report CSV: {e}"));
    w.write_record([
        "practice",
        "specialty",
        "condition",
        "referrals",
        "forwarded",
        "returned",
        "awaiting",
        "questions_asked",
        "advice_tests",
        "advice_treatment",
        "decided_on_time",
        "decided_late",
        "overdue",
        "mean_turnaround_working_days",
    ])
    .map_err(fail)?;
    for l in &report.lines {
        let o = &l.outcomes;
        w.write_record([
            l.practice.clone().unwrap_or_else(|| "all".into()),
            l.specialty.clone(),
            l.condition.clone().unwrap_or_else(|| "all".into()),
            o.referrals.to_string(),
            o.forwarded.to_string(),
            o.returned.to_string(),
            o.awaiting.to_string(),
            o.questions_asked.to_string(),
            o.advice_tests.to_string(),
            o.advice_treatment.to_string(),
            o.decided_on_time.to_string(),
            o.decided_late.to_string(),
            o.overdue.to_string(),
            o.mean_turnaround_working_days
                .map(|m| format!("{m:.2}"))
                .unwrap_or_default(),
        ])
        .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing the report CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(anyhow::anyhow!("report CSV: {e}")))
}

/// The learning report by specialty and condition, per practice and across practices:
/// referrals, forwarded and returned, advice given (tests, treatment), turnaround against
/// 3 working days. It names no patient. A case manager sees their own practice;
/// commissioners and GP reviewers every practice.
#[utoipa::path(get, path = "/api/v1/referrals/report", tag = "referrals",
    security(("bearer" = [])), params(ReportParams),
    responses((status = 200, content((LearningReport = "application/json"), (String = "text/csv")), description = "JSON {today, review_working_days, total, lines: [{practice|null, specialty, condition|null, referrals, forwarded, returned, …}]}, or CSV with format=csv"),
        (status = 400, description = "Bad date"), (status = 401, description = "Not signed in"),
        (status = 403, description = "Only case managers, GP reviewers and commissioners")))]
pub(crate) async fn report(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let u = &principal.user;
    let (scope, role) = if u.has(Role::Commissioner) {
        (None, Role::Commissioner)
    } else if u.has(Role::GpReviewer) {
        (None, Role::GpReviewer)
    } else if u.has(Role::CaseManager) {
        (Some(u.organisation_id.clone()), Role::CaseManager)
    } else {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_REPORT,
            "learning report",
        )
        .await);
    };
    let bound = |name: &str, v: &Option<String>| -> Result<Option<Date>, ApiError> {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                Date::parse(s)
                    .ok_or_else(|| ApiError::BadRequest(format!("{name} must be YYYY-MM-DD")))
            })
            .transpose()
    };
    let (from, to) = (bound("from", &params.from)?, bound("to", &params.to)?);
    let today = today();
    let holidays = holidays(&state).await?;
    let referrals = state.store().report_referrals(scope.as_deref()).await?;
    let mut rows = Vec::with_capacity(referrals.len());
    // Only returned referrals carry advice, read from their steps (one query each).
    let mut with_advice = BTreeSet::new();
    for r in &referrals {
        if r.state == "returned" || r.state == "advice_acknowledged" {
            with_advice.insert(r.id.clone());
        }
    }
    for r in referrals {
        let (Some(received), Some(deadline), Some(st)) = (
            Date::parse(&r.received_on),
            Date::parse(&r.deadline),
            ReferralState::parse(&r.state),
        ) else {
            continue;
        };
        if from.is_some_and(|f| received < f) || to.is_some_and(|t| received > t) {
            continue;
        }
        let advice = if with_advice.contains(&r.id) {
            state
                .store()
                .referral_events(&r.id)
                .await?
                .iter()
                .rev()
                .find(|e| e.kind == "return")
                .and_then(|e| serde_json::from_value(e.body["advice"].clone()).ok())
        } else {
            None
        };
        rows.push(ReportRow {
            practice: r.practice_code,
            specialty: r.specialty,
            condition: r.condition,
            state: st,
            received,
            decided: r.decided_on.as_deref().and_then(Date::parse),
            deadline,
            advice,
            question_asked: r.question_asked,
        });
    }
    let report = referral::learning_report(&rows, today, &holidays);
    let ev = AuditEvent::new(
        now_ms(),
        action::REFERRAL_REPORT,
        purpose::COMMISSIONING,
        "ok",
    )
    .by(&principal, role)
    .detail(format!(
        "learning report, {} (aggregates only)",
        scope.as_deref().map_or("all practices", |_| "own practice")
    ));
    state.store().record_audit(&[ev]).await?;
    if params.format.as_deref() == Some("csv") {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"referral-learning-report.csv\"",
                ),
            ],
            report_csv(&report)?,
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
