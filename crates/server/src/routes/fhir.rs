//! FHIR R4 (UK Core): a plan or its emergency summary as a Bundle, and importing a GP
//! system's Bundle. The mapping is `redfolder-fhir`'s; this module only applies the same
//! access rules, consent checks and audit as every other read and write.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use redfolder_shared::{
    ActorId, CarePlan, Date, Editor, NewPlan, NhsNumber, PlanDoc, emergency_summary,
};
use serde_json::{Value, json};

use super::patients::reach;
use super::{ApiJson, ApiPath};
use crate::access::{PlanAccess, plan_access};
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::commit::{Outcome, Submission};
use crate::domain::{Committer, Principal, Role, now_ms, project};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::NewPatient;
use crate::sync::DocCache;

/// Audit actions of this module.
pub(crate) const FHIR_EXPORT: &str = "plan.fhir_export";
pub(crate) const FHIR_SUMMARY: &str = "plan.fhir_summary";
pub(crate) const FHIR_IMPORT: &str = "plan.fhir_import";

/// The FHIR JSON media type.
pub(crate) const FHIR_JSON: &str = "application/fhir+json";

pub(crate) fn fhir_json(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], Json(body)).into_response()
}

/// The plan as the caller may read it, audited.
async fn read_plan(
    state: &AppState,
    principal: &Principal,
    patient_id: &str,
    act: &str,
) -> Result<CarePlan, ApiError> {
    let access = reach(state, principal, patient_id, act, false).await?;
    let plan = {
        let Some(mut doc) = state.docs().lock(state.store(), patient_id).await? else {
            return Err(ApiError::not_found("no such patient in your care"));
        };
        DocCache::refresh(state.store(), &mut doc).await?;
        doc.doc
            .plan()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading a stored plan: {e}")))?
    };
    let event = AuditEvent::new(now_ms(), act, access.purpose(), "ok")
        .by(principal, access.role())
        .patient(patient_id);
    state.store().record_audit(&[event]).await?;
    Ok(plan)
}

/// The whole plan as a FHIR R4 Bundle of type `collection`.
#[utoipa::path(get, path = "/api/v1/patients/{id}/fhir", tag = "fhir",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient (plan document) id")),
    responses(
        (status = 200, body = Object, description = "FHIR R4 Bundle (collection): Patient, EpisodeOfCare, CarePlan, CareTeam, RelatedPerson, Condition, MedicationStatement, AllergyIntolerance, Observation, Goal, Consent, Provenance", content_type = "application/fhir+json"),
        (status = 403, description = "Role without plan access"),
        (status = 404, description = "No such patient in your care"),
    ))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(patient_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let plan = read_plan(&state, &principal, &patient_id, FHIR_EXPORT).await?;
    Ok(fhir_json(
        StatusCode::OK,
        redfolder_fhir::plan_bundle(&patient_id, &plan),
    ))
}

/// The plan's emergency summary as a FHIR R4 `document` Bundle, for its care team.
/// Emergency services read the same document at `/emergency/summary/{nhs}?format=fhir`.
#[utoipa::path(get, path = "/api/v1/patients/{id}/fhir/summary", tag = "fhir",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient (plan document) id")),
    responses(
        (status = 200, body = Object, description = "FHIR R4 Bundle (document) whose first entry is a Composition", content_type = "application/fhir+json"),
        (status = 403, description = "Role without plan access"),
        (status = 404, description = "No such patient in your care"),
    ))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(patient_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let plan = read_plan(&state, &principal, &patient_id, FHIR_SUMMARY).await?;
    let summary = emergency_summary(&plan);
    Ok(fhir_json(
        StatusCode::OK,
        redfolder_fhir::summary_document(&patient_id, &summary),
    ))
}

/// A refusal as a FHIR OperationOutcome.
fn outcome(status: StatusCode, issues: Vec<(String, String)>) -> Response {
    let issue: Vec<Value> = issues
        .into_iter()
        .map(|(at, problem)| {
            json!({ "severity": "error", "code": "invalid", "diagnostics": problem, "expression": [at] })
        })
        .collect();
    fhir_json(
        status,
        json!({ "resourceType": "OperationOutcome", "issue": issue }),
    )
}

/// Imports a GP system's FHIR R4 Bundle (Patient, Condition, MedicationStatement,
/// AllergyIntolerance, Observation, a resuscitation decision) into a draft plan at the
/// caller's practice: a new plan, or ordinary changes to the existing one, attributed to
/// the caller. Other resource types are skipped and listed, and so is a resuscitation
/// decision the plan does not take (it never replaces one the plan holds); a bundle with
/// an invalid NHS number or a missing required field is refused whole and nothing is
/// stored.
#[utoipa::path(post, path = "/api/v1/patients/import", tag = "fhir",
    security(("bearer" = [])),
    request_body(content = ImportBundle, description = "FHIR R4 Bundle", content_type = "application/fhir+json"),
    responses(
        (status = 201, body = Imported, description = "A new draft plan"),
        (status = 200, body = Imported, description = "Merged into the existing plan"),
        (status = 403, description = "Not a case manager"),
        (status = 409, description = "The NHS number has a plan at another practice"),
        (status = 422, body = Object, description = "Refused whole: an OperationOutcome listing every problem", content_type = "application/fhir+json"),
    ))]
