//! MDT meetings: scheduling, listing patients, outcomes (written into the plan) and
//! attendance.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_shared::Date;
use serde::{Deserialize, Serialize};

use super::{act, date_param, event, practice, today};
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::plan_edit::Applied;
use crate::routes::{ApiJson, ApiPath, ApiQuery};
use crate::scheme::rules::{self, CoreRole};
use crate::state::AppState;
use crate::store::scheme::MdtAttendee;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct MeetingBody {
    /// `YYYY-MM-DD`, today or later.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: String,
}

async fn meeting_view(
    state: &AppState,
    m: &crate::store::scheme::MdtMeeting,
) -> Result<MeetingView, ApiError> {
    let store = state.store();
    let attendance = store.mdt_attendance(&m.id).await?;
    let patients = store.mdt_patients(&m.id).await?;
    let members = store.mdt_members(&m.id).await?;
    let date = Date::parse(&m.meeting_date).unwrap_or_else(today);
    let scheduled = Date::from_unix_ms(m.scheduled_at_ms);
    let listed: Vec<Date> = patients
        .iter()
        .map(|p| Date::from_unix_ms(p.listed_at_ms))
        .collect();
    let signed: Vec<CoreRole> = attendance
        .iter()
        .filter(|a| a.signed)
        .filter_map(|a| CoreRole::parse(&a.core_role))
        .collect();
    let warnings = rules::mdt_warnings(date, scheduled, &listed, &signed, m.held);
    Ok(MeetingView {
        id: m.id.clone(),
        date: m.meeting_date.clone(),
        scheduled_at_ms: m.scheduled_at_ms,
        held: m.held,
        duration_minutes: m.duration_minutes,
        attendance,
        patients,
        members,
        warnings,
        recorded_in_plan: None,
    })
}

/// An MDT meeting with its attendance, listed patients and warnings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MeetingView {
    id: String,
    /// `YYYY-MM-DD`
    date: String,
    scheduled_at_ms: i64,
    /// Whether anyone signed the attendance sheet.
    held: bool,
    /// How long the meeting ran, once recorded.
    duration_minutes: Option<i64>,
    attendance: Vec<crate::store::scheme::MdtAttendee>,
    patients: Vec<crate::store::scheme::MdtPatient>,
    /// Members of other organisations invited to the meeting (they see its schedule and
    /// patient list).
    members: Vec<crate::store::mdt_members::InvitedMember>,
    /// What falls short of the scheme's rules (notice, listing, core roles).
    warnings: Vec<String>,
    /// Only after recording an outcome: whether it was written into the patient's plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded_in_plan: Option<RecordedInPlan>,
}

/// Whether a meeting's outcome for a patient is in their plan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RecordedInPlan {
    recorded: bool,
    /// Whether this request changed the plan (present when recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<bool>,
    /// Why it is not in the plan (present when not recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl RecordedInPlan {
    fn recorded(changed: bool) -> RecordedInPlan {
        RecordedInPlan {
            recorded: true,
            changed: Some(changed),
            reason: None,
        }
    }

    fn not_recorded(reason: impl Into<String>) -> RecordedInPlan {
        RecordedInPlan {
            recorded: false,
            changed: None,
            reason: Some(reason.into()),
        }
    }
}

/// A year's MDT meetings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct YearMeetings {
    year: i32,
    meetings: Vec<MeetingView>,
    held: usize,
    /// Distinct calendar months with a meeting held: meetings bunched into one month do
    /// not spread the MDT's work across the year.
    months_held: usize,
    /// Minutes of the held meetings whose duration is recorded.
    minutes_held: i64,
    scheduled: usize,
    required: usize,
    short_of_required: usize,
}

/// Schedules an MDT meeting; warns when it is less than four weeks ahead.
#[utoipa::path(post, path = "/api/v1/scheme/mdt-meetings", tag = "scheme",
    security(("bearer" = [])), request_body = MeetingBody,
    responses((status = 201, body = MeetingView, description = "The meeting with its warnings"), (status = 403, description = "Only case managers")))]
