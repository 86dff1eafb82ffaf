//! Condition, MedicationStatement and AllergyIntolerance: the clinical lists the plan
//! and the emergency document share.

use redfolder_shared::{AllergySeverity, AllergyStatus, Attribution, CarePlan, SafetyField};
use serde_json::{Value, json};

use super::Entries;
use super::observations::add_observations;
use crate::util::{coded, fhir_id, instant, reference, text};
use crate::{SNOMED, SNOMED_NO_KNOWN_ALLERGY};

/// Patient, Condition, MedicationStatement, AllergyIntolerance and Observation: what the
/// plan and the emergency document share. Returns nothing; the Patient's url is known.
pub(super) fn add_clinical(e: &mut Entries<'_>, plan: &CarePlan, patient: &str) {
    let subject = reference(patient, Some(&plan.patient.name));
    for c in &plan.conditions {
        let id = fhir_id("condition", &c.id);
        let error = c.entered_in_error.is_some();
        let resource = json!({
            "resourceType": "Condition",
            "id": id,
            "clinicalStatus": if error { Value::Null } else {
                coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")
            },
            "verificationStatus": if error {
                coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "entered-in-error", "Entered in Error")
            } else {
                coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed")
            },
            "category": [coded("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")],
            "code": text(&c.name),
            "subject": subject,
            "recordedDate": instant(c.recorded.at_ms),
            "recorder": e.user(&c.recorded),
            "note": [if c.treatment.is_empty() { Value::Null } else { json!({ "text": c.treatment }) }],
        });
        e.add(
            resource,
            Some(latest(
                &c.recorded,
                c.entered_in_error.as_ref().map(|x| &x.by),
            )),
        );
    }
    for m in &plan.medications {
        let id = fhir_id("medication", &m.id);
        let mut notes = Vec::new();
        if !m.notes.is_empty() {
            notes.push(json!({ "text": m.notes }));
        }
        if !m.location.is_empty() {
            notes.push(json!({ "text": format!("Kept: {}", m.location) }));
        }
        let resource = json!({
            "resourceType": "MedicationStatement",
            "id": id,
            "status": if m.entered_in_error.is_some() { "entered-in-error" } else { "active" },
            "category": medication_category(m.anticipatory),
            "medicationCodeableConcept": text(&m.name),
            "subject": subject,
            "dateAsserted": instant(m.recorded.at_ms),
            "informationSource": e.user(&m.recorded),
            "dosage": [if m.dose.is_empty() { Value::Null } else { json!({ "text": m.dose }) }],
            "note": notes,
        });
        e.add(
            resource,
            Some(latest(
                &m.recorded,
                m.entered_in_error.as_ref().map(|x| &x.by),
            )),
        );
    }
    let allergy_conflict = plan.conflict(SafetyField::Allergies).is_some();
    for a in &plan.allergies {
        let id = fhir_id("allergy", &a.id);
        let error = a.entered_in_error.is_some();
        let severity = match a.severity {
            AllergySeverity::Mild => Value::from("mild"),
            AllergySeverity::Moderate => "moderate".into(),
            AllergySeverity::Severe => "severe".into(),
            AllergySeverity::Unknown => Value::Null,
        };
        let reaction = if a.reaction.is_empty() {
            Value::Null
        } else {
            json!({ "manifestation": [text(&a.reaction)], "severity": severity })
        };
        let resource = json!({
            "resourceType": "AllergyIntolerance",
            "id": id,
            "clinicalStatus": if error { Value::Null } else {
                coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")
            },
            "verificationStatus": allergy_verification(error, allergy_conflict),
            "code": text(&a.substance),
            "criticality": if a.severity == AllergySeverity::Severe { Value::from("high") } else { Value::Null },
            "patient": subject,
            "recordedDate": instant(a.recorded.at_ms),
            "recorder": e.user(&a.recorded),
            "reaction": [reaction],
        });
        e.add(
            resource,
            Some(latest(
                &a.recorded,
                a.entered_in_error.as_ref().map(|x| &x.by),
            )),
        );
    }
    // "No known allergies" is exported while it stands, or (unconfirmed) while it
    // conflicts with recorded allergies.
    if (plan.allergy_status() == AllergyStatus::NoKnownAllergies || allergy_conflict)
        && let Some(statement) = &plan.allergy_status
        && statement.status == AllergyStatus::NoKnownAllergies
    {
        let resource = json!({
            "resourceType": "AllergyIntolerance",
            "id": "allergy-none-known",
            "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"),
            "verificationStatus": allergy_verification(false, allergy_conflict),
            "code": coded(SNOMED, SNOMED_NO_KNOWN_ALLERGY, "No known allergy"),
            "patient": subject,
            "recordedDate": instant(statement.recorded.at_ms),
            "recorder": e.user(&statement.recorded),
        });
        e.add(resource, Some(&statement.recorded));
    }
    add_observations(e, plan, &subject);
}

/// `MedicationStatement.category` (one CodeableConcept): "community" from the UK Core
/// value set (taken at home), plus SNOMED CT "anticipatory medicine" for a just-in-case
/// medicine, which that extensible value set has no code for.
pub(crate) fn medication_category(anticipatory: bool) -> Value {
    let mut codings = vec![json!({
        "system": "http://terminology.hl7.org/CodeSystem/medication-statement-category",
        "code": "community",
        "display": "Community",
    })];
    if anticipatory {
        codings.push(json!({ "system": SNOMED, "code": "1066711000000100", "display": "Anticipatory medicine" }));
    }
    json!({
        "coding": codings,
        "text": if anticipatory { "Anticipatory medicine" } else { "Community" },
    })
}

pub(super) fn allergy_verification(error: bool, conflicting: bool) -> Value {
    let system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
    if error {
        coded(system, "entered-in-error", "Entered in Error")
    } else if conflicting {
        // Replicas disagree about allergies: nothing here is confirmed until a clinician
        // resolves the conflict.
        coded(system, "unconfirmed", "Unconfirmed")
    } else {
        coded(system, "confirmed", "Confirmed")
    }
}

pub(super) fn latest<'a>(
    recorded: &'a Attribution,
    other: Option<&'a Attribution>,
) -> &'a Attribution {
    match other {
        Some(o) if o.at_ms >= recorded.at_ms => o,
        _ => recorded,
    }
}
