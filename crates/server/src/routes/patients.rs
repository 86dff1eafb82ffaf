//! Caseloads, care teams and a patient's access log.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath, ApiQuery};
use crate::access::{PlanAccess, plan_access};
use crate::audit::{AuditEvent, action, purpose};
use crate::auth::Authenticated;
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{CareTeamMember, PatientListing};

/// The caller's caseload: as case manager, the patients registered at their practice; as
/// MDT member, the consenting patients whose care team includes their organisation. Read
/// from the projection without loading any document; every patient listed is audited.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<PatientListing>, description = "Caseload rows: id, nhs_number, name, date_of_birth, consents, dnacpr (not_recorded, for_attempted_cpr, do_not_attempt_cpr, or conflicting while resuscitation decisions conflict: never one side of a conflict), last_updated, paper_copy (not_printed, current or out_of_date: whether the printed yellow pages in the home still say what the plan says) with paper_copy_label, access"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only case managers and MDT members have a caseload"),
    ))]
pub(crate) async fn caseload(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<PatientListing>>, ApiError> {
    let user = &principal.user;
    if !user.has(Role::CaseManager) && !user.has(Role::MdtMember) {
        return Err(ApiError::Forbidden);
    }
    let listing = state.store().caseload(user).await?;
    let now = now_ms();
    let events: Vec<AuditEvent> = listing
        .iter()
        .map(|p| {
            let (role, why) = if p.access == Role::CaseManager.as_str() {
                (Role::CaseManager, purpose::DIRECT_CARE)
            } else {
                (Role::MdtMember, purpose::MDT_CARE)
            };
            AuditEvent::new(now, action::CASELOAD, why, "ok")
                .by(&principal, role)
                .patient(p.id.clone())
        })
        .collect();
    state.store().record_audit(&events).await?;
    Ok(Json(listing))
}

/// The patient's plan as the caller may reach it. Callers without a plan role get 403;
/// callers with one get 404 whether the patient does not exist or is not theirs.
pub(super) async fn reach(
    state: &AppState,
    principal: &Principal,
    patient_id: &str,
    act: &str,
    case_manager_only: bool,
) -> Result<PlanAccess, ApiError> {
    let user = &principal.user;
    let plan_role =
        user.has(Role::CaseManager) || (!case_manager_only && user.has(Role::MdtMember));
    let context = if plan_role && patient_id.len() <= 128 {
        state
            .store()
            .patient_context(patient_id, &user.organisation_id)
            .await?
    } else {
        None
    };
    let access = context.as_ref().and_then(|c| plan_access(user, c));
    match access {
        Some(PlanAccess::CaseManager) => return Ok(PlanAccess::CaseManager),
        Some(PlanAccess::Mdt) if !case_manager_only => return Ok(PlanAccess::Mdt),
        _ => {}
    }
    let mut event = AuditEvent::new(now_ms(), act, purpose::DIRECT_CARE, "denied")
        .by(principal, user.primary_role());
    if context.is_some() {
        event = event.patient(patient_id);
    }
    state.store().record_audit(&[event]).await?;
    if plan_role {
        Err(ApiError::not_found("no such patient in your care"))
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The organisations in a patient's care team.
#[utoipa::path(get, path = "/api/v1/patients/{id}/care-team", tag = "patients",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient (plan document) id")),
    responses(
        (status = 200, body = Vec<CareTeamMember>, description = "Care team organisations"),
        (status = 403, description = "Role without plan access"),
        (status = 404, description = "No such patient in your care"),
    ))]
pub(crate) async fn care_team(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(patient_id): ApiPath<String>,
) -> Result<Json<Vec<CareTeamMember>>, ApiError> {
    let access = reach(
        &state,
        &principal,
        &patient_id,
        action::CARE_TEAM_READ,
        false,
    )
    .await?;
    let event = AuditEvent::new(now_ms(), action::CARE_TEAM_READ, access.purpose(), "ok")
        .by(&principal, access.role())
        .patient(patient_id.clone());
    state.store().record_audit(&[event]).await?;
    Ok(Json(state.store().care_team(&patient_id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PaperCodeQuery {
    /// The print code under the QR code on the yellow pages (`RF1-…`); left out, the
    /// answer is about the paper copy recorded for the home. Case and surrounding spaces
    /// are ignored.
    #[param(pattern = r"^\s*[Rr][Ff]1-[0-9A-Fa-f]{16}-[0-9A-Fa-f]{44}\s*$")]
    code: Option<String>,
}

/// Whether a paper copy of the yellow pages still says what the plan says: the copy
/// recorded for the home, or the one carrying `code`. The same rule as the tablet's
/// (`CarePlan::paper_copy_reading` / `check_paper_code`), on the server's copy.
#[utoipa::path(get, path = "/api/v1/patients/{id}/paper-copy", tag = "patients",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient (plan document) id"), PaperCodeQuery),
    responses(
        (status = 200, body = crate::openapi::PaperReadingSchema, description = "Whether the paper copy is current, who printed it, and the sections changed since"),
        (status = 400, description = "Not a print code"),
        (status = 403, description = "Role without plan access"),
        (status = 404, description = "No such patient in your care"),
    ))]
pub(crate) async fn paper_copy(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(patient_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PaperCodeQuery>,
) -> Result<Json<redfolder_shared::PaperReading>, ApiError> {
    let access = reach(
        &state,
        &principal,
        &patient_id,
        action::PAPER_COPY_CHECK,
        false,
    )
    .await?;
    let plan = server_plan(&state, &patient_id).await?;
    let reading = match &query.code {
        None => plan.paper_copy_reading(),
        Some(code) => plan
            .check_paper_code(code)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    let event = AuditEvent::new(now_ms(), action::PAPER_COPY_CHECK, access.purpose(), "ok")
        .by(&principal, access.role())
        .patient(patient_id);
    state.store().record_audit(&[event]).await?;
    Ok(Json(reading))
}

/// The plan as the server holds it now (its cache brought up to the store's version).
async fn server_plan(
    state: &AppState,
    patient_id: &str,
) -> Result<redfolder_shared::CarePlan, ApiError> {
    let store = state.store();
    let Some(mut doc) = state.docs().lock(store, patient_id).await? else {
        return Err(ApiError::not_found("no such patient in your care"));
    };
    crate::sync::DocCache::refresh(store, &mut doc).await?;
    doc.doc
        .plan()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("a stored plan does not read: {e}")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignPrintQuery {
    /// The print code the pages carry (`RF1-…`), as the tablet computed it.
    #[param(pattern = r"^\s*[Rr][Ff]1-[0-9A-Fa-f]{16}-[0-9A-Fa-f]{44}\s*$")]
    code: String,
    /// The plan version the pages carry: the document's heads, comma-separated, as the
    /// tablet holds them.
    version: String,
}

/// A signed print, as the OpenAPI document describes it (the handler builds it as JSON so
/// that the signature covers exactly what is sent).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct SignedPrint {
    #[schema(pattern = "^red_folder_print$")]
    kind: String,
    /// The print code, lowercase.
    code: String,
    plan_version: String,
    signature: super::emergency::SummarySignature,
}

/// What a signed print's signature covers, besides the code and the version: it names
/// what was signed, so no print signature can pass for a summary's or the other way round.
pub(crate) const PRINT_SIGNATURE_KIND: &str = "red_folder_print";

/// The server's signature for printed yellow pages: given only when the server's copy of
/// the plan is at the version the tablet is printing and its pages say what the code
/// says, so a signed paper is one the server vouches for. A tablet offline, or whose copy
/// differs, prints unsigned and says so.
#[utoipa::path(get, path = "/api/v1/patients/{id}/paper-copy/signed", tag = "patients",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient (plan document) id"), SignPrintQuery),
    responses(
        (status = 200, body = SignedPrint, description = "`{kind: \"red_folder_print\", code, plan_version, signature: {algorithm: Ed25519, key_id, value}}`: `code` in lowercase; `value` is base64 of the signature over the JSON object without `signature`, keys sorted, no whitespace (RFC 8785), checked with the keys at /api/v1/emergency/signing-key"),
        (status = 400, description = "Not a print code"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Role without plan access"),
        (status = 404, description = "No such patient in your care"),
        (status = 409, description = "The server's copy of the plan is at another version, or its yellow pages say something other than the code: not signed"),
    ))]
pub(crate) async fn signed_paper_copy(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(patient_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SignPrintQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let access = reach(
        &state,
        &principal,
        &patient_id,
        action::PAPER_COPY_SIGN,
        false,
    )
    .await?;
    let printed = redfolder_shared::SummaryFingerprint::parse_code(&query.code)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let plan = server_plan(&state, &patient_id).await?;
    let now = plan.summary_fingerprint();
    let outcome = if plan.plan_version != query.version.trim() {
        Err("the server holds another version of this plan: sync, then print again")
    } else if printed != now {
        Err("the print code does not match the plan's yellow pages at this version")
    } else {
        Ok(())
    };
    let event = AuditEvent::new(
        now_ms(),
        action::PAPER_COPY_SIGN,
        access.purpose(),
        if outcome.is_ok() { "ok" } else { "refused" },
    )
    .by(&principal, access.role())
    .patient(patient_id);
    state.store().record_audit(&[event]).await?;
    outcome.map_err(|why| ApiError::Conflict(why.to_owned()))?;
    let mut signed = serde_json::json!({
        "kind": PRINT_SIGNATURE_KIND,
        "code": now.code(),
        "plan_version": plan.plan_version,
    });
    state.signer().sign_summary(&mut signed);
    Ok(Json(signed))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CareTeamAddition {
    /// The organisation's code or id.
    #[schema(min_length = 1)]
    organisation: String,
}

/// Adds an organisation to a patient's care team (case managers of the patient's practice).
#[utoipa::path(post, path = "/api/v1/patients/{id}/care-team", tag = "patients",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient (plan document) id")),
    request_body = CareTeamAddition,
    responses(
        (status = 201, body = Vec<CareTeamMember>, description = "Added; the care team as it now stands"),
        (status = 400, description = "No such organisation"),
        (status = 403, description = "Not a case manager"),
        (status = 404, description = "No such patient at your practice"),
    ))]
pub(crate) async fn add_to_care_team(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(patient_id): ApiPath<String>,
    ApiJson(body): ApiJson<CareTeamAddition>,
) -> Result<(StatusCode, Json<Vec<CareTeamMember>>), ApiError> {
    reach(
        &state,
        &principal,
        &patient_id,
        action::CARE_TEAM_CHANGE,
        true,
    )
    .await?;
    let store = state.store();
    let org = match store.organisation_by_code(&body.organisation).await? {
        Some(org) => Some(org),
        None => store.organisation_by_id(&body.organisation).await?,
    }
    .ok_or_else(|| ApiError::BadRequest(format!("no organisation {:?}", body.organisation)))?;
    let now = now_ms();
    let event = AuditEvent::new(now, action::CARE_TEAM_CHANGE, purpose::DIRECT_CARE, "ok")
        .by(&principal, Role::CaseManager)
        .patient(patient_id.clone())
        .detail(format!("add {}", org.code));
    store
        .change_care_team(
            &patient_id,
            &org.id,
            true,
            &principal.user.id,
            now,
            &[event],
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(store.care_team(&patient_id).await?),
    ))
}

/// Removes an organisation from a patient's care team; its MDT members lose access at
/// once, open sync connections included (on every instance).
#[utoipa::path(delete, path = "/api/v1/patients/{id}/care-team/{organisation_id}", tag = "patients",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Patient (plan document) id"),
        ("organisation_id" = String, Path, description = "Organisation id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not a case manager"),
        (status = 404, description = "No such patient at your practice, or organisation not in the team"),
    ))]
