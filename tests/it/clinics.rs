//! Virtual clinics as a workflow (issue 16, seed 004), through the API: scheduling with a
//! specialty, choosing patients who consent, pre-clinic data typed in and imported from
//! FHIR Observations, the specialist's page and outcomes on the clinic day only, consent
//! withdrawn, education sessions, closing, letters and metrics, with every refusal.

use redfolder_shared::{Date, Edit};
use serde_json::{Value, json};

use crate::client::now_ms;
use crate::device::{Device, Outcome};
use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};
use crate::scheme::{practice, send};

#[tokio::test]
async fn a_virtual_clinic_from_scheduling_to_letters_and_metrics() {
    clinic_workflow(&spawn_app().await).await;
}

#[tokio::test]
async fn a_virtual_clinic_from_scheduling_to_letters_and_metrics_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    clinic_workflow(&app).await;
    drop_database(&name).await;
}

async fn set_consent(device: &mut Device, patient: &str, share: bool) {
    assert_eq!(device.open(patient).await, Outcome::Synced);
    let edit = Edit::SetConsent {
        share_with_mdt: share,
        share_with_emergency_services: false,
    };
    assert_eq!(device.write(patient, &edit).await, Outcome::Acked);
}

fn day(offset: i64) -> String {
    Date::from_unix_ms(now_ms() + offset * 86_400_000).to_string()
}

fn observation(code: (&str, &str), value: Value, nhs: &str, when: &str) -> Value {
    let mut o = json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": code.0, "code": code.1 }] },
        "subject": { "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs } },
        "effectiveDateTime": when,
    });
    for (k, v) in value.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

const LOINC: &str = "http://loinc.org";

