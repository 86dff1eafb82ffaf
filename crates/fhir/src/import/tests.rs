use redfolder_shared::CarePlan;
use serde_json::json;

use super::*;
use crate::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};

fn patient(nhs: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": nhs }],
        "name": [{ "use": "official", "family": "Example", "given": ["Ada", "May"] }],
        "birthDate": "1938-02-28",
        "gender": "female",
        "address": [{ "line": ["1 High Street"], "city": "Ashbridge", "postalCode": "AB1 2CD" }],
    })
}

fn bundle(resources: Vec<Value>) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({ "resource": r }))
        .collect();
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entry })
}

#[test]
fn a_gp_bundle_reads_with_unknown_types_skipped() {
    let b = bundle(vec![
        patient("943 476 5919"),
        json!({ "resourceType": "Condition", "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "13645005", "display": "COPD" }] } }),
        json!({ "resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": { "text": "Salbutamol" }, "dosage": [{ "text": "2 puffs" }] }),
        json!({ "resourceType": "AllergyIntolerance", "code": { "text": "Penicillin" }, "reaction": [{ "manifestation": [{ "text": "rash" }], "severity": "severe" }] }),
        json!({ "resourceType": "Observation", "status": "final", "code": { "coding": [{ "system": "http://loinc.org", "code": "8310-5" }] },
                "effectiveDateTime": "2026-03-04T10:00:00Z", "valueQuantity": { "value": 36.8, "code": "Cel" } }),
        json!({ "resourceType": "Encounter", "status": "finished" }),
    ]);
    let import = parse_import(&b).unwrap();
    assert_eq!(import.patient.nhs_number, "9434765919");
    assert_eq!(import.patient.name, "Ada May Example");
    assert_eq!(import.patient.address, "1 High Street, Ashbridge, AB1 2CD");
    assert_eq!(import.conditions[0].name, "COPD");
    assert_eq!(import.medications[0].dose, "2 puffs");
    assert_eq!(import.allergies[0].severity, AllergySeverity::Severe);
    assert!(matches!(
        import.baseline,
        Some(Edit::RecordBaseline { temperature_decidegrees: Some(368), ref observed_on, .. }) if observed_on == "2026-03-04"
    ));
    assert_eq!(import.skipped.len(), 1);
    assert!(import.skipped[0].contains("Encounter"));

    let mut n = 0;
    let edits = import_edits(&import, None, "2026-03-05", &mut || {
        n += 1;
        format!("id{n}")
    });
    assert_eq!(edits.edits.len(), 5, "{edits:?}");
    assert!(edits.not_applied.is_empty());
}

#[test]
fn every_problem_is_listed_and_the_bundle_refused_whole() {
    let mut p = patient("9434765918");
    p.as_object_mut().unwrap().remove("birthDate");
    let b = bundle(vec![
        p,
        json!({ "resourceType": "Condition", "code": { "coding": [{ "code": "13645005" }] } }),
        json!({ "resourceType": "Observation", "code": { "coding": [{ "code": "8867-4" }] }, "valueQuantity": { "value": 70, "code": "kg" } }),
    ]);
    let refused = parse_import(&b).unwrap_err();
    let at: Vec<&str> = refused.problems.iter().map(|p| p.at.as_str()).collect();
    assert_eq!(
        at,
        [
            "entry[0] Patient.identifier",
            "entry[0] Patient.birthDate",
            "entry[1] Condition.code",
            "entry[2] Observation.valueQuantity",
        ]
    );
    assert!(parse_import(&json!({ "resourceType": "Patient" })).is_err());
    assert!(parse_import(&bundle(vec![])).is_err());
}

fn new_id() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("id{n}")
    }
}

fn dnacpr(extra: Value) -> Value {
    let mut o = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "450476008", "display": "Not for attempted cardiopulmonary resuscitation" }] },
        "effectiveDateTime": "2026-01-10",
        "performer": [{ "display": "Dr Decider" }],
    });
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

fn plan_with(edit: Option<Edit>) -> CarePlan {
    use redfolder_shared::{ActorId, PlanDoc};
    let editor = redfolder_shared::testkit::editor("u1", "Nurse One");
    let new = redfolder_shared::testkit::example_patient();
    let mut doc = PlanDoc::create(
        ActorId::from(b"a".as_slice()),
        &new,
        &editor,
        1_790_000_000_000,
    )
    .unwrap();
    if let Some(e) = edit {
        doc.apply(&e, &editor, 1_790_000_001_000).unwrap();
    }
    doc.plan().unwrap()
}

