//! A clinic's list and page, its patients and their pre-clinic data, and the education
//! sessions the specialist gives.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_fhir::{ClinicReading, MeasureKind};
use redfolder_shared::Date;
use serde::{Deserialize, Serialize};

use super::{choosable, clinic_audit, practice_clinic, specialist_clinic};
use crate::audit::AuditEvent;
use crate::auth::Authenticated;
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::routes::scheme::{act, date_param, event, today};
use crate::routes::{ApiJson, ApiPath};
use crate::scheme::clinic::Specialty;
use crate::state::AppState;
use crate::store::clinics::{ClinicPatient, ClinicReadingRow, EducationSession, VirtualClinic};

/// A clinic as its lists show it: no patient is named.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClinicSummary {
    id: String,
    practice: String,
    specialist: String,
    specialist_username: String,
    specialty: String,
    /// `YYYY-MM-DD`.
    date: String,
    opens_at_ms: i64,
    closes_at_ms: i64,
    /// `scheduled` (its day is to come), `open`, or `closed` (by the practice or at the
    /// day's end).
    state: String,
    patient_count: usize,
}

impl ClinicSummary {
    fn of(c: &VirtualClinic, now: i64) -> ClinicSummary {
        let state = if now >= c.closes_at_ms {
            "closed"
        } else if now >= c.opens_at_ms {
            "open"
        } else {
            "scheduled"
        };
        ClinicSummary {
            id: c.id.clone(),
            practice: c.organisation_name.clone(),
            specialist: c.specialist_name.clone(),
            specialist_username: c.specialist_username.clone(),
            specialty: c.specialty.clone(),
            date: c.clinic_date.clone(),
            opens_at_ms: c.opens_at_ms,
            closes_at_ms: c.closes_at_ms,
            state: state.to_owned(),
            patient_count: c.patient_ids.len(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClinicList {
    clinics: Vec<ClinicSummary>,
}

/// The caller's clinics, newest first: a case manager's practice's, or an MDT member's
/// as the named specialist. Counts only: the patients are named on a clinic's own page.
#[utoipa::path(get, path = "/api/v1/scheme/virtual-clinics", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, body = ClinicList, description = "At most 200, newest first"),
        (status = 403, description = "Neither a case manager nor an MDT member")))]
pub(crate) async fn clinics(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<ClinicList>, ApiError> {
    let store = state.store();
    let list = if principal.user.has(Role::CaseManager) {
        store
            .practice_clinics(&principal.user.organisation_id)
            .await?
    } else if principal.user.has(Role::MdtMember) {
        store.specialist_clinics(&principal.user.id).await?
    } else {
        store
            .record_audit(&[clinic_audit(&principal, now_ms(), "", "denied")])
            .await?;
        return Err(ApiError::Forbidden);
    };
    let now = now_ms();
    Ok(Json(ClinicList {
        clinics: list.iter().map(|c| ClinicSummary::of(c, now)).collect(),
    }))
}

/// One pre-clinic measure the clinic's specialty asks for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MeasureInfo {
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    /// `number`, `blood_pressure` or `screening`.
    kind: &'static str,
}

/// A patient on the clinic's page: who, consent, outcome, pre-clinic readings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClinicPatientView {
    #[serde(flatten)]
    patient: ClinicPatient,
    readings: Vec<ClinicReadingRow>,
}

/// A clinic's page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClinicDetail {
    #[serde(flatten)]
    clinic: ClinicSummary,
    /// What the caller may do: `practice` (the practice's case manager) or `specialist`.
    viewer: &'static str,
    measures: Vec<MeasureInfo>,
    patients: Vec<ClinicPatientView>,
    education: Vec<EducationSession>,
}

/// A clinic's page: for the practice's case managers at any time; for its specialist only
/// while it is open, and then only patients who still consent to MDT sharing. Each
/// patient shown is audited.
#[utoipa::path(get, path = "/api/v1/scheme/virtual-clinics/{id}", tag = "scheme",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Clinic id")),
    responses((status = 200, body = ClinicDetail, description = "The clinic with its patients, their pre-clinic data and outcomes"),
        (status = 404, description = "Not a clinic of your practice, or not open to you")))]
