//! FHIR R4: exported plans and emergency documents pass an independent validator
//! (fhir.resources 6.4.0, driven by tests/fhir/validate.py); imports round-trip, merge
//! and refuse whole; the same access rules and audit as every other read.

use std::io::Write;
use std::process::{Command, Stdio};

use redfolder_shared::{
    ActorId, ConsentGivenBy, ConsentRecipient, DnacprStatus, Edit, Editor, EndReason, NewPlan,
    PlanDoc, emergency_summary,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// The Python that has the validator's requirements: `REDFOLDER_FHIR_PYTHON`, else the
/// venv `target/fhir-venv` (see tests/fhir/requirements.txt), else `python3`.
fn python() -> String {
    if let Ok(p) = std::env::var("REDFOLDER_FHIR_PYTHON") {
        return p;
    }
    let venv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/fhir-venv/bin/python"
    );
    if std::path::Path::new(venv).exists() {
        venv.to_owned()
    } else {
        "python3".to_owned()
    }
}

/// Validates a bundle with the independent validator; panics with its findings.
pub(crate) fn validate(what: &str, bundle: &Value) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fhir/validate.py");
    let python = python();
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run the FHIR validator with {python}: {e}. Install it: python3 -m venv target/fhir-venv && target/fhir-venv/bin/python -m pip install -r tests/fhir/requirements.txt")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bundle.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(2) => panic!(
            "the FHIR validator is not installed ({python}): {stderr}\nInstall it: python3 -m venv target/fhir-venv && target/fhir-venv/bin/python -m pip install -r tests/fhir/requirements.txt"
        ),
        _ => panic!("{what} is not valid FHIR R4:\n{stderr}\n{bundle:#}"),
    }
}

fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    redfolder_fhir::bundle::resources(bundle, kind)
}

/// The resource a reference points at, by `fullUrl`; panics if it does not resolve.
fn resolve<'a>(bundle: &'a Value, reference: &Value) -> &'a Value {
    let url = reference["reference"].as_str().expect("a reference");
    redfolder_fhir::bundle::resolve(bundle, Some(bundle), url)
        .unwrap_or_else(|| panic!("{url} does not resolve in {bundle:#}"))
}

async fn fhir_get(app: &TestApp, path: &str, token: &str) -> Value {
    let reply = app.get(path, Some(token)).await;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
    assert_eq!(
        reply.headers["content-type"], "application/fhir+json",
        "{reply:?}"
    );
    reply.json()
}

async fn import(app: &TestApp, token: &str, bundle: &Value) -> crate::helpers::Reply {
    app.send(
        reqwest::Method::POST,
        "/api/v1/patients/import",
        Some(token),
        Some(bundle),
    )
    .await
}

