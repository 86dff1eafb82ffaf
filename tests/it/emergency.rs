//! The emergency summary: consent, identical not-found bodies, roles, and the audit log.

use redfolder_shared::NhsNumber;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// A consenting and a non-consenting patient from cm1's caseload.
async fn patients(app: &TestApp) -> (Value, Value) {
    let caseload = app.caseload().await;
    let consenting = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .cloned()
        .unwrap();
    let refusing = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == false)
        .cloned()
        .unwrap();
    (consenting, refusing)
}

#[tokio::test]
async fn emergency_summaries_follow_consent_and_every_request_is_audited() {
    let app = spawn_app().await;
    let (consenting, refusing) = patients(&app).await;
    let crew = app.login("ambulance.demo").await;
    let manager = app.login("cm1.demo").await;
    // A valid NHS number outside the demo's 999 range: no plan has it.
    let unknown = NhsNumber::parse("943 476 5919").unwrap().digits();

    let ok = app
        .emergency_summary(consenting["nhs_number"].as_str().unwrap(), Some(&crew))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.headers["cache-control"], "no-store");
    let summary = ok.json();
    assert_eq!(summary["patient_id"], consenting["id"]);
    assert_eq!(summary["nhs_number"], consenting["nhs_number"]);
    assert_eq!(summary["name"], consenting["name"]);
    assert_eq!(summary["consent_to_emergency_sharing"], true);
    assert!(
        summary["plan_version"]
            .as_str()
            .is_some_and(|v| v.len() >= 64),
        "{summary}"
    );
    assert!(
        !summary["medications"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    assert!(
        !summary["conditions"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    assert!(
        !summary["key_contacts"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    assert!(
        !summary["baseline"]["lines"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    assert!(
        summary["exacerbation_plan"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(summary["dnacpr_label"].is_string());

    // The display form is accepted too.
    let display = NhsNumber::parse(consenting["nhs_number"].as_str().unwrap())
        .unwrap()
        .display_form();
    assert_eq!(
        app.emergency_summary(&display.replace(' ', "-"), Some(&crew))
            .await
            .status,
        200
    );

    let no_consent = app
        .emergency_summary(refusing["nhs_number"].as_str().unwrap(), Some(&crew))
        .await;
    let no_plan = app.emergency_summary(&unknown, Some(&crew)).await;
    assert_eq!(no_consent.status, 404);
    assert_eq!(no_plan.status, 404);
    assert_eq!(
        no_consent.body, no_plan.body,
        "the two 404s must not be told apart"
    );
    assert_eq!(
        no_plan.json(),
        serde_json::json!({
            "error": "not_found",
            "message": "no emergency summary is available for this NHS number"
        })
    );

    let malformed = app.emergency_summary("1234567890", Some(&crew)).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["error"], "bad_request");
    assert!(
        malformed.json()["message"]
            .as_str()
            .unwrap()
            .contains("check digit"),
        "{malformed:?}"
    );

    let wrong_role = app
        .emergency_summary(consenting["nhs_number"].as_str().unwrap(), Some(&manager))
        .await;
    assert_eq!(wrong_role.status, 403);
    let anonymous = app
        .emergency_summary(consenting["nhs_number"].as_str().unwrap(), None)
        .await;
    assert_eq!(anonymous.status, 401);
    let bad_token = app
        .emergency_summary(consenting["nhs_number"].as_str().unwrap(), Some("nope"))
        .await;
    assert_eq!(bad_token.status, 401);

    let log = app.audit_of("emergency.summary").await;
    let got: Vec<(&str, &str, &str, Option<&str>)> = log
        .iter()
        .map(|e| {
            (
                e.outcome.as_str(),
                e.detail.as_str(),
                e.subject.as_str(),
                e.role.as_deref(),
            )
        })
        .collect();
    let consenting_nhs = consenting["nhs_number"].as_str().unwrap();
    let refusing_nhs = refusing["nhs_number"].as_str().unwrap();
    let display_dashed = display.replace(' ', "-");
    let crew_role = Some("emergency_clinician");
    assert_eq!(
        got,
        vec![
            ("ok", "status 200", consenting_nhs, crew_role),
            ("ok", "status 200", display_dashed.as_str(), crew_role),
            ("no_consent", "status 404", refusing_nhs, crew_role),
            ("not_found", "status 404", unknown.as_str(), crew_role),
            ("bad_request", "status 400", "1234567890", crew_role),
            (
                "forbidden",
                "status 403",
                consenting_nhs,
                Some("case_manager")
            ),
            ("unauthorized", "status 401", consenting_nhs, None),
            ("unauthorized", "status 401", consenting_nhs, None),
        ]
    );
    for entry in &log {
        assert_eq!(entry.purpose, "emergency_care");
        assert!(entry.at_ms > 0);
    }
    assert_eq!(log[0].patient_id.as_deref(), consenting["id"].as_str());
    assert_eq!(
        log[2].patient_id.as_deref(),
        refusing["id"].as_str(),
        "the audit may say why"
    );
    assert!(log[0].user_id.is_some() && log[0].organisation_id.is_some());
    assert!(log[0].device_id.is_some());
    assert!(log[6].user_id.is_none());
}

#[tokio::test]
async fn other_methods_on_the_summary_route_are_refused_and_audited() {
    let app = spawn_app().await;
    let crew = app.login("ambulance.demo").await;
    let reply = app
        .client
        .post(app.url("/api/v1/emergency/summary/9434765919"))
        .bearer_auth(&crew)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 405);
    let log = app.audit_of("emergency.summary").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, "method_not_allowed");
}