pub(crate) async fn clinic(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClinicDetail>, ApiError> {
    let now = now_ms();
    let store = state.store();
    let (clinic, viewer) = if principal.user.has(Role::CaseManager) {
        (practice_clinic(&state, &principal, &id).await?, "practice")
    } else {
        match specialist_clinic(&state, &principal, &id, now).await? {
            Some(c) => (c, "specialist"),
            None => {
                store
                    .record_audit(&[clinic_audit(&principal, now, &id, "denied")])
                    .await?;
                return Err(ApiError::not_found("no such clinic open to you"));
            }
        }
    };
    let mut patients = Vec::new();
    let mut audit = Vec::new();
    for p in store.clinic_patients(&clinic.id).await? {
        if viewer == "specialist" && !p.share_with_mdt {
            continue;
        }
        audit.push(read_audit(
            &principal,
            viewer,
            now,
            &clinic.id,
            &p.patient_id,
        ));
        let readings = store.clinic_readings(&clinic.id, &p.patient_id).await?;
        patients.push(ClinicPatientView {
            patient: p,
            readings,
        });
    }
    store.record_audit(&audit).await?;
    let specialty = Specialty::parse(&clinic.specialty).unwrap_or(Specialty::Other);
    Ok(Json(ClinicDetail {
        clinic: ClinicSummary::of(&clinic, now),
        viewer,
        measures: specialty
            .measures()
            .into_iter()
            .map(|m| MeasureInfo {
                key: m.key,
                label: m.label,
                unit: m.unit,
                kind: match m.kind {
                    MeasureKind::Number { .. } => "number",
                    MeasureKind::BloodPressure => "blood_pressure",
                    MeasureKind::Screening => "screening",
                },
            })
            .collect(),
        patients,
        education: store.clinic_education(&clinic.id).await?,
    }))
}

fn read_audit(
    principal: &Principal,
    viewer: &str,
    now: i64,
    clinic_id: &str,
    patient_id: &str,
) -> AuditEvent {
    if viewer == "practice" {
        event(
            principal,
            act::VIRTUAL_CLINIC,
            crate::audit::purpose::DIRECT_CARE,
        )
        .subject(clinic_id.to_owned())
        .patient(patient_id.to_owned())
        .detail("clinic page")
    } else {
        clinic_audit(principal, now, clinic_id, "ok")
            .patient(patient_id.to_owned())
            .detail("clinic page")
    }
}

/// A clinic of the practice that has not ended, for a change by its case manager.
async fn editable(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<VirtualClinic, ApiError> {
    let clinic = practice_clinic(state, principal, id).await?;
    if now_ms() >= clinic.closes_at_ms {
        return Err(ApiError::Conflict(
            "the clinic has closed: it can no longer change".into(),
        ));
    }
    Ok(clinic)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AddPatientBody {
    patient_id: String,
}

/// Adds a patient of the practice who consents to MDT sharing to a clinic that has not
/// closed (the practice's case managers only).
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics/{id}/patients", tag = "scheme",
    security(("bearer" = [])), request_body = AddPatientBody,
    params(("id" = String, Path, description = "Clinic id")),
    responses((status = 201, body = super::super::Created, description = "Listed (the id is the patient's)"),
        (status = 400, description = "Not a patient of the practice, or no consent to MDT sharing"),
        (status = 404, description = "No such clinic of your practice"),
        (status = 409, description = "The clinic has closed, or the patient is listed already")))]
pub(crate) async fn add_patient(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AddPatientBody>,
) -> Result<(StatusCode, Json<super::super::Created>), ApiError> {
    let clinic = editable(&state, &principal, &id).await?;
    choosable(&state, &clinic.organisation_id, &body.patient_id).await?;
    if clinic.patient_ids.contains(&body.patient_id) {
        return Err(ApiError::Conflict(
            "the patient is on the clinic's list already".into(),
        ));
    }
    let specialist = clinic.specialist_username.clone();
    let audit = [event(
        &principal,
        act::VIRTUAL_CLINIC,
        crate::audit::purpose::DIRECT_CARE,
    )
    .subject(clinic.id.clone())
    .patient(body.patient_id.clone())
    .detail(format!("open to {specialist}"))];
    state
        .store()
        .add_clinic_patient(&clinic.id, &body.patient_id, &audit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(super::super::Created {
            id: body.patient_id,
        }),
    ))
}

