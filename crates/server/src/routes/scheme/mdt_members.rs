//! MDT meetings for the members who attend from other organisations (community nursing,
//! social work, the voluntary sector): the practice invites them; they see the schedule and
//! the patient list, never a plan their own access does not reach. And how long a meeting
//! ran.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::mdt::own_meeting;
use super::{act, event, today};
use crate::access::plan_access;
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct InviteBody {
    /// The MDT member's username.
    #[schema(min_length = 1, max_length = 128)]
    username: String,
}

/// Who is invited.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Invited {
    meeting_id: String,
    username: String,
    name: String,
    organisation: String,
    /// False when they were invited already.
    newly_invited: bool,
}

/// Invites an MDT member (of any organisation) to one of the practice's meetings: they
/// then see its schedule and patient list.
#[utoipa::path(post, path = "/api/v1/scheme/mdt-meetings/{id}/members", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    request_body = InviteBody,
    responses((status = 201, body = Invited, description = "Invited"),
        (status = 400, description = "No such user, or not an MDT member"),
        (status = 403, description = "Only case managers"),
        (status = 404, description = "No such meeting")))]
pub(crate) async fn invite_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    let (_, m) = own_meeting(&state, &principal, &id).await?;
    let store = state.store();
    let user = match store.user_by_username(body.username.trim()).await? {
        Some(u) if !u.disabled && u.has(Role::MdtMember) => u,
        _ => {
            return Err(ApiError::BadRequest(
                "no MDT member has that username".into(),
            ));
        }
    };
    let ev = event(&principal, act::MDT, purpose::MDT_CARE).detail(format!(
        "invited {} to the meeting of {}",
        user.username, m.meeting_date
    ));
    let newly_invited = store
        .invite_mdt_member(&m.id, &user.id, &principal.user.id, now_ms(), &[ev])
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Invited {
            meeting_id: m.id,
            username: user.username,
            name: user.name,
            organisation: user.organisation_name,
            newly_invited,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct DurationBody {
    #[schema(minimum = 1, maximum = 600)]
    minutes: i64,
}

/// How long a held meeting ran.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DurationSet {
    meeting_id: String,
    minutes: i64,
}

/// Records how long a held meeting ran (the audit of the scheme asks what meetings were
/// held; their length shows what time the MDT gave).
#[utoipa::path(put, path = "/api/v1/scheme/mdt-meetings/{id}/duration", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    request_body = DurationBody,
    responses((status = 200, body = DurationSet, description = "Recorded"),
        (status = 400, description = "Not between 1 and 600 minutes"),
        (status = 403, description = "Only case managers"),
        (status = 404, description = "No such meeting"),
        (status = 409, description = "The meeting is not held yet: record its attendance first")))]
pub(crate) async fn record_duration(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DurationBody>,
) -> Result<Json<DurationSet>, ApiError> {
    let (_, m) = own_meeting(&state, &principal, &id).await?;
    if !(1..=600).contains(&body.minutes) {
        return Err(ApiError::BadRequest(
            "minutes must be between 1 and 600".into(),
        ));
    }
    if !m.held {
        return Err(ApiError::Conflict(
            "the meeting is not held yet: record its attendance first".into(),
        ));
    }
    let ev = event(&principal, act::MDT, purpose::MDT_CARE).detail(format!(
        "meeting of {} ran {} minutes",
        m.meeting_date, body.minutes
    ));
    state
        .store()
        .record_mdt_duration(&m.id, body.minutes, &[ev])
        .await?;
    Ok(Json(DurationSet {
        meeting_id: m.id,
        minutes: body.minutes,
    }))
}

/// A patient on a meeting's list, as an invited member sees them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MemberPatient {
    /// Present only when the patient consented to MDT sharing.
    patient_id: Option<String>,
    /// The patient's name, or "a patient who has not consented to MDT sharing".
    name: String,
    nhs_number: Option<String>,
    /// Whether the member's own access reaches the plan (care team and consent).
    can_open_plan: bool,
}

/// A meeting an MDT member is invited to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MemberMeeting {
    id: String,
    practice: String,
    /// `YYYY-MM-DD`
    date: String,
    held: bool,
    duration_minutes: Option<i64>,
    patients: Vec<MemberPatient>,
}

/// The MDT meetings the caller is invited to, from today on (and those held in the last
/// 90 days), each with its patient list.
#[utoipa::path(get, path = "/api/v1/scheme/my-mdt-meetings", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<MemberMeeting>, description = "Meetings, soonest first"),
        (status = 403, description = "Only MDT members")))]
pub(crate) async fn my_meetings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<MemberMeeting>>, ApiError> {
    if !principal.user.has(Role::MdtMember) {
        let ev = AuditEvent::new(now_ms(), act::MDT, purpose::MDT_CARE, "denied")
            .by(&principal, principal.user.primary_role());
        state.store().record_audit(&[ev]).await?;
        return Err(ApiError::Forbidden);
    }
    let store = state.store();
    let from = today().plus_days(-90).to_string();
    let meetings = store
        .invited_mdt_meetings(&principal.user.id, &from)
        .await?;
    let now = now_ms();
    let mut events = Vec::new();
    let mut out = Vec::with_capacity(meetings.len());
    for m in meetings {
        let mut patients = Vec::new();
        for p in store.listed_patients(&m.id).await? {
            if !p.share_with_mdt {
                patients.push(MemberPatient {
                    patient_id: None,
                    name: "a patient who has not consented to MDT sharing".into(),
                    nhs_number: None,
                    can_open_plan: false,
                });
                continue;
            }
            let can_open_plan = store
                .patient_context(&p.patient_id, &principal.user.organisation_id)
                .await?
                .is_some_and(|c| plan_access(&principal.user, &c).is_some());
            events.push(
                AuditEvent::new(now, act::MDT, purpose::MDT_CARE, "ok")
                    .by(&principal, Role::MdtMember)
                    .patient(p.patient_id.clone())
                    .detail(format!("listed for the MDT meeting of {}", m.meeting_date)),
            );
            patients.push(MemberPatient {
                patient_id: Some(p.patient_id),
                name: p.name,
                nhs_number: Some(p.nhs_number),
                can_open_plan,
            });
        }
        out.push(MemberMeeting {
            id: m.id,
            practice: m.practice,
            date: m.meeting_date,
            held: m.held,
            duration_minutes: m.duration_minutes,
            patients,
        });
    }
    store.record_audit(&events).await?;
    Ok(Json(out))
}