#[test]
fn a_complete_dnacpr_is_imported_only_where_the_plan_has_none() {
    let b = bundle(vec![
        patient("9434765919"),
        dnacpr(json!({ "note": [{ "text": "Original: red folder, kitchen drawer" }] })),
    ]);
    let import = parse_import(&b).unwrap();
    let r = import.resuscitation.as_ref().unwrap();
    assert_eq!(r.status, DnacprStatus::DoNotAttemptCpr);
    assert_eq!(r.decided_by, "Dr Decider");
    assert_eq!(r.decision_date.as_deref(), Some("2026-01-10"));

    // A new plan takes it, as an ordinary edit the plan validates.
    let out = import_edits(&import, None, "2026-03-05", &mut new_id());
    assert!(out.not_applied.is_empty(), "{out:?}");
    let edit = out
        .edits
        .iter()
        .find(|e| matches!(e, Edit::SetResuscitation { .. }))
        .cloned()
        .expect("a resuscitation edit");
    let plan = plan_with(Some(edit));
    assert_eq!(plan.dnacpr, DnacprStatus::DoNotAttemptCpr);
    assert_eq!(
        plan.resuscitation.as_ref().unwrap().original_location,
        "red folder, kitchen drawer"
    );

    // The same decision again changes nothing.
    let out = import_edits(&import, Some(&plan), "2026-03-05", &mut new_id());
    assert!(
        !out.edits
            .iter()
            .any(|e| matches!(e, Edit::SetResuscitation { .. })),
        "{out:?}"
    );

    // A plan that says otherwise is never changed by an import: it is reported.
    let other = plan_with(Some(Edit::SetDnacpr {
        status: DnacprStatus::ForAttemptedCpr,
    }));
    let out = import_edits(&import, Some(&other), "2026-03-05", &mut new_id());
    assert!(
        !out.edits
            .iter()
            .any(|e| matches!(e, Edit::SetResuscitation { .. }))
    );
    assert!(
        out.not_applied[0].contains("care team must confirm"),
        "{out:?}"
    );
}

#[test]
fn an_incomplete_or_contradictory_dnacpr_is_reported_not_imported() {
    // No location of the original form: a crew could not act on it.
    let import = parse_import(&bundle(vec![patient("9434765919"), dnacpr(json!({}))])).unwrap();
    let out = import_edits(&import, None, "2026-03-05", &mut new_id());
    assert!(
        out.edits
            .iter()
            .all(|e| !matches!(e, Edit::SetResuscitation { .. }))
    );
    assert!(
        out.not_applied[0].contains("where the original form is"),
        "{out:?}"
    );

    // A Consent coded "for attempted CPR" and an Observation coded DNACPR disagree.
    let consent = json!({
        "resourceType": "Consent",
        "status": "active",
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "adr" }] },
        "category": [{ "coding": [{ "system": "http://snomed.info/sct", "code": "304252001" }] }],
        "dateTime": "2026-02-01",
    });
    let import = parse_import(&bundle(vec![
        patient("9434765919"),
        dnacpr(json!({ "note": [{ "text": "Original: hospital notes" }] })),
        consent.clone(),
    ]))
    .unwrap();
    assert_eq!(import.resuscitation, None);
    assert!(
        import
            .skipped
            .iter()
            .any(|s| s.contains("different resuscitation decisions")),
        "{:?}",
        import.skipped
    );

    // On its own, "for attempted CPR" needs no more than the decision.
    let import = parse_import(&bundle(vec![patient("9434765919"), consent.clone()])).unwrap();
    let out = import_edits(&import, None, "2026-03-05", &mut new_id());
    assert!(out.edits.iter().any(|e| matches!(
        e,
        Edit::SetResuscitation {
            status: DnacprStatus::ForAttemptedCpr,
            ..
        }
    )));

    // A preliminary (conflicting) entry is reported, not imported.
    let import = parse_import(&bundle(vec![
        patient("9434765919"),
        dnacpr(json!({ "status": "preliminary" })),
    ]))
    .unwrap();
    assert_eq!(import.resuscitation, None);
    assert!(
        import.skipped[0].contains("not in force"),
        "{:?}",
        import.skipped
    );

    // Nor is a revoked one.
    let mut revoked = consent;
    revoked["status"] = "inactive".into();
    let import = parse_import(&bundle(vec![patient("9434765919"), revoked])).unwrap();
    assert_eq!(import.resuscitation, None);
}

#[test]
fn the_registered_practice_is_read_through_a_reference() {
    let mut p = patient("9434765919");
    p["generalPractitioner"] =
        json!([{ "reference": "urn:uuid:6f1c2a9e-3b7d-4c55-9e2a-0d4b8f7a1c23" }]);
    let b = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            { "fullUrl": "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001", "resource": p },
            { "fullUrl": "urn:uuid:6f1c2a9e-3b7d-4c55-9e2a-0d4b8f7a1c23", "resource": {
                "resourceType": "Organization",
                "identifier": [{ "system": ODS_SYSTEM, "value": "A81001" }],
                "name": "Ashbridge Surgery",
            } },
        ],
    });
    let import = parse_import(&b).unwrap();
    assert_eq!(import.patient.gp_practice_ods, "A81001");
    assert_eq!(import.patient.gp_practice_name, "Ashbridge Surgery");
}