pub(crate) async fn import(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(bundle): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let user = &principal.user;
    let now = now_ms();
    if !user.has(Role::CaseManager) {
        let event = AuditEvent::new(now, FHIR_IMPORT, purpose::DIRECT_CARE, "denied")
            .by(&principal, user.primary_role());
        state.store().record_audit(&[event]).await?;
        return Err(ApiError::Forbidden);
    }
    let import = match redfolder_fhir::parse_import(&bundle) {
        Ok(import) => import,
        Err(refused) => {
            let event = AuditEvent::new(now, FHIR_IMPORT, purpose::DIRECT_CARE, "refused")
                .by(&principal, Role::CaseManager)
                .detail(format!("{} problem(s)", refused.problems.len()));
            state.store().record_audit(&[event]).await?;
            let issues = refused
                .problems
                .into_iter()
                .map(|p| (p.at, p.problem))
                .collect();
            return Ok(outcome(StatusCode::UNPROCESSABLE_ENTITY, issues));
        }
    };
    let editor = Editor {
        user_id: user.id.clone(),
        user_name: user.name.clone(),
    };
    let committer = Committer {
        user_id: user.id.clone(),
        name: user.name.clone(),
        organisation: user.organisation_name.clone(),
    };
    let today = Date::from_unix_ms(now).to_string();
    let mut new_id = || uuid::Uuid::new_v4().to_string();
    // Changes are made by an actor of their own, bound to the caller's device like any
    // device's changes, so the plan's history shows them as the caller's.
    let actor_bytes = *uuid::Uuid::new_v4().as_bytes();
    let actor = ActorId::from(actor_bytes.as_slice());
    let nhs = match NhsNumber::parse(&import.patient.nhs_number) {
        Ok(nhs) => nhs.digits(),
        Err(e) => {
            return refuse_edit(&state, &principal, None, format!("invalid NHS number: {e}")).await;
        }
    };
    let existing = state.store().live_plan_for_nhs_number(&nhs).await?;
    // What the bundle held but the plan does not take: skipped entries, then content
    // read but not applied (a resuscitation decision the plan already holds otherwise).
    let mut skipped = import.skipped.clone();

    let Some(existing) = existing else {
        let new = NewPlan {
            nhs_number: nhs.clone(),
            name: import.patient.name.clone(),
            date_of_birth: import.patient.date_of_birth.clone(),
            address: import.patient.address.clone(),
        };
        let redfolder_fhir::ImportEdits { edits, not_applied } =
            redfolder_fhir::import_edits(&import, None, &today, &mut new_id);
        skipped.extend(not_applied);
        let built = PlanDoc::create(actor, &new, &editor, now).and_then(|mut doc| {
            if !edits.is_empty() {
                doc.apply_all(&edits, &editor, now)?;
            }
            Ok(doc)
        });
        let mut doc = match built {
            Ok(doc) => doc,
            Err(e) => return refuse_edit(&state, &principal, None, e.to_string()).await,
        };
        let projection = project(&mut doc).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("an imported plan is not valid: {e}"))
        })?;
        let patient_id = uuid::Uuid::new_v4().to_string();
        let fed = projection.share_with_emergency_services;
        let taken = state
            .store()
            .create_patients(
                &[NewPatient {
                    id: patient_id.clone(),
                    organisation_id: user.organisation_id.clone(),
                    snapshot: doc.save_uncompressed(),
                    projection,
                    created_by: Some(committer),
                }],
                now,
            )
            .await?;
        if let Some(holder) = taken {
            // Another import created the plan a moment ago.
            let reason = crate::commit::nhs_number_taken(&holder, &user.organisation_id);
            return conflict(&state, &principal, reason).await;
        }
        if fed {
            state.feed_changed();
        }
        let event = AuditEvent::new(now, FHIR_IMPORT, purpose::DIRECT_CARE, "created")
            .by(&principal, Role::CaseManager)
            .patient(patient_id.clone())
            .detail(format!(
                "{} change(s), {} skipped",
                edits.len() + 1,
                skipped.len()
            ));
        state.store().record_audit(&[event]).await?;
        return Ok((
            StatusCode::CREATED,
            Json(Imported {
                patient_id,
                created: true,
                changes: edits.len() + 1,
                skipped,
            }),
        )
            .into_response());
    };

    let patient_id = existing.patient_id.clone();
    let context = state
        .store()
        .patient_context(&patient_id, &user.organisation_id)
        .await?;
    if context.as_ref().and_then(|c| plan_access(user, c)) != Some(PlanAccess::CaseManager) {
        let reason = crate::commit::nhs_number_taken(&existing, &user.organisation_id);
        return conflict(&state, &principal, reason).await;
    }
    let Some(mut doc) = state.docs().lock(state.store(), &patient_id).await? else {
        return Err(ApiError::not_found("no such patient in your care"));
    };
    DocCache::refresh(state.store(), &mut doc).await?;
    let plan = doc
        .doc
        .plan()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading a stored plan: {e}")))?;
    let redfolder_fhir::ImportEdits { edits, not_applied } =
        redfolder_fhir::import_edits(&import, Some(&plan), &today, &mut new_id);
    skipped.extend(not_applied);
    if edits.is_empty() {
        let event = AuditEvent::new(now, FHIR_IMPORT, purpose::DIRECT_CARE, "unchanged")
            .by(&principal, Role::CaseManager)
            .patient(patient_id.clone());
        state.store().record_audit(&[event]).await?;
        return Ok(Json(Imported {
            patient_id,
            created: false,
            changes: 0,
            skipped,
        })
        .into_response());
    }
    let before = doc.doc.heads();
    let mut candidate = PlanDoc::empty(actor.clone());
    *candidate.automerge() = doc.doc.automerge().clone();
    candidate.automerge().set_actor(actor.clone());
    if let Err(e) = candidate.apply_all(&edits, &editor, now) {
        drop(doc);
        return refuse_edit(&state, &principal, Some(&patient_id), e.to_string()).await;
    }
    let audit = [
        AuditEvent::new(now, FHIR_IMPORT, purpose::DIRECT_CARE, "merged")
            .by(&principal, Role::CaseManager)
            .patient(patient_id.clone())
            .detail(format!(
                "{} change(s), {} skipped",
                edits.len(),
                skipped.len()
            )),
    ];
    let actors = [actor.to_hex_string()];
    let submission = Submission {
        principal: &principal,
        access: PlanAccess::CaseManager,
        doc_id: &patient_id,
        before: &before,
        actors: &actors,
        audit: &audit,
        origin: state.next_connection_id(),
        now_ms: now,
    };
    let (_doc, committed) = crate::commit::commit(&state, doc, candidate, &submission).await?;
    match committed {
        Outcome::Failed(e) => Err(ApiError::Internal(e)),
        Outcome::Committed => Ok(Json(Imported {
            patient_id,
            created: false,
            changes: edits.len(),
            skipped,
        })
        .into_response()),
        // The refusal is audited by the commit path.
        Outcome::Refused { message } => Ok(outcome(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("Bundle".to_owned(), message)],
        )),
        Outcome::ActorTaken(_) | Outcome::NoSuchPlan => Err(ApiError::Conflict(
            "the plan changed while importing: try again".to_owned(),
        )),
    }
}