#[tokio::test]
async fn demo_plans_and_summaries_export_as_valid_fhir_under_the_usual_rules() {
    let app = spawn_app().await;
    let manager = app.login("cm1.demo").await;
    let crew = app.login("ambulance.demo").await;
    let caseload = app.caseload().await;
    let consenting: Vec<&Value> = caseload
        .iter()
        .filter(|p| p["share_with_emergency_services"] == true)
        .collect();
    let refusing: Vec<&Value> = caseload
        .iter()
        .filter(|p| p["share_with_emergency_services"] == false)
        .collect();
    assert!(!consenting.is_empty() && !refusing.is_empty());

    for p in consenting.iter().take(3).chain(refusing.iter().take(2)) {
        let id = p["id"].as_str().unwrap();
        let bundle = fhir_get(&app, &format!("/api/v1/patients/{id}/fhir"), &manager).await;
        validate(&format!("plan bundle of {id}"), &bundle);
        assert_eq!(bundle["type"], "collection");
        let patient = resources(&bundle, "Patient")[0];
        let nhs = &patient["identifier"][0];
        assert_eq!(nhs["system"], "https://fhir.nhs.uk/Id/nhs-number");
        assert_eq!(nhs["value"], p["nhs_number"]);
        // Modulus 11 checked, never traced on PDS: "02", not "01 verified".
        assert_eq!(
            nhs["extension"][0]["valueCodeableConcept"]["coding"][0]["code"], "02",
            "{patient:#}"
        );
        assert_eq!(
            patient["meta"]["profile"][0],
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
        );
        // Who changed what, the case manager and the registered practice are resources
        // of the bundle, not names only.
        for prov in resources(&bundle, "Provenance") {
            assert_eq!(
                resolve(&bundle, &prov["agent"][0]["who"])["resourceType"],
                "Practitioner"
            );
        }
        let episode = resources(&bundle, "EpisodeOfCare")[0];
        if !episode["careManager"].is_null() {
            assert_eq!(
                resolve(&bundle, &episode["careManager"])["resourceType"],
                "Practitioner"
            );
        }
        if let Some(gp) = patient["generalPractitioner"].get(0) {
            assert_eq!(resolve(&bundle, gp)["resourceType"], "Organization");
        }
        for kind in [
            "EpisodeOfCare",
            "CarePlan",
            "CareTeam",
            "Condition",
            "MedicationStatement",
            "RelatedPerson",
            "Provenance",
        ] {
            assert!(
                !resources(&bundle, kind).is_empty(),
                "no {kind} in {bundle:#}"
            );
        }
        let consent = resources(&bundle, "Consent");
        if p["share_with_emergency_services"] == true {
            assert_eq!(consent[0]["status"], "active");
            assert_eq!(consent[0]["scope"]["coding"][0]["code"], "patient-privacy");
        }
        for v in resources(&bundle, "Observation") {
            if v["category"][0]["coding"][0]["code"] == "vital-signs" {
                let systems: Vec<&Value> = v["code"]["coding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| &c["system"])
                    .collect();
                assert!(
                    systems.contains(&&json!("http://snomed.info/sct"))
                        && systems.contains(&&json!("http://loinc.org")),
                    "{v}"
                );
            }
        }

        let document = fhir_get(
            &app,
            &format!("/api/v1/patients/{id}/fhir/summary"),
            &manager,
        )
        .await;
        validate(&format!("summary document of {id}"), &document);
        assert_eq!(document["type"], "document");
        let composition = &document["entry"][0]["resource"];
        assert_eq!(composition["resourceType"], "Composition");
        let dnacpr_coded = composition["section"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["code"]["coding"][0]["code"] == "450476008");
        assert_eq!(
            dnacpr_coded,
            p["dnacpr"] == "do_not_attempt_cpr",
            "{composition:#}"
        );
    }
    assert!(app.audit_of("plan.fhir_export").await.len() >= 5);
    assert!(app.audit_of("plan.fhir_summary").await.len() >= 5);

    // Emergency services: the same document, only with consent, audited like the JSON.
    let nhs = consenting[0]["nhs_number"].as_str().unwrap();
    let reply = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?format=fhir"),
            Some(&crew),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.headers["content-type"], "application/fhir+json");
    validate("emergency document", &reply.json());
    let nhs = refusing[0]["nhs_number"].as_str().unwrap();
    let reply = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?format=fhir"),
            Some(&crew),
        )
        .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    let reply = app
        .get("/api/v1/emergency/feed?format=fhir&limit=3", Some(&crew))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let items = reply.json()["items"].as_array().cloned().unwrap();
    assert!(!items.is_empty());
    for item in items.iter().filter(|i| i["kind"] == "summary") {
        validate("feed document", &item["summary"]);
        assert_eq!(
            item["summary"]["entry"][0]["resource"]["resourceType"],
            "Composition"
        );
    }

    // Roles without plan access may not export.
    let id = consenting[0]["id"].as_str().unwrap();
    let reply = app
        .get(&format!("/api/v1/patients/{id}/fhir"), Some(&crew))
        .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    let reply = app.get(&format!("/api/v1/patients/{id}/fhir"), None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    let reply = import(
        &app,
        &crew,
        &json!({ "resourceType": "Bundle", "type": "collection" }),
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
}

/// A plan with conflicting DNACPR and allergy entries, withdrawn consent and an ended
/// enrolment, built locally (the mapping is pure) and validated.
#[test]
fn conflicting_withdrawn_and_ended_plans_export_as_valid_fhir() {
    let a_ed = Editor {
        user_id: "u-a".into(),
        user_name: "Nurse A".into(),
    };
    let b_ed = Editor {
        user_id: "u-b".into(),
        user_name: "Dr B".into(),
    };
    let new = NewPlan {
        nhs_number: "9999999468".into(),
        name: "Ada May Example".into(),
        date_of_birth: "1938-02-28".into(),
        address: "1 High Street, Ashbridge".into(),
    };
    let t = 1_790_000_000_000;
    let mut a = PlanDoc::create(ActorId::from(b"aaaa".as_slice()), &new, &a_ed, t).unwrap();
    a.apply_all(
        &[
            Edit::AddCondition {
                id: "c1".into(),
                name: "COPD".into(),
                treatment: "inhalers".into(),
            },
            Edit::AddMedication {
                id: "m1".into(),
                name: "Salbutamol".into(),
                dose: "2 puffs".into(),
                notes: "".into(),
            },
            Edit::AddAnticipatoryMedication {
                id: "m2".into(),
                name: "Morphine sulfate".into(),
                dose: "2.5 mg subcutaneous".into(),
                location: "kitchen cupboard".into(),
                notes: "".into(),
            },
            Edit::RecordConsent {
                recipients: vec![ConsentRecipient::Mdt, ConsentRecipient::Ambulance],
                given_by: ConsentGivenBy::Patient,
                capacity_note: "".into(),
                consent_date: "2026-01-02".into(),
            },
        ],
        &a_ed,
        t + 1000,
    )
    .unwrap();
    let mut b = PlanDoc::load(&a.save(), ActorId::from(b"bbbb".as_slice())).unwrap();
    a.apply(
        &Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        },
        &a_ed,
        t + 2000,
    )
    .unwrap();
    a.apply(&Edit::RecordNoKnownAllergies, &a_ed, t + 2000)
        .unwrap();
    b.apply(
        &Edit::SetDnacpr {
            status: DnacprStatus::ForAttemptedCpr,
        },
        &b_ed,
        t + 3000,
    )
    .unwrap();
    b.apply(
        &Edit::AddAllergy {
            id: "al1".into(),
            substance: "Penicillin".into(),
            reaction: "rash".into(),
            severity: redfolder_shared::AllergySeverity::Moderate,
        },
        &b_ed,
        t + 3000,
    )
    .unwrap();
    a.automerge().merge(b.automerge()).unwrap();
    let plan = a.plan().unwrap();
    assert!(!plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    let bundle = redfolder_fhir::plan_bundle("p-conflict", &plan);
    validate("conflicting plan", &bundle);
    let resus: Vec<&Value> = resources(&bundle, "Observation")
        .into_iter()
        .filter(|o| o["id"].as_str().unwrap().starts_with("resuscitation"))
        .collect();
    assert_eq!(resus.len(), 2, "{bundle:#}");
    assert!(resus.iter().all(|o| o["status"] == "preliminary"));
    let document = redfolder_fhir::summary_document("p-conflict", &emergency_summary(&plan));
    validate("conflicting summary", &document);

    a.apply(
        &Edit::WithdrawConsent {
            date: "2026-02-01".into(),
        },
        &a_ed,
        t + 4000,
    )
    .unwrap();
    a.apply(
        &Edit::EndPlan {
            reason: EndReason::MovedAway,
            date: "2026-02-02".into(),
        },
        &a_ed,
        t + 5000,
    )
    .unwrap_or_else(|e| panic!("ending: {e}"));
    let plan = a.plan().unwrap();
    let bundle = redfolder_fhir::plan_bundle("p-ended", &plan);
    validate("ended plan", &bundle);
    assert_eq!(resources(&bundle, "Consent")[0]["status"], "inactive");
    assert_eq!(resources(&bundle, "EpisodeOfCare")[0]["status"], "finished");
    assert_eq!(resources(&bundle, "CarePlan")[0]["status"], "completed");
    validate(
        "ended summary",
        &redfolder_fhir::summary_document("p-ended", &emergency_summary(&plan)),
    );
}

/// The clinical content a GP import carries, without ids, dates or attributions.
fn clinical(bundle: &Value) -> Value {
    let texts = |kind: &str, f: &dyn Fn(&Value) -> Value| {
        // Resuscitation decisions are not GP content: they map to null and are left out.
        let mut v: Vec<Value> = resources(bundle, kind)
            .into_iter()
            .map(f)
            .filter(|v| !v.is_null())
            .collect();
        v.sort_by_key(|x| x.to_string());
        Value::from(v)
    };
    let patient = resources(bundle, "Patient")[0];
    json!({
        // The practice's reference is a urn of the exporting server's patient id: compare
        // what identifies it.
        "patient": [patient["name"], patient["birthDate"], patient["gender"], patient["address"], patient["telecom"],
            patient["generalPractitioner"].as_array().map(|g| g.iter().map(|r| json!([r["identifier"], r["display"]])).collect::<Vec<_>>())],
        "conditions": texts("Condition", &|r| json!([r["code"], r["note"]])),
        "medications": texts("MedicationStatement", &|r| json!([r["medicationCodeableConcept"], r["dosage"], r["note"], r["category"]])),
        "allergies": texts("AllergyIntolerance", &|r| json!([r["code"], r["reaction"], r["criticality"]])),
        "observations": texts("Observation", &|r| if r["category"][0]["coding"][0]["code"] == "survey" {
            Value::Null
        } else {
            json!([r["code"], r["valueQuantity"], r["component"], r["valueBoolean"], r["valueString"]])
        }),
    })
}

#[tokio::test]
async fn imports_round_trip_merge_and_refuse_whole() {
    let source = spawn_app().await;
    let manager = source.login("cm1.demo").await;
    let caseload = source.caseload().await;
    let id = caseload[0]["id"].as_str().unwrap();
    let mut bundle = fhir_get(&source, &format!("/api/v1/patients/{id}/fhir"), &manager).await;
    // A patient the fresh server's demo data does not have.
    let fresh_nhs = "9434765919";
    for e in bundle["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "Patient" {
            e["resource"]["identifier"][0]["value"] = fresh_nhs.into();
        }
    }

    let target = spawn_app().await;
    let login = target.login_with("cm1.demo", "demo").await;
    let importer = login["token"].as_str().unwrap().to_owned();
    let before = target.caseload().await.len();
    let reply = import(&target, &importer, &bundle).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let created = reply.json();
    let skipped = created["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s.as_str().unwrap().contains("CarePlan")),
        "{created}"
    );
    let new_id = created["patient_id"].as_str().unwrap();
    assert_eq!(target.caseload().await.len(), before + 1);
    let again = fhir_get(
        &target,
        &format!("/api/v1/patients/{new_id}/fhir"),
        &importer,
    )
    .await;
    validate("re-exported plan", &again);
    assert_eq!(clinical(&again), clinical(&bundle));
    // The resuscitation decision: "for CPR" round-trips; the demo's DNACPR lacks where the
    // original form is, so it is reported, never recorded without it.
    let resuscitation = |b: &Value| {
        resources(b, "Observation")
            .into_iter()
            .find(|o| o["id"] == "resuscitation")
            .map(|o| o["valueCodeableConcept"]["coding"][0]["code"].clone())
    };
    match resuscitation(&bundle).as_ref().and_then(Value::as_str) {
        Some("450476008") => {
            assert_eq!(resuscitation(&again), None);
            assert!(
                skipped
                    .iter()
                    .any(|s| s.as_str().unwrap().contains("DNACPR not imported")),
                "{created}"
            );
        }
        source => assert_eq!(
            resuscitation(&again).as_ref().and_then(Value::as_str),
            source
        ),
    }
    assert_eq!(resources(&again, "CarePlan")[0]["status"], "draft");
    assert_eq!(
        resources(&again, "Patient")[0]["identifier"][0]["value"],
        fresh_nhs
    );

    // The same bundle again changes nothing; one more condition is one ordinary change,
    // attributed to the importing user.
    let reply = import(&target, &importer, &bundle).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["changes"], 0);
    bundle["entry"].as_array_mut().unwrap().push(json!({
        "fullUrl": "urn:uuid:2b0e7a4e-1d0c-4b8e-9a53-6f8d2f0b9c11",
        "resource": {
            "resourceType": "Condition",
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "84114007", "display": "Heart failure" }] },
            "subject": { "reference": "Patient/patient" },
        },
    }));
    let reply = import(&target, &importer, &bundle).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["changes"], 1, "{reply:?}");
    let merged = fhir_get(
        &target,
        &format!("/api/v1/patients/{new_id}/fhir"),
        &importer,
    )
    .await;
    let heart = resources(&merged, "Condition")
        .into_iter()
        .find(|c| c["code"]["text"] == "Heart failure")
        .cloned()
        .expect("the imported condition");
    assert_eq!(
        heart["recorder"]["display"], login["user"]["name"],
        "{heart:#}"
    );
    assert_eq!(
        heart["recorder"]["identifier"]["value"],
        login["user"]["id"]
    );
    assert!(!target.audit_of("plan.fhir_import").await.is_empty());

    // Refused whole: an invalid NHS number and a condition without a name; nothing stored.
    let bad = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            { "resource": { "resourceType": "Patient", "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765918" }],
                "name": [{ "family": "Example", "given": ["Bo"] }], "birthDate": "1940-01-01", "address": [{ "text": "2 Low Road" }] } },
            { "resource": { "resourceType": "Condition", "code": { "coding": [{ "code": "12345" }] }, "subject": { "reference": "Patient/x" } } },
            { "resource": { "resourceType": "Encounter", "status": "finished" } },
        ],
    });
    let count = target.caseload().await.len();
    let reply = import(&target, &importer, &bad).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    let outcome = reply.json();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let issues = outcome["issue"].as_array().unwrap();
    assert_eq!(issues.len(), 2, "{outcome:#}");
    assert!(
        issues[0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("NHS number"),
        "{outcome:#}"
    );
    assert_eq!(target.caseload().await.len(), count);
}