async fn clinic_workflow(app: &TestApp) {
    let (cm, patients) = practice(app, 3).await;
    let (p0, p1, p2) = (&patients[0], &patients[1], &patients[2]);
    app.create_user(
        "diabetes.consultant",
        "Y99904",
        &["mdt_member"],
        "consultant-password",
    )
    .await;
    let specialist = app
        .login_with("diabetes.consultant", "consultant-password")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_mdt = app.login("mdt.demo").await;
    let other_cm = app.login("cm1.demo").await;
    let mut device = Device::connect(&app.ws_url(), &cm, "clinic-consent").await;
    device.hello().await.unwrap();
    set_consent(&mut device, &p0.0, true).await;
    set_consent(&mut device, &p1.0, true).await;

    // Scheduling: a case manager only; a known specialty; consent required.
    let schedule = |patients: Vec<&str>, specialty: &str| json!({ "specialist": "diabetes.consultant", "date": day(0), "specialty": specialty, "patient_ids": patients });
    let (status, _) = send(
        app,
        "POST",
        "/api/v1/scheme/virtual-clinics",
        &specialist,
        Some(schedule(vec![&p0.0], "diabetes")),
    )
    .await;
    assert_eq!(status, 403, "a specialist schedules a clinic");
    let (status, body) = send(
        app,
        "POST",
        "/api/v1/scheme/virtual-clinics",
        &cm,
        Some(schedule(vec![&p0.0], "dermatology")),
    )
    .await;
    assert_eq!(status, 400, "an unknown specialty: {body}");
    let (status, body) = send(
        app,
        "POST",
        "/api/v1/scheme/virtual-clinics",
        &cm,
        Some(schedule(vec![&p0.0, &p2.0], "diabetes")),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("has not consented"),
        "{body}"
    );
    let (status, clinic) = send(
        app,
        "POST",
        "/api/v1/scheme/virtual-clinics",
        &cm,
        Some(schedule(vec![&p0.0], "diabetes")),
    )
    .await;
    assert_eq!(status, 201, "{clinic}");
    let cid = clinic["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/scheme/virtual-clinics/{cid}");

    // A clinic tomorrow: the practice sees it scheduled; its specialist reads nothing yet.
    let tomorrow = json!({ "specialist": "diabetes.consultant", "date": day(1), "specialty": "diabetes", "patient_ids": [p0.0] });
    let (status, later) = send(
        app,
        "POST",
        "/api/v1/scheme/virtual-clinics",
        &cm,
        Some(tomorrow),
    )
    .await;
    assert_eq!(status, 201, "{later}");
    let later_id = later["id"].as_str().unwrap();
    let (status, page) = send(
        app,
        "GET",
        &format!("/api/v1/scheme/virtual-clinics/{later_id}"),
        &cm,
        None,
    )
    .await;
    assert_eq!(
        (status, page["state"].as_str()),
        (200, Some("scheduled")),
        "{page}"
    );
    let (status, _) = send(
        app,
        "GET",
        &format!("/api/v1/scheme/virtual-clinics/{later_id}"),
        &specialist,
        None,
    )
    .await;
    assert_eq!(status, 404, "the specialist reads a clinic before its day");
    let (status, _) = send(
        app,
        "PUT",
        &format!(
            "/api/v1/scheme/virtual-clinics/{later_id}/patients/{}/outcome",
            p0.0
        ),
        &specialist,
        Some(json!({ "outcome": "keep_in_practice", "plan": "x" })),
    )
    .await;
    assert_eq!(status, 404, "an outcome before the clinic's day");

    // Adding patients: the practice only, with consent, once.
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/patients"),
        &other_cm,
        Some(json!({ "patient_id": p1.0 })),
    )
    .await;
    assert_eq!(status, 404, "another practice edits the clinic");
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/patients"),
        &specialist,
        Some(json!({ "patient_id": p1.0 })),
    )
    .await;
    assert_eq!(status, 403, "the specialist edits the clinic");
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/patients"),
        &cm,
        Some(json!({ "patient_id": p2.0 })),
    )
    .await;
    assert_eq!(status, 400, "a patient without consent is added");
    let (status, body) = send(
        app,
        "POST",
        &format!("{base}/patients"),
        &cm,
        Some(json!({ "patient_id": p1.0 })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/patients"),
        &cm,
        Some(json!({ "patient_id": p1.0 })),
    )
    .await;
    assert_eq!(status, 409, "a patient listed twice");

    // Typed pre-clinic data: checked, all or nothing.
    let typed = |measure: &str, value: &str, on: &str| json!({ "readings": [{ "measure": measure, "value": value, "observed_on": on }] });
    let readings = format!("{base}/patients/{}/readings", p0.0);
    for (body, why) in [
        (typed("hba1c", "7.5%", &day(-3)), "not a number"),
        (typed("hba1c", "400", &day(-3)), "out of range"),
        (
            typed("blood_pressure", "86/142", &day(-3)),
            "diastolic over systolic",
        ),
        (typed("pulse", "70", &day(-3)), "not a pre-clinic measure"),
        (typed("bmi", "31.2", &day(2)), "a future date"),
        (typed("bmi", "31.2", "03/10/2026"), "not a date"),
        (json!({ "readings": [] }), "no readings"),
    ] {
        let (status, answer) = send(app, "POST", &readings, &cm, Some(body)).await;
        assert_eq!(status, 400, "{why}: {answer}");
    }
    let (status, _) = send(
        app,
        "POST",
        &readings,
        &specialist,
        Some(typed("bmi", "31.2", &day(-3))),
    )
    .await;
    assert_eq!(status, 403, "the specialist types pre-clinic data");
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/patients/{}/readings", p2.0),
        &cm,
        Some(typed("bmi", "31.2", &day(-3))),
    )
    .await;
    assert_eq!(status, 404, "data for a patient not on the list");
    let (status, body) = send(
        app,
        "POST",
        &readings,
        &cm,
        Some(json!({ "readings": [
        { "measure": "hba1c", "value": "58", "observed_on": day(-3) },
        { "measure": "blood_pressure", "value": "150/90", "observed_on": day(-90) },
        { "measure": "blood_pressure", "value": "142/86", "observed_on": day(-3) },
        { "measure": "foot_screening", "value": "low risk", "observed_on": day(-120) },
    ] })),
    )
    .await;
    assert_eq!((status, body["added"].as_u64()), (201, Some(4)), "{body}");

    // Imported pre-clinic data: a GP system's Observations for the right patient.
    let fhir = format!("{base}/patients/{}/fhir", p1.0);
    let bundle = |nhs: &str, hba1c_unit: &str| {
        json!({ "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": observation((LOINC, "59261-8"), json!({ "valueQuantity": { "value": 71, "code": hba1c_unit } }), nhs, &day(-5)) },
        { "resource": observation((LOINC, "33914-3"), json!({ "valueQuantity": { "value": 48, "code": "mL/min/{1.73_m2}" } }), nhs, &day(-5)) },
        { "resource": observation((LOINC, "8867-4"), json!({ "valueQuantity": { "value": 72, "code": "/min" } }), nhs, &day(-5)) },
    ] })
    };
    let (status, body) = send(app, "POST", &fhir, &cm, Some(bundle(&p0.1, "mmol/mol"))).await;
    assert_eq!(status, 400, "another patient's results: {body}");
    let (status, body) = send(app, "POST", &fhir, &cm, Some(bundle(&p1.1, "%"))).await;
    assert_eq!(status, 400, "a wrong unit: {body}");
    assert!(body["message"].as_str().unwrap().contains("unit"), "{body}");
    let (status, body) = send(
        app,
        "POST",
        &fhir,
        &cm,
        Some(json!({ "resourceType": "Patient" })),
    )
    .await;
    assert_eq!(status, 400, "not Observations: {body}");
    let (status, body) = send(app, "POST", &fhir, &cm, Some(bundle(&p1.1, "mmol/mol"))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["added"], 2, "{body}");
    assert_eq!(
        body["skipped"].as_array().unwrap().len(),
        1,
        "the pulse is not skipped: {body}"
    );

    // The practice's page: both patients, their data, diabetes's measures.
    let (status, page) = send(app, "GET", &base, &cm, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["viewer"], "practice");
    assert_eq!(page["specialty"], "diabetes");
    assert_eq!(page["state"], "open");
    assert_eq!(page["measures"].as_array().unwrap().len(), 9, "{page}");
    let listed: Vec<&str> = page["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["patient_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    let first = page["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["patient_id"] == p0.0.as_str())
        .unwrap();
    let bp: Vec<&str> = first["readings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["measure"] == "blood_pressure")
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        bp,
        ["150/90", "142/86"],
        "the blood pressure trend, oldest first"
    );
    let (status, _) = send(app, "GET", &base, &other_cm, None).await;
    assert_eq!(status, 404, "another practice reads the clinic");

    // The specialist: their clinics, the page while open; nobody else.
    let (status, mine) = send(
        app,
        "GET",
        "/api/v1/scheme/virtual-clinics",
        &specialist,
        None,
    )
    .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["clinics"].as_array().unwrap().len(), 2, "{mine}");
    assert!(
        !mine.to_string().contains(p0.1.as_str()),
        "the clinic list names a patient"
    );
    let (status, _) = send(
        app,
        "GET",
        "/api/v1/scheme/virtual-clinics",
        &app.login("commissioner.demo").await,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, page) = send(app, "GET", &base, &specialist, None).await;
    assert_eq!(
        (status, page["viewer"].as_str()),
        (200, Some("specialist")),
        "{page}"
    );
    assert_eq!(page["patients"].as_array().unwrap().len(), 2);
    let (status, _) = send(app, "GET", &base, &other_mdt, None).await;
    assert_eq!(status, 404, "another MDT member reads the clinic");

    // Letters wait for an outcome.
    let letter =
        |pid: &str, audience: &str| format!("{base}/patients/{pid}/letter?audience={audience}");
    let (status, _) = send(app, "GET", &letter(&p0.0, "gp"), &cm, None).await;
    assert_eq!(status, 409, "a letter before the outcome");

    // Outcomes: the specialist only, checked.
    let outcome = |pid: &str| format!("{base}/patients/{pid}/outcome");
    let keep = json!({ "outcome": "keep_in_practice", "plan": "Start gliclazide 40 mg; recheck HbA1c in 3 months.", "follow_up_on": day(90) });
    let (status, _) = send(app, "PUT", &outcome(&p0.0), &cm, Some(keep.clone())).await;
    assert_eq!(status, 404, "the case manager records an outcome");
    let (status, _) = send(app, "PUT", &outcome(&p0.0), &other_mdt, Some(keep.clone())).await;
    assert_eq!(status, 404, "another MDT member records an outcome");
    for (body, why) in [
        (
            json!({ "outcome": "keep_in_practice", "plan": "  " }),
            "no plan",
        ),
        (
            json!({ "outcome": "discharge", "plan": "x" }),
            "an unknown outcome",
        ),
        (
            json!({ "outcome": "keep_in_practice", "plan": "x", "follow_up_on": day(0) }),
            "follow-up on the clinic day",
        ),
        (
            json!({ "outcome": "keep_in_practice", "plan": "x", "follow_up_on": day(800) }),
            "follow-up too far ahead",
        ),
    ] {
        let (status, answer) = send(app, "PUT", &outcome(&p0.0), &specialist, Some(body)).await;
        assert_eq!(status, 400, "{why}: {answer}");
    }
    let (status, recorded) = send(app, "PUT", &outcome(&p0.0), &specialist, Some(keep)).await;
    assert_eq!(status, 200, "{recorded}");
    assert_eq!(recorded["follow_up_on"], day(90).as_str());
    let (status, _) = send(
        app,
        "PUT",
        &outcome(&p2.0),
        &specialist,
        Some(json!({ "outcome": "refer_to_hub", "plan": "x" })),
    )
    .await;
    assert_eq!(status, 404, "an outcome for a patient not on the list");
    let hub = json!({ "outcome": "refer_to_hub", "plan": "Type 1 with recurrent hypoglycaemia: pump assessment." });
    let (status, _) = send(app, "PUT", &outcome(&p1.0), &specialist, Some(hub)).await;
    assert_eq!(status, 200);

    // Education sessions: by the specialist while open, checked.
    let education = format!("{base}/education");
    let (status, _) = send(
        app,
        "POST",
        &education,
        &specialist,
        Some(json!({ "topic": " ", "attendees": "Dr A" })),
    )
    .await;
    assert_eq!(status, 400, "no topic");
    let (status, _) = send(
        app,
        "POST",
        &education,
        &other_mdt,
        Some(json!({ "topic": "Insulin", "attendees": "Dr A" })),
    )
    .await;
    assert_eq!(status, 404, "another MDT member logs education");
    let (status, body) = send(app, "POST", &education, &specialist,
        Some(json!({ "topic": "Starting GLP-1 agonists", "attendees": "Dr Patel (GP), Nurse Reeves" }))).await;
    assert_eq!(status, 201, "{body}");

    // Consent withdrawn ends the specialist's access to that patient at once.
    set_consent(&mut device, &p1.0, false).await;
    let (_, page) = send(app, "GET", &base, &specialist, None).await;
    let shown: Vec<&str> = page["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["patient_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        shown,
        [p0.0.as_str()],
        "a patient without consent is shown to the specialist"
    );
    let (status, _) = send(
        app,
        "PUT",
        &outcome(&p1.0),
        &specialist,
        Some(json!({ "outcome": "locality_clinic", "plan": "x" })),
    )
    .await;
    assert_eq!(status, 404, "an outcome after consent was withdrawn");
    let (status, _) = send(
        app,
        "GET",
        &format!("{base}/plans/{}", p1.0),
        &specialist,
        None,
    )
    .await;
    assert_eq!(status, 404, "the plan after consent was withdrawn");

    // Closing ends the specialist's access and the practice's changes.
    let (status, _) = send(app, "POST", &format!("{base}/close"), &cm, None).await;
    assert_eq!(status, 200);
    for (method, path, body) in [
        ("GET", base.clone(), None),
        (
            "PUT",
            outcome(&p0.0),
            Some(json!({ "outcome": "locality_clinic", "plan": "x" })),
        ),
        (
            "POST",
            education.clone(),
            Some(json!({ "topic": "Late", "attendees": "Dr A" })),
        ),
        ("GET", letter(&p0.0, "gp"), None),
    ] {
        let (status, _) = send(app, method, &path, &specialist, body).await;
        assert_eq!(status, 404, "the specialist after closing: {method} {path}");
    }
    let (status, _) = send(
        app,
        "POST",
        &readings,
        &cm,
        Some(typed("bmi", "31.2", &day(-3))),
    )
    .await;
    assert_eq!(status, 409, "pre-clinic data after closing");
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/patients"),
        &cm,
        Some(json!({ "patient_id": p0.0 })),
    )
    .await;
    assert_eq!(status, 409, "a patient added after closing");
    let (_, page) = send(app, "GET", &base, &cm, None).await;
    assert_eq!(page["state"], "closed");
    assert_eq!(page["education"].as_array().unwrap().len(), 1, "{page}");

    // Letters: to the GP and to the patient, for the practice, audited.
    let (status, gp) = send(app, "GET", &letter(&p0.0, "gp"), &cm, None).await;
    assert_eq!(status, 200, "{gp}");
    let text = gp["paragraphs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("Scheme Patient 0"), "{text}");
    assert!(text.contains("continue care in the practice"), "{text}");
    assert!(text.contains("gliclazide"), "{text}");
    assert!(text.contains(&format!("by {}", day(90))), "{text}");
    let hba1c = gp["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "HbA1c")
        .unwrap();
    assert_eq!(hba1c["value"], "58 mmol/mol");
    let bp = gp["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "Blood pressure")
        .unwrap();
    assert_eq!(bp["value"], "142/86 mmHg", "the latest blood pressure");
    let (status, patient) = send(app, "GET", &letter(&p0.0, "patient"), &cm, None).await;
    assert_eq!(status, 200);
    assert_eq!(patient["to"], "Scheme Patient 0");
    assert!(
        patient["subject"].as_str().unwrap().contains("diabetes"),
        "{patient}"
    );
    assert!(
        !patient.to_string().contains("NHS number"),
        "the patient's letter reads like a form: {patient}"
    );
    let (status, _) = send(app, "GET", &letter(&p0.0, "cousin"), &cm, None).await;
    assert_eq!(status, 400);
    let (status, _) = send(app, "GET", &letter(&p0.0, "gp"), &other_cm, None).await;
    assert_eq!(status, 404, "another practice reads a letter");
    let audited = app.audit_of("scheme.virtual_clinic").await;
    for detail in ["letter to gp", "letter to patient"] {
        assert!(
            audited
                .iter()
                .any(|e| e.detail == detail && e.patient_id.as_deref() == Some(p0.0.as_str())),
            "{detail} is not audited"
        );
    }
    assert!(
        audited
            .iter()
            .any(|e| e.outcome == "outcome" && e.patient_id.as_deref() == Some(p1.0.as_str()))
    );
    assert!(audited.iter().any(|e| e.outcome == "education"));
    assert!(audited.iter().any(|e| e.outcome == "ok"
        && e.detail == "clinic page"
        && e.patient_id.as_deref() == Some(p1.0.as_str())));

    // Metrics: the practice's own, every practice's for a commissioner, nobody else's.
    let (status, m) = send(app, "GET", "/api/v1/scheme/clinic-metrics", &cm, None).await;
    assert_eq!(status, 200, "{m}");
    let rows = m["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{m}");
    let row = &rows[0];
    assert_eq!(
        (
            &row["practice_code"],
            &row["specialty"],
            &row["clinics"],
            &row["patients_discussed"],
            &row["referrals_avoided"],
            &row["new_referrals"],
            &row["not_discussed"],
            &row["education_sessions"]
        ),
        (
            &json!("Y90001"),
            &json!("diabetes"),
            &json!(1),
            &json!(2),
            &json!(1),
            &json!(1),
            &json!(0),
            &json!(1)
        ),
        "{m}"
    );
    let (status, m) = send(
        app,
        "GET",
        &format!(
            "/api/v1/scheme/clinic-metrics?from={}&to={}",
            day(-1),
            day(1)
        ),
        &cm,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        m["totals"]["clinics"], 2,
        "tomorrow's clinic is in this period: {m}"
    );
    assert_eq!(m["totals"]["not_discussed"], 1, "{m}");
    let (status, all) = send(
        app,
        "GET",
        "/api/v1/scheme/clinic-metrics",
        &app.login("commissioner.demo").await,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        all["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["practice_code"] == "Y90001"),
        "{all}"
    );
    assert!(
        !all.to_string().contains(&p0.1),
        "the metrics name a patient"
    );
    let (status, _) = send(
        app,
        "GET",
        "/api/v1/scheme/clinic-metrics",
        &specialist,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send(
        app,
        "GET",
        &format!(
            "/api/v1/scheme/clinic-metrics?from={}&to={}",
            day(1),
            day(-1)
        ),
        &cm,
        None,
    )
    .await;
    assert_eq!(status, 400, "from after to");
}