/// An import that would give a second live plan an NHS number: audited, refused with
/// words that say no more than the caller may know.
async fn conflict(
    state: &AppState,
    principal: &Principal,
    reason: String,
) -> Result<Response, ApiError> {
    let event = AuditEvent::new(now_ms(), FHIR_IMPORT, purpose::DIRECT_CARE, "denied")
        .by(principal, Role::CaseManager)
        .detail("the NHS number has another live plan");
    state.store().record_audit(&[event]).await?;
    Err(ApiError::Conflict(reason))
}

/// An import whose edits the plan refuses (an implausible observation, say): nothing is
/// stored; the caller learns why.
async fn refuse_edit(
    state: &AppState,
    principal: &Principal,
    patient_id: Option<&str>,
    problem: String,
) -> Result<Response, ApiError> {
    let mut event = AuditEvent::new(now_ms(), FHIR_IMPORT, purpose::DIRECT_CARE, "refused")
        .by(principal, Role::CaseManager)
        .detail("the plan refused the imported content");
    if let Some(id) = patient_id {
        event = event.patient(id);
    }
    state.store().record_audit(&[event]).await?;
    Ok(outcome(
        StatusCode::UNPROCESSABLE_ENTITY,
        vec![("Bundle".to_owned(), problem)],
    ))
}

/// What an import did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Imported {
    patient_id: String,
    /// Whether the import created the plan (a draft) rather than merging into it.
    created: bool,
    /// Changes made to the plan.
    changes: usize,
    /// What the Bundle held that the plan has no place for, said for people.
    skipped: Vec<String>,
}

/// The shape of a Bundle the import reads (its entries are checked resource by resource,
/// and every problem is answered as an OperationOutcome).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ImportBundle {
    #[schema(rename = "resourceType", pattern = "^Bundle$")]
    resource_type: String,
    /// Resources, each as `{resource: {...}}`; one of them the Patient.
    #[schema(min_items = 1)]
    entry: Vec<serde_json::Map<String, serde_json::Value>>,
}