/// Through the server: two tablets set DNACPR differently at the same time, then the plan
/// ends and consent is withdrawn; every export stays valid and says so.
#[tokio::test]
async fn a_served_plan_with_a_conflict_then_ended_exports_as_valid_fhir() {
    use crate::client::SyncClient;

    let app = spawn_app().await;
    let token = app.login("cm1.demo").await;
    let caseload = app.caseload().await;
    let p = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap();
    let id = p["id"].as_str().unwrap().to_owned();
    let mut a = SyncClient::connect(&app.ws_url(), &token, "fhir-tablet-a").await;
    a.sync_caseload().await;
    let mut b = SyncClient::connect(&app.ws_url(), &token, "fhir-tablet-b").await;
    b.sync_caseload().await;
    a.apply(
        &id,
        &Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        },
    );
    b.apply(
        &id,
        &Edit::SetDnacpr {
            status: DnacprStatus::ForAttemptedCpr,
        },
    );
    a.wait_acked(&id).await;
    b.wait_acked(&id).await;

    let bundle = fhir_get(&app, &format!("/api/v1/patients/{id}/fhir"), &token).await;
    validate("served conflicting plan", &bundle);
    let preliminary = resources(&bundle, "Observation")
        .into_iter()
        .filter(|o| o["status"] == "preliminary")
        .count();
    assert_eq!(preliminary, 2, "{bundle:#}");
    let document = fhir_get(&app, &format!("/api/v1/patients/{id}/fhir/summary"), &token).await;
    validate("served conflicting summary", &document);

    b.apply(
        &id,
        &Edit::WithdrawConsent {
            date: "2026-01-05".into(),
        },
    );
    b.apply(
        &id,
        &Edit::EndPlan {
            reason: EndReason::MovedAway,
            date: "2026-01-06".into(),
        },
    );
    b.wait_acked(&id).await;
    let bundle = fhir_get(&app, &format!("/api/v1/patients/{id}/fhir"), &token).await;
    validate("served ended plan", &bundle);
    assert_eq!(resources(&bundle, "Consent")[0]["status"], "inactive");
    assert_eq!(resources(&bundle, "EpisodeOfCare")[0]["status"], "finished");
    // Withdrawal stops emergency sharing in FHIR as in JSON.
    let crew = app.login("ambulance.demo").await;
    let nhs = p["nhs_number"].as_str().unwrap();
    let reply = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?format=fhir"),
            Some(&crew),
        )
        .await;
    assert_eq!(reply.status, 404, "{reply:?}");
}