/// The clinic's patient, when on its list (else 404).
fn listed(clinic: &VirtualClinic, patient_id: &str) -> Result<(), ApiError> {
    if clinic.patient_ids.iter().any(|p| p == patient_id) {
        Ok(())
    } else {
        Err(ApiError::not_found("no such patient on the clinic's list"))
    }
}

/// One typed reading.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct TypedReading {
    /// A measure key (`hba1c`, `egfr`, `acr`, `blood_pressure`, `total_cholesterol`,
    /// `ldl`, `bmi`, `eye_screening`, `foot_screening`).
    measure: String,
    /// A number in the measure's unit, `systolic/diastolic`, or a screening's result.
    value: String,
    /// `YYYY-MM-DD`: when it was measured; not in the future.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    observed_on: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReadingsBody {
    #[schema(min_items = 1, max_items = 50)]
    readings: Vec<TypedReading>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReadingsAdded {
    added: usize,
    /// What an import did not read, each with why.
    skipped: Vec<String>,
}

/// The date a reading was taken, refused if it is not a date, in the future or before 1900.
fn observed(value: &str) -> Result<String, ApiError> {
    let day = date_param("observed_on", value)?;
    if day > today() || day.year < 1900 {
        return Err(ApiError::BadRequest(
            "observed_on must be a past date".into(),
        ));
    }
    Ok(day.to_string())
}

/// Stores readings for a patient on the clinic's list and audits them.
async fn store_readings(
    state: &AppState,
    principal: &Principal,
    clinic: &VirtualClinic,
    patient_id: &str,
    readings: &[ClinicReading],
    source: &str,
) -> Result<(), ApiError> {
    let audit = [event(
        principal,
        act::VIRTUAL_CLINIC,
        crate::audit::purpose::DIRECT_CARE,
    )
    .subject(clinic.id.clone())
    .patient(patient_id.to_owned())
    .detail(format!("{} pre-clinic readings ({source})", readings.len()))];
    state
        .store()
        .add_clinic_readings(
            &clinic.id,
            patient_id,
            readings,
            source,
            &principal.user.id,
            now_ms(),
            &audit,
        )
        .await?;
    Ok(())
}

/// Pre-clinic data typed in by the practice's case manager for a patient on the list of
/// a clinic that has not closed. All or nothing: one bad reading refuses them all.
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics/{id}/patients/{patient_id}/readings", tag = "scheme",
    security(("bearer" = [])), request_body = ReadingsBody,
    params(("id" = String, Path, description = "Clinic id"), ("patient_id" = String, Path, description = "Patient id")),
    responses((status = 201, body = ReadingsAdded, description = "Stored"),
        (status = 400, description = "An unknown measure, a value out of range, or a date not in the past"),
        (status = 404, description = "No such clinic of your practice, or patient on its list"),
        (status = 409, description = "The clinic has closed")))]
pub(crate) async fn add_readings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, patient_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ReadingsBody>,
) -> Result<(StatusCode, Json<ReadingsAdded>), ApiError> {
    let clinic = editable(&state, &principal, &id).await?;
    listed(&clinic, &patient_id)?;
    if body.readings.is_empty() || body.readings.len() > 50 {
        return Err(ApiError::BadRequest(
            "send between 1 and 50 readings".into(),
        ));
    }
    let mut readings = Vec::with_capacity(body.readings.len());
    for r in &body.readings {
        let m = redfolder_fhir::measure(&r.measure).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{:?} is not a pre-clinic measure",
                r.measure.chars().take(40).collect::<String>()
            ))
        })?;
        readings.push(ClinicReading {
            measure: m.key,
            value: m.read_typed(&r.value).map_err(ApiError::BadRequest)?,
            observed_on: observed(&r.observed_on)?,
        });
    }
    store_readings(&state, &principal, &clinic, &patient_id, &readings, "typed").await?;
    Ok((
        StatusCode::CREATED,
        Json(ReadingsAdded {
            added: readings.len(),
            skipped: Vec::new(),
        }),
    ))
}

