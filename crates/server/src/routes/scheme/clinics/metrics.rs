//! What virtual clinics achieved, per practice and specialty (seed 004 counts avoided
//! referrals and new referrals): counts only, never a patient.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::ApiQuery;
use crate::routes::scheme::{act, date_param, today};
use crate::scheme::clinic::{ClinicMetrics, metrics};
use crate::scheme::rules::days_between;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MetricsParams {
    /// First clinic date counted, `YYYY-MM-DD` (default: a year before `to`).
    from: Option<String>,
    /// Last clinic date counted, `YYYY-MM-DD` (default: today).
    to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MetricsAnswer {
    from: String,
    to: String,
    /// One row per practice and specialty with a clinic in the period.
    rows: Vec<ClinicMetrics>,
    /// The rows added up.
    totals: ClinicMetrics,
}

/// Virtual clinic metrics over clinic dates `from` to `to`: a case manager's practice,
/// or every practice for a commissioner. Patients discussed are those with an outcome;
/// a referral avoided is an outcome kept in the practice or a locality clinic, a new
/// referral one sent to the hub.
#[utoipa::path(get, path = "/api/v1/scheme/clinic-metrics", tag = "scheme",
    security(("bearer" = [])), params(MetricsParams),
    responses((status = 200, body = MetricsAnswer, description = "Per practice and specialty, and in total"),
        (status = 400, description = "A bad date, or `from` after `to`, or a period over five years"),
        (status = 403, description = "Neither a case manager nor a commissioner")))]
pub(crate) async fn clinic_metrics(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<MetricsParams>,
) -> Result<Json<MetricsAnswer>, ApiError> {
    let (org, role, why) = if principal.user.has(Role::CaseManager) {
        (
            Some(principal.user.organisation_id.clone()),
            Role::CaseManager,
            purpose::DIRECT_CARE,
        )
    } else if principal.user.has(Role::Commissioner) {
        (None, Role::Commissioner, purpose::COMMISSIONING)
    } else {
        let event = AuditEvent::new(
            now_ms(),
            act::VIRTUAL_CLINIC,
            purpose::COMMISSIONING,
            "denied",
        )
        .by(&principal, principal.user.primary_role())
        .detail("clinic metrics");
        state.store().record_audit(&[event]).await?;
        return Err(ApiError::Forbidden);
    };
    let to = match &params.to {
        Some(d) => date_param("to", d)?,
        None => today(),
    };
    let from = match &params.from {
        Some(d) => date_param("from", d)?,
        None => {
            let epoch = redfolder_shared::Date::from_unix_ms(0);
            redfolder_shared::Date::from_unix_ms((days_between(epoch, to) - 365) * 86_400_000)
        }
    };
    let span = days_between(from, to);
    if !(0..=5 * 366).contains(&span) {
        return Err(ApiError::BadRequest(
            "from must be on or before to, and at most five years before it".into(),
        ));
    }
    let (rows, education) = state
        .store()
        .clinic_metric_rows(org.as_deref(), &from.to_string(), &to.to_string())
        .await?;
    let rows = metrics(&rows, &education);
    let mut totals = ClinicMetrics {
        practice_code: String::new(),
        practice_name: "All".into(),
        specialty: "all".into(),
        ..ClinicMetrics::default()
    };
    for r in &rows {
        totals.clinics += r.clinics;
        totals.patients_discussed += r.patients_discussed;
        totals.referrals_avoided += r.referrals_avoided;
        totals.new_referrals += r.new_referrals;
        totals.not_discussed += r.not_discussed;
        totals.education_sessions += r.education_sessions;
    }
    let event = AuditEvent::new(now_ms(), act::VIRTUAL_CLINIC, why, "ok")
        .by(&principal, role)
        .detail(format!("clinic metrics {from} to {to} (counts only)"));
    state.store().record_audit(&[event]).await?;
    Ok(Json(MetricsAnswer {
        from: from.to_string(),
        to: to.to_string(),
        rows,
        totals,
    }))
}