pub(crate) async fn create_meeting(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<MeetingBody>,
) -> Result<(StatusCode, Json<MeetingView>), ApiError> {
    let org = practice(&state, &principal, act::MDT).await?;
    let date = date_param("date", &body.date)?;
    if date < today() {
        return Err(ApiError::BadRequest(
            "a meeting cannot be scheduled in the past".into(),
        ));
    }
    let ev = event(&principal, act::MDT, purpose::MDT_CARE).detail(format!("schedule {date}"));
    let store = state.store();
    let id = store
        .create_mdt_meeting(&org, &date.to_string(), &principal.user.id, now_ms(), &[ev])
        .await?;
    let m = store
        .mdt_meeting(&org, &id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a meeting just created is missing")))?;
    Ok((StatusCode::CREATED, Json(meeting_view(&state, &m).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct YearParams {
    /// Calendar year (default this year).
    year: Option<i32>,
}

/// The practice's meetings in a year, each with its warnings, and the count held against
/// the ten required.
#[utoipa::path(get, path = "/api/v1/scheme/mdt-meetings", tag = "scheme",
    security(("bearer" = [])), params(YearParams),
    responses((status = 200, body = YearMeetings, description = "The year's meetings, and how many are held against the ten required"), (status = 403, description = "Only case managers")))]
pub(crate) async fn meetings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<YearParams>,
) -> Result<Json<YearMeetings>, ApiError> {
    let org = practice(&state, &principal, act::MDT).await?;
    let year = params.year.unwrap_or(today().year);
    let list = state
        .store()
        .mdt_meetings(
            &org,
            &format!("{year:04}-01-01"),
            &format!("{year:04}-12-31"),
        )
        .await?;
    let mut views = Vec::with_capacity(list.len());
    for m in &list {
        views.push(meeting_view(&state, m).await?);
    }
    let held = list.iter().filter(|m| m.held).count();
    let months_held = list
        .iter()
        .filter(|m| m.held)
        .filter_map(|m| m.meeting_date.get(..7))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let minutes_held = list
        .iter()
        .filter(|m| m.held)
        .filter_map(|m| m.duration_minutes)
        .sum();
    let scheduled = list.len();
    Ok(Json(YearMeetings {
        year,
        meetings: views,
        held,
        months_held,
        minutes_held,
        scheduled,
        required: rules::MDT_MEETINGS_PER_YEAR,
        short_of_required: rules::MDT_MEETINGS_PER_YEAR.saturating_sub(scheduled),
    }))
}

pub(super) async fn own_meeting(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(String, crate::store::scheme::MdtMeeting), ApiError> {
    let org = practice(state, principal, act::MDT).await?;
    let m = state
        .store()
        .mdt_meeting(&org, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such meeting at your practice"))?;
    Ok((org, m))
}

/// One meeting with attendance, patients and warnings.
#[utoipa::path(get, path = "/api/v1/scheme/mdt-meetings/{id}", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    responses((status = 200, body = MeetingView, description = "The meeting"), (status = 404, description = "No such meeting")))]
pub(crate) async fn meeting(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MeetingView>, ApiError> {
    let (_, m) = own_meeting(&state, &principal, &id).await?;
    let view = meeting_view(&state, &m).await?;
    let now = now_ms();
    let events: Vec<AuditEvent> = view
        .patients
        .iter()
        .map(|p| p.patient_id.as_str())
        .map(|pid| {
            AuditEvent::new(now, act::MDT, purpose::MDT_CARE, "ok")
                .by(&principal, Role::CaseManager)
                .patient(pid)
        })
        .collect();
    state.store().record_audit(&events).await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ListPatientBody {
    #[schema(max_length = 128)]
    patient_id: String,
}

/// Lists a patient of the practice for discussion; warns when less than a week ahead.
#[utoipa::path(post, path = "/api/v1/scheme/mdt-meetings/{id}/patients", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    request_body = ListPatientBody,
    responses((status = 201, body = MeetingView, description = "The meeting"), (status = 404, description = "No such meeting or patient")))]
pub(crate) async fn list_patient(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ListPatientBody>,
) -> Result<(StatusCode, Json<MeetingView>), ApiError> {
    let (org, m) = own_meeting(&state, &principal, &id).await?;
    let store = state.store();
    if body.patient_id.len() > 128 || !store.has_patient_id(&org, &body.patient_id).await? {
        return Err(ApiError::not_found("no such patient at your practice"));
    }
    let ev = event(&principal, act::MDT, purpose::MDT_CARE)
        .patient(body.patient_id.clone())
        .detail(format!("list for {}", m.meeting_date));
    store
        .list_mdt_patient(&m.id, &body.patient_id, &principal.user.id, now_ms(), &[ev])
        .await?;
    Ok((StatusCode::CREATED, Json(meeting_view(&state, &m).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct OutcomeBody {
    /// What the meeting decided; not blank.
    #[schema(min_length = 1, max_length = 4000, pattern = r"\S")]
    outcome: String,
    #[serde(default)]
    #[schema(max_length = 4000)]
    referrals: String,
}

/// Records what the meeting decided for a listed patient, and the referrals made.
#[utoipa::path(put, path = "/api/v1/scheme/mdt-meetings/{id}/patients/{patient_id}", tag = "scheme",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Meeting id"), ("patient_id" = String, Path, description = "Patient id")),
    request_body = OutcomeBody,
    responses((status = 200, body = MeetingView, description = "The meeting, with whether the outcome is now in the plan"), (status = 400, description = "No outcome, or one too long"), (status = 404, description = "Not listed")))]
pub(crate) async fn record_outcome(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, patient_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> Result<Json<MeetingView>, ApiError> {
    let (_, m) = own_meeting(&state, &principal, &id).await?;
    if body.outcome.trim().is_empty() || body.outcome.len() > 4000 || body.referrals.len() > 4000 {
        return Err(ApiError::BadRequest(
            "an outcome (up to 4000 characters) is required".into(),
        ));
    }
    let ev = event(&principal, act::MDT, purpose::MDT_CARE)
        .patient(patient_id.clone())
        .detail("outcome");
    let done = state
        .store()
        .record_mdt_outcome(
            &m.id,
            &patient_id,
            body.outcome.trim(),
            body.referrals.trim(),
            now_ms(),
            &[ev],
        )
        .await?;
    if !done {
        return Err(ApiError::not_found(
            "that patient is not listed for this meeting",
        ));
    }
    let in_plan = record_in_plan(&state, &principal, &m, &patient_id, &body).await?;
    let mut view = meeting_view(&state, &m).await?;
    view.recorded_in_plan = Some(in_plan);
    Ok(Json(view))
}

/// Writes the meeting's outcome for a patient into their plan as an MDT discussion
/// (seed 003: "a plan records each MDT discussion"), attributed to the case manager. A
/// changed outcome marks the earlier entry entered in error and adds the corrected one, so
/// the plan's history keeps both. The answer is `None` when the plan already says the
/// same, or the plan's reason for refusing (a meeting in the future has no discussion to
/// record yet); the outcome itself is kept with the meeting either way.
async fn record_in_plan(
    state: &AppState,
    principal: &Principal,
    meeting: &crate::store::scheme::MdtMeeting,
    patient_id: &str,
    body: &OutcomeBody,
) -> Result<RecordedInPlan, ApiError> {
    use redfolder_shared::{Edit, EntryList};
    let prefix = format!("mdt-{}", meeting.id);
    let plan = {
        let Some(mut doc) = state.docs().lock(state.store(), patient_id).await? else {
            return Ok(RecordedInPlan::not_recorded("no plan"));
        };
        crate::sync::DocCache::refresh(state.store(), &mut doc).await?;
        doc.doc
            .plan()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("a stored plan does not read: {e}")))?
    };
    let (outcome, referrals) = (body.outcome.trim(), body.referrals.trim());
    let earlier: Vec<&redfolder_shared::MdtDiscussion> = plan
        .mdt_discussions
        .iter()
        .filter(|d| d.id.starts_with(&prefix))
        .collect();
    if earlier
        .iter()
        .any(|d| d.entered_in_error.is_none() && d.outcome == outcome && d.referrals == referrals)
    {
        return Ok(RecordedInPlan::recorded(false));
    }
    let attendees: Vec<String> = state
        .store()
        .mdt_attendance(&meeting.id)
        .await?
        .into_iter()
        .map(|a| format!("{} ({})", a.name, a.core_role.replace('_', " ")))
        .collect();
    let mut edits: Vec<Edit> = earlier
        .iter()
        .filter(|d| d.entered_in_error.is_none())
        .map(|d| Edit::MarkEnteredInError {
            list: EntryList::MdtDiscussions,
            id: d.id.clone(),
        })
        .collect();
    edits.push(Edit::AddMdtDiscussion {
        id: format!("{prefix}-{}", earlier.len() + 1),
        date: meeting.meeting_date.clone(),
        attendees: if attendees.is_empty() {
            "see the practice's MDT meeting record".to_owned()
        } else {
            attendees.join(", ")
        },
        outcome: outcome.to_owned(),
        referrals: referrals.to_owned(),
    });
    let now = now_ms();
    let audit = [event(principal, act::MDT, purpose::MDT_CARE)
        .patient(patient_id.to_owned())
        .detail("outcome recorded in the plan")];
    Ok(
        match crate::plan_edit::apply_edits(
            state,
            principal,
            crate::access::PlanAccess::CaseManager,
            patient_id,
            &edits,
            &audit,
            now,
        )
        .await?
        {
            Applied::Committed => RecordedInPlan::recorded(true),
            Applied::Refused(reason) => RecordedInPlan::not_recorded(reason),
            Applied::NoSuchPlan => RecordedInPlan::not_recorded("no plan"),
        },
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AttendanceBody {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    #[schema(pattern = "^(gp|community_nurse|social_work|voluntary_sector|other)$")]
    core_role: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    organisation: String,
    /// Signed the attendance sheet.
    signed: bool,
}

/// Records an attendee's signature; the meeting counts as held from the first.
#[utoipa::path(post, path = "/api/v1/scheme/mdt-meetings/{id}/attendance", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    request_body = AttendanceBody,
    responses((status = 200, body = MeetingView, description = "The meeting"), (status = 400, description = "Unknown role, no name, or a meeting still to come")))]
pub(crate) async fn record_attendance(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AttendanceBody>,
) -> Result<Json<MeetingView>, ApiError> {
    let (org, m) = own_meeting(&state, &principal, &id).await?;
    let role = CoreRole::parse(&body.core_role).ok_or_else(|| {
        ApiError::BadRequest(
            "core_role must be gp, community_nurse, social_work, voluntary_sector or other".into(),
        )
    })?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 || body.organisation.len() > 200 {
        return Err(ApiError::BadRequest(
            "a name (up to 200 characters) is required".into(),
        ));
    }
    if Date::parse(&m.meeting_date).is_some_and(|d| d > today()) {
        return Err(ApiError::BadRequest(
            "attendance is signed at or after the meeting".into(),
        ));
    }
    let attendee = MdtAttendee {
        name: name.to_owned(),
        core_role: role.as_str().to_owned(),
        organisation: body.organisation.trim().to_owned(),
        signed: body.signed,
    };
    let ev = event(&principal, act::MDT, purpose::MDT_CARE)
        .detail(format!("attendance {}", role.as_str()));
    let store = state.store();
    store
        .record_mdt_attendance(&m.id, &attendee, &principal.user.id, now_ms(), &[ev])
        .await?;
    let m = store
        .mdt_meeting(&org, &m.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such meeting at your practice"))?;
    Ok(Json(meeting_view(&state, &m).await?))
}