/// A GP record's DNACPR, with what a crew needs to act on it, starts a new plan's
/// resuscitation decision; a later bundle that says otherwise changes nothing and says so.
#[tokio::test]
async fn a_gp_resuscitation_decision_is_imported_but_never_overrides_the_plan() {
    let app = spawn_app().await;
    let token = app.login("cm1.demo").await;
    let patient = json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919" }],
        "name": [{ "use": "official", "family": "Example", "given": ["Ada"] }],
        "birthDate": "1938-02-28",
        "address": [{ "use": "home", "text": "1 High Street, Ashbridge" }],
        "generalPractitioner": [{ "reference": "urn:uuid:6f1c2a9e-3b7d-4c55-9e2a-0d4b8f7a1c23" }],
    });
    let practice = json!({
        "resourceType": "Organization",
        "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001" }],
        "name": "Ashbridge Surgery",
    });
    let decision = |code: &str, display: &str| {
        json!({
            "resourceType": "Observation",
            "status": "final",
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": code, "display": display }] },
            "effectiveDateTime": "2026-01-10",
            "performer": [{ "display": "Dr Decider" }],
            "note": [{ "text": "Original: red folder, kitchen drawer" }],
        })
    };
    let bundle = |decision: Value| {
        json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                { "fullUrl": "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001", "resource": patient },
                { "fullUrl": "urn:uuid:6f1c2a9e-3b7d-4c55-9e2a-0d4b8f7a1c23", "resource": practice },
                { "fullUrl": "urn:uuid:0a1b2c3d-0000-4000-8000-000000000002", "resource": decision },
            ],
        })
    };
    let reply = import(
        &app,
        &token,
        &bundle(decision(
            "450476008",
            "Not for attempted cardiopulmonary resuscitation",
        )),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.json()["patient_id"].as_str().unwrap().to_owned();
    let exported = fhir_get(&app, &format!("/api/v1/patients/{id}/fhir"), &token).await;
    validate("imported DNACPR plan", &exported);
    let observation = resources(&exported, "Observation")
        .into_iter()
        .find(|o| o["id"] == "resuscitation")
        .cloned()
        .unwrap_or_else(|| panic!("no resuscitation in {exported:#}"));
    assert_eq!(
        observation["valueCodeableConcept"]["coding"][0]["code"],
        "450476008"
    );
    assert_eq!(observation["effectiveDateTime"], "2026-01-10");
    let patient = resources(&exported, "Patient")[0];
    let gp = resolve(&exported, &patient["generalPractitioner"][0]);
    assert_eq!(gp["identifier"][0]["value"], "A81001");
    assert_eq!(gp["name"], "Ashbridge Surgery");
    let document = fhir_get(&app, &format!("/api/v1/patients/{id}/fhir/summary"), &token).await;
    validate("imported DNACPR summary", &document);

    let reply = import(
        &app,
        &token,
        &bundle(decision(
            "304252001",
            "For attempted cardiopulmonary resuscitation",
        )),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let merged = reply.json();
    assert_eq!(merged["changes"], 0, "{merged}");
    assert!(
        merged["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("care team must confirm")),
        "{merged}"
    );
    let again = fhir_get(&app, &format!("/api/v1/patients/{id}/fhir"), &token).await;
    let still = resources(&again, "Observation")
        .into_iter()
        .find(|o| o["id"] == "resuscitation")
        .unwrap();
    assert_eq!(
        still["valueCodeableConcept"]["coding"][0]["code"],
        "450476008"
    );
}
