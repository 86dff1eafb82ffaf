//! Referrals and FHIR: the API document's referral routes, a GP system's `ServiceRequest`
//! made into a referral with its documents, and a referral written back out as a
//! `ServiceRequest` that the FHIR validator accepts.

use reqwest::Method;
use serde_json::json;

use super::{NOT_ON_CASELOAD, call};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_api_document_lists_the_referral_routes() {
    let app = spawn_app().await;
    let r = app.get("/api/openapi.json", None).await;
    let doc = r.json();
    for (path, method) in [
        ("/api/v1/referrals", "post"),
        ("/api/v1/referrals/queue", "get"),
        ("/api/v1/referrals/{id}/decision", "post"),
        ("/api/v1/referrals/{id}/letter", "get"),
        ("/api/v1/referrals/report", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            op["responses"]["401"].is_object(),
            "{method} {path} has no 401"
        );
    }
    let decision = &doc["paths"]["/api/v1/referrals/{id}/decision"]["post"]["responses"];
    for status in ["400", "403", "404", "409"] {
        assert!(decision[status].is_object(), "the decision has no {status}");
    }
    let report = &doc["paths"]["/api/v1/referrals/report"]["get"]["parameters"];
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] == "query"),
        "{report}"
    );
    let queue = &doc["paths"]["/api/v1/referrals/queue"]["get"];
    assert_eq!(queue["parameters"][0]["in"], "query");
    assert_eq!(queue["parameters"][0]["name"], "specialty");
}

#[tokio::test]
async fn a_gp_systems_service_request_becomes_a_referral() {
    let app = spawn_app().await;
    let cm = app.login("cm1.demo").await;
    let request = |priority: &str| {
        json!({
            "resourceType": "ServiceRequest",
            "contained": [{
                "resourceType": "Patient", "id": "p",
                "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": NOT_ON_CASELOAD }],
                "name": [{ "given": ["Fenella"], "family": "Fhir" }],
                "birthDate": "1950-05-05",
            }],
            "status": "active",
            "intent": "order",
            "priority": priority,
            "subject": { "reference": "#p" },
            "performerType": { "coding": [{ "system": "http://snomed.info/sct", "code": "394584008", "display": "Gastroenterology" }] },
            "reasonCode": [{ "text": "Iron deficiency anaemia" }],
            "note": [{ "text": "Upper and lower GI investigation?" }, { "text": "Hb 98, ferritin 8." }],
        })
    };
    let r = call(
        &app,
        Method::POST,
        "/referrals/fhir",
        &cm,
        Some(request("urgent")),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("bypass peer review"),
        "{r:?}"
    );
    let r = call(
        &app,
        Method::POST,
        "/referrals/fhir",
        &cm,
        Some(json!({ "resourceType": "Patient" })),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let mdt = app.login("mdt.demo").await;
    let r = call(
        &app,
        Method::POST,
        "/referrals/fhir",
        &mdt,
        Some(request("routine")),
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");

    let r = call(
        &app,
        Method::POST,
        "/referrals/fhir",
        &cm,
        Some(request("routine")),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let made = r.json();
    assert_eq!(made["patient_name"], "Fenella Fhir");
    assert_eq!(made["nhs_number"], NOT_ON_CASELOAD);
    assert_eq!(made["specialty"], "Gastroenterology");
    assert_eq!(made["condition"], "Iron deficiency anaemia");
    let id = made["id"].as_str().unwrap();
    let r = call(&app, Method::GET, &format!("/referrals/{id}"), &cm, None).await;
    assert_eq!(r.json()["relevant_history"], "Hb 98, ferritin 8.");
    let created = app.audit_of("referral.create").await;
    assert!(
        created
            .iter()
            .any(|e| e.outcome == "refused" && e.detail.starts_with("FHIR")),
        "{created:?}"
    );
}

/// A GP system's referral in a Bundle: the request, its patient, a letter as a
/// `DocumentReference` in the Bundle and results as a contained `Binary`.
fn referral_with_documents(letter: &[u8], results: &[u8]) -> serde_json::Value {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    json!({ "resourceType": "Bundle", "type": "message", "entry": [
        { "fullUrl": "urn:uuid:6f0c6a52-0000-4000-8000-000000000001", "resource": {
            "resourceType": "Patient",
            "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": NOT_ON_CASELOAD }],
            "name": [{ "text": "Dora Document" }],
            "birthDate": "1944-04-04",
        } },
        { "fullUrl": "urn:uuid:6f0c6a52-0000-4000-8000-000000000002", "resource": {
            "resourceType": "DocumentReference", "status": "current",
            "content": [{ "attachment": { "contentType": "application/pdf", "title": "GP letter", "data": b64(letter) } }],
        } },
        { "fullUrl": "urn:uuid:6f0c6a52-0000-4000-8000-000000000003", "resource": {
            "resourceType": "ServiceRequest",
            "contained": [{ "resourceType": "Binary", "id": "ecg", "contentType": "text/plain", "data": b64(results) }],
            "status": "active", "intent": "order", "priority": "routine",
            "subject": { "reference": "urn:uuid:6f0c6a52-0000-4000-8000-000000000001" },
            "performerType": { "text": "Cardiology" },
            "reasonCode": [{ "text": "Palpitations" }],
            "note": [{ "text": "Is a 7-day monitor needed?" }],
            "supportingInfo": [
                { "reference": "urn:uuid:6f0c6a52-0000-4000-8000-000000000002" },
                { "reference": "#ecg", "display": "ECG report" },
                { "display": "On bisoprolol 2.5 mg" },
            ],
        } },
    ] })
}