/// Pre-clinic data from a GP system: a FHIR R4 Bundle of Observations (or one
/// Observation), LOINC or SNOMED CT coded. Results the clinic does not use are skipped
/// and listed; any problem (a wrong unit, no date, another patient's NHS number) refuses
/// the whole import.
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics/{id}/patients/{patient_id}/fhir", tag = "scheme",
    security(("bearer" = [])), request_body(content = Object, description = "A FHIR R4 Bundle or Observation"),
    params(("id" = String, Path, description = "Clinic id"), ("patient_id" = String, Path, description = "Patient id")),
    responses((status = 201, body = ReadingsAdded, description = "Stored, with what was skipped"),
        (status = 400, description = "The resources were refused: every problem is listed in the message"),
        (status = 404, description = "No such clinic of your practice, or patient on its list"),
        (status = 409, description = "The clinic has closed")))]
pub(crate) async fn import_readings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, patient_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<ReadingsAdded>), ApiError> {
    let clinic = editable(&state, &principal, &id).await?;
    listed(&clinic, &patient_id)?;
    let read = redfolder_fhir::parse_clinic_observations(&body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Some(nhs) = &read.nhs_number {
        let ours = state
            .store()
            .clinic_patients(&clinic.id)
            .await?
            .into_iter()
            .any(|p| p.patient_id == patient_id && p.nhs_number == *nhs);
        if !ours {
            return Err(ApiError::BadRequest(
                "the resources name another patient's NHS number".into(),
            ));
        }
    }
    let mut readings = read.readings;
    for r in &mut readings {
        r.observed_on = observed(&r.observed_on)?;
    }
    if readings.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "no pre-clinic data in the resources ({})",
            read.skipped.join("; ")
        )));
    }
    store_readings(&state, &principal, &clinic, &patient_id, &readings, "fhir").await?;
    Ok((
        StatusCode::CREATED,
        Json(ReadingsAdded {
            added: readings.len(),
            skipped: read.skipped,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct EducationBody {
    /// What was taught (for example "insulin initiation").
    topic: String,
    /// Who attended (names or roles).
    attendees: String,
    /// `YYYY-MM-DD`; the clinic's date when left out. Not in the future.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: Option<String>,
}

/// Logs an education session the specialist gave the practice: by the specialist while
/// the clinic is open, or by the practice's case manager (recording it afterwards).
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics/{id}/education", tag = "scheme",
    security(("bearer" = [])), request_body = EducationBody,
    params(("id" = String, Path, description = "Clinic id")),
    responses((status = 201, body = super::super::Created, description = "Logged"),
        (status = 400, description = "No topic or attendees, text too long, or a date in the future"),
        (status = 404, description = "Not a clinic of your practice, or not open to you")))]
pub(crate) async fn add_education(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EducationBody>,
) -> Result<(StatusCode, Json<super::super::Created>), ApiError> {
    let now = now_ms();
    let clinic = if principal.user.has(Role::CaseManager) {
        practice_clinic(&state, &principal, &id).await?
    } else {
        match specialist_clinic(&state, &principal, &id, now).await? {
            Some(c) => c,
            None => {
                state
                    .store()
                    .record_audit(&[clinic_audit(&principal, now, &id, "denied")])
                    .await?;
                return Err(ApiError::not_found("no such clinic open to you"));
            }
        }
    };
    let text = |name: &str, value: &str| -> Result<String, ApiError> {
        let v = value.trim();
        if v.is_empty() || v.chars().count() > 500 {
            return Err(ApiError::BadRequest(format!(
                "{name} is required (up to 500 characters)"
            )));
        }
        Ok(v.to_owned())
    };
    let date = match &body.date {
        Some(d) => observed(d)?,
        None => clinic.clinic_date.clone(),
    };
    if Date::parse(&date).is_some_and(|d| d > today()) {
        return Err(ApiError::BadRequest(
            "an education session is logged on or after its day".into(),
        ));
    }
    let session = EducationSession {
        id: uuid::Uuid::new_v4().to_string(),
        topic: text("topic", &body.topic)?,
        attendees: text("attendees", &body.attendees)?,
        session_date: date,
        recorded_at_ms: now,
    };
    let audit = [clinic_audit(&principal, now, &clinic.id, "education").detail(session.id.clone())];
    state
        .store()
        .add_clinic_education(&clinic.id, &session, &principal.user.id, &audit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(super::super::Created { id: session.id }),
    ))
}