pub(crate) async fn remove_from_care_team(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((patient_id, organisation_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    reach(
        &state,
        &principal,
        &patient_id,
        action::CARE_TEAM_CHANGE,
        true,
    )
    .await?;
    let now = now_ms();
    let event = AuditEvent::new(now, action::CARE_TEAM_CHANGE, purpose::DIRECT_CARE, "ok")
        .by(&principal, Role::CaseManager)
        .patient(patient_id.clone())
        .detail(format!("remove {organisation_id}"));
    let removed = state
        .store()
        .change_care_team(
            &patient_id,
            &organisation_id,
            false,
            &principal.user.id,
            now,
            &[event],
        )
        .await?;
    if removed {
        // Connections holding the plan look again at whether they may (other instances
        // hear of it through the store's notice).
        state.notify(crate::sync::DocNotice {
            doc_id: std::sync::Arc::from(patient_id.as_str()),
            origin: crate::cluster::REMOTE_ORIGIN,
        });
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "that organisation is not in the care team",
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccessLogParams {
    /// At most this many entries, newest first (default 200, at most 1000).
    limit: Option<i64>,
}

/// Who looked at or changed this patient's record and when: for the patient's case
/// manager, to answer the patient.
#[utoipa::path(get, path = "/api/v1/patients/{id}/access-log", tag = "patients",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient (plan document) id"), AccessLogParams),
    responses(
        (status = 200, body = AccessLog, description = "Entries, newest first"),
        (status = 403, description = "Not a case manager"),
        (status = 404, description = "No such patient at your practice"),
    ))]
pub(crate) async fn access_log(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(patient_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<AccessLogParams>,
) -> Result<Json<AccessLog>, ApiError> {
    reach(&state, &principal, &patient_id, action::ACCESS_LOG, true).await?;
    let store = state.store();
    let event = AuditEvent::new(now_ms(), action::ACCESS_LOG, purpose::ACCESS_REQUEST, "ok")
        .by(&principal, Role::CaseManager)
        .patient(patient_id.clone());
    store.record_audit(&[event]).await?;
    let limit = params.limit.unwrap_or(200).clamp(1, 1000);
    let records = store.patient_audit(&patient_id, limit).await?;
    let mut users: HashMap<String, Option<String>> = HashMap::new();
    let mut orgs: HashMap<String, Option<String>> = HashMap::new();
    let mut entries = Vec::with_capacity(records.len());
    for r in records {
        let e = r.event;
        let user_name = match &e.user_id {
            Some(id) => match users.get(id) {
                Some(name) => name.clone(),
                None => {
                    let name = store.user_by_id(id).await?.map(|u| u.name);
                    users.insert(id.clone(), name.clone());
                    name
                }
            },
            None => None,
        };
        let org_name = match &e.organisation_id {
            Some(id) => match orgs.get(id) {
                Some(name) => name.clone(),
                None => {
                    let name = store.organisation_by_id(id).await?.map(|o| o.name);
                    orgs.insert(id.clone(), name.clone());
                    name
                }
            },
            None => None,
        };
        entries.push(AccessEntry {
            seq: r.seq,
            at_ms: e.at_ms,
            action: e.action,
            purpose: e.purpose,
            outcome: e.outcome,
            user: AccessUser {
                id: e.user_id,
                username: e.username,
                name: user_name,
            },
            role: e.role,
            organisation: AccessOrganisation {
                id: e.organisation_id,
                name: org_name,
            },
            device_id: e.device_id,
        });
    }
    Ok(Json(AccessLog {
        patient_id,
        entries,
    }))
}

/// A patient's access log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccessLog {
    patient_id: String,
    /// Newest first.
    entries: Vec<AccessEntry>,
}

/// One audited read or change of the patient's record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccessEntry {
    /// The entry's place in the audit log.
    seq: i64,
    at_ms: i64,
    action: String,
    purpose: String,
    outcome: String,
    user: AccessUser,
    role: Option<String>,
    organisation: AccessOrganisation,
    device_id: Option<String>,
}

/// Who acted (all null for a request that was nobody's).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccessUser {
    id: Option<String>,
    username: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccessOrganisation {
    id: Option<String>,
    name: Option<String>,
}