#[tokio::test]
async fn a_referrals_documents_come_with_it_and_it_goes_back_out_as_fhir() {
    let app = spawn_app().await;
    let cm = app.login("cm1.demo").await;
    let reviewer = app.login("reviewer.demo").await;
    let letter = b"%PDF-1.4 Dear colleague, please see Dora.";
    let results = b"ECG: sinus rhythm, 78/min, occasional ectopics.";

    // A document named only by a link cannot be kept: refused, and nothing is made.
    let before = call(&app, Method::GET, "/referrals", &cm, None)
        .await
        .json()["referrals"]
        .as_array()
        .unwrap()
        .len();
    let mut linked = referral_with_documents(letter, results);
    linked["entry"][1]["resource"]["content"][0]["attachment"] =
        json!({ "contentType": "application/pdf", "url": "https://gp.example/letter.pdf" });
    let r = call(&app, Method::POST, "/referrals/fhir", &cm, Some(linked)).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("no inline data"),
        "{r:?}"
    );
    let mut broken = referral_with_documents(letter, results);
    broken["entry"][2]["resource"]["supportingInfo"][1]["reference"] = "#nothing".into();
    let r = call(&app, Method::POST, "/referrals/fhir", &cm, Some(broken)).await;
    assert_eq!(r.status, 400, "{r:?}");
    let after = call(&app, Method::GET, "/referrals", &cm, None)
        .await
        .json()["referrals"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused import makes nothing");

    let r = call(
        &app,
        Method::POST,
        "/referrals/fhir",
        &cm,
        Some(referral_with_documents(letter, results)),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let detail = call(&app, Method::GET, &format!("/referrals/{id}"), &cm, None)
        .await
        .json();
    assert_eq!(detail["relevant_history"], "On bisoprolol 2.5 mg");
    assert_eq!(
        detail["attachments"],
        json!([
            { "seq": 1, "title": "GP letter", "content_type": "application/pdf", "size": letter.len() },
            { "seq": 2, "title": "ECG report", "content_type": "text/plain", "size": results.len() },
        ])
    );

    // The documents, as sent, to the practice and the reviewer; never rendered as a page.
    for token in [&cm, &reviewer] {
        let r = call(
            &app,
            Method::GET,
            &format!("/referrals/{id}/attachments/1"),
            token,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body.as_bytes(), letter);
        assert_eq!(r.headers["content-type"], "application/pdf");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert!(
            r.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("sandbox")
        );
        assert!(
            r.headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
    }
    let r = call(
        &app,
        Method::GET,
        &format!("/referrals/{id}/attachments/2"),
        &cm,
        None,
    )
    .await;
    assert_eq!(r.body.as_bytes(), results);
    let r = call(
        &app,
        Method::GET,
        &format!("/referrals/{id}/attachments/3"),
        &cm,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{r:?}");
    let stranger = {
        app.create_user(
            "cm.stranger",
            "Y99903",
            &["case_manager"],
            "referral-password",
        )
        .await;
        app.login_with("cm.stranger", "referral-password").await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for path in [
        format!("/referrals/{id}/attachments/1"),
        format!("/referrals/{id}/fhir"),
    ] {
        let r = call(&app, Method::GET, &path, &stranger, None).await;
        assert_eq!(r.status, 404, "{path}: {r:?}");
    }

    // Returned with advice, it goes back out as a revoked request with the advice.
    let r = call(
        &app,
        Method::POST,
        &format!("/referrals/{id}/decision"),
        &reviewer,
        Some(json!({ "kind": "return", "advice": {
            "tests": "72-hour tape", "re_refer_when": "if the tape shows a pause over 3 s" } })),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = call(
        &app,
        Method::GET,
        &format!("/referrals/{id}/fhir"),
        &cm,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.headers["content-type"], "application/fhir+json");
    let sr = r.json();
    assert_eq!(sr["resourceType"], "ServiceRequest");
    assert_eq!(sr["status"], "revoked");
    assert_eq!(sr["priority"], "routine");
    assert_eq!(sr["performerType"]["text"], "Cardiology");
    assert_eq!(
        sr["contained"][0]["identifier"][0]["value"],
        NOT_ON_CASELOAD
    );
    let notes: Vec<&str> = sr["note"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert!(notes[0].contains("7-day monitor"), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Tests to do: 72-hour tape.")),
        "{notes:?}"
    );
    assert_eq!(sr["supportingInfo"][0]["reference"], "#document-1", "{sr}");
    assert_eq!(
        sr["contained"][1]["content"][0]["attachment"]["url"],
        format!("/api/v1/referrals/{id}/attachments/1")
    );
    let bundle = json!({ "resourceType": "Bundle", "type": "collection",
        "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Bundle"] },
        "entry": [
        { "fullUrl": format!("urn:uuid:{id}"), "resource": sr },
    ] });
    crate::fhir::validate("exported referral", &bundle);

    let reads = app.audit_of("referral.read").await;
    for detail in ["document 1", "document 2", "FHIR ServiceRequest"] {
        assert!(
            reads
                .iter()
                .any(|e| e.outcome == "ok" && e.detail == detail && e.subject == id),
            "no audit entry for {detail}"
        );
    }
    assert!(
        reads
            .iter()
            .any(|e| e.outcome == "denied" && e.subject == id),
        "the stranger's attempts are audited"
    );
}
