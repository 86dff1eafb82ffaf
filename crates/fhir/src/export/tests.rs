use redfolder_shared::{ActorId, DnacprStatus, Edit, PlanDoc};
use serde_json::Value;

use super::*;
use crate::SNOMED_DNACPR;

fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    crate::bundle::resources(bundle, kind)
}

fn resolve<'a>(bundle: &'a Value, reference: &Value) -> &'a Value {
    let url = reference["reference"].as_str().expect("a reference");
    crate::bundle::resolve(bundle, Some(bundle), url)
        .unwrap_or_else(|| panic!("{url} does not resolve in {bundle:#}"))
}

#[test]
fn people_and_the_practice_are_resources_of_the_bundle() {
    let nurse = redfolder_shared::testkit::editor("u1", "Nurse One");
    let new = redfolder_shared::testkit::example_patient();
    let t = 1_790_000_000_000;
    let mut doc = PlanDoc::create(ActorId::from(b"a".as_slice()), &new, &nurse, t).unwrap();
    doc.apply_all(
        &[
            redfolder_shared::testkit::practice_details("A81001", "Ashbridge Surgery"),
            Edit::SetCaseManager {
                name: "Cath Manager".into(),
                role: "community matron".into(),
                phone: "01234 567890".into(),
            },
            Edit::AddCondition {
                id: "c1".into(),
                name: "COPD".into(),
                treatment: String::new(),
            },
            Edit::AddAnticipatoryMedication {
                id: "m1".into(),
                name: "Morphine sulfate".into(),
                dose: "2.5 mg subcutaneous".into(),
                location: "kitchen cupboard".into(),
                notes: String::new(),
            },
        ],
        &nurse,
        t + 1000,
    )
    .unwrap();
    let bundle = plan_bundle("p1", &doc.plan().unwrap());

    // MedicationStatement.category is one CodeableConcept; an anticipatory medicine
    // and where it is kept read back.
    let medication = resources(&bundle, "MedicationStatement")[0];
    assert!(medication["category"].is_object(), "{medication:#}");
    let import = crate::parse_import(&bundle).unwrap();
    assert!(import.medications[0].anticipatory);
    assert_eq!(import.medications[0].location, "kitchen cupboard");

    let patient = resources(&bundle, "Patient")[0];
    let practice = resolve(&bundle, &patient["generalPractitioner"][0]);
    assert_eq!(practice["resourceType"], "Organization");
    assert_eq!(practice["identifier"][0]["value"], "A81001");
    assert_eq!(
        patient["identifier"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "02"
    );
    let episode = resources(&bundle, "EpisodeOfCare")[0];
    let cm = resolve(&bundle, &episode["careManager"]);
    assert_eq!(cm["name"][0]["text"], "Cath Manager");
    assert_eq!(cm["telecom"][0]["value"], "01234 567890");
    let condition = resources(&bundle, "Condition")[0];
    let recorder = resolve(&bundle, &condition["recorder"]);
    assert_eq!(recorder["identifier"][0]["value"], "u1");
    for p in resources(&bundle, "Provenance") {
        let who = resolve(&bundle, &p["agent"][0]["who"]);
        assert_eq!(who["resourceType"], "Practitioner");
    }
    // One Practitioner per user, however many resources they touched.
    let practitioners = resources(&bundle, "Practitioner");
    assert_eq!(practitioners.len(), 2, "{practitioners:#?}");

    for entry in bundle["entry"].as_array().unwrap() {
        let r = &entry["resource"];
        let kind = r["resourceType"].as_str().unwrap();
        let claimed = r["meta"]["profile"][0].as_str();
        match profile::uk_core(kind) {
            // Vital signs claim UK Core's more specific profiles, derived from it.
            Some(p) => assert!(claimed.is_some_and(|c| c.starts_with(&p)), "{r:#}"),
            None => assert!(claimed.is_none(), "{r:#}"),
        }
    }
    assert_eq!(
        bundle["meta"]["profile"][0],
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Bundle"
    );
}

/// Every string at a `text` key anywhere in `v`.
fn texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if let (true, Some(s)) = (k == "text", v.as_str()) {
                    out.push(s.to_owned());
                }
                texts(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
        _ => {}
    }
}

/// Two tablets that set DNACPR and the ceiling of treatment differently, merged.
fn diverged() -> CarePlan {
    let set = |status, ceiling| {
        [
            Edit::SetDnacpr { status },
            Edit::SetCeilingOfTreatment {
                ceiling,
                notes: String::new(),
            },
        ]
    };
    redfolder_shared::testkit::diverged(
        &set(
            DnacprStatus::ForAttemptedCpr,
            redfolder_shared::TreatmentCeiling::FullEscalation,
        ),
        &set(
            DnacprStatus::DoNotAttemptCpr,
            redfolder_shared::TreatmentCeiling::ComfortCareOnly,
        ),
    )
}

#[test]
fn a_conflicting_register_is_exported_as_conflicting_never_as_a_value() {
    let plan = diverged();
    let bundle = plan_bundle("p1", &plan);
    let mut all = Vec::new();
    texts(&bundle, &mut all);
    let ceilings: Vec<&String> = all
        .iter()
        .filter(|t| t.starts_with("Ceiling of treatment"))
        .collect();
    assert_eq!(
        ceilings,
        [&"Ceiling of treatment: Conflicting: Full escalation including intensive care / Comfort and symptom control only \u{2014} confirm with the care team".to_owned()],
    );
    // Both resuscitation values go out preliminary; none is final.
    let resus: Vec<&Value> = resources(&bundle, "Observation")
        .into_iter()
        .filter(|o| {
            o["code"]["coding"][0]["code"] == "735324008"
                || o["valueCodeableConcept"]["coding"][0]["code"] == SNOMED_DNACPR
        })
        .collect();
    assert!(!resus.is_empty());
    for o in resus {
        assert_ne!(o["status"], "final", "{o}");
    }
}

#[test]
fn a_conflicting_summary_document_codes_no_resuscitation_decision() {
    let summary = redfolder_shared::emergency_summary(&diverged());
    let doc = crate::summary_document("p1", &summary);
    let text = doc.to_string();
    for o in resources(&doc, "Observation") {
        assert_eq!(o["status"], "preliminary", "{o}");
    }
    let composition = &resources(&doc, "Composition")[0];
    let section = composition["section"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Resuscitation (DNACPR / ReSPECT)")
        .unwrap();
    assert_eq!(section["code"]["coding"][0]["code"], "735324008");
    assert!(!section["code"].to_string().contains(SNOMED_DNACPR));
    assert!(text.contains(
        "Conflicting: For attempted CPR / DNACPR in place: do not attempt CPR \u{2014} confirm with the care team"
    ));
}
