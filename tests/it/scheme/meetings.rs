//! MDT meetings (warnings, counts, outcomes into plans, attendance) and a virtual
//! clinic that opens only the chosen plans, on SQLite and PostgreSQL.

use super::*;

#[tokio::test]
async fn mdt_meetings_warn_and_count_and_a_virtual_clinic_opens_chosen_plans_only() {
    meetings_and_clinics(&spawn_app().await).await;
}

#[tokio::test]
async fn mdt_meetings_warn_and_count_and_a_virtual_clinic_opens_chosen_plans_only_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    meetings_and_clinics(&app).await;
    drop_database(&name).await;
}

/// MDT meetings and a virtual clinic.
async fn meetings_and_clinics(app: &TestApp) {
    let (token, patients) = practice(app, 2).await;
    let now = now_ms();
    let soon = Date::from_unix_ms(now + 10 * 86_400_000).to_string();
    let later = Date::from_unix_ms(now + 40 * 86_400_000).to_string();

    let (status, m) = send(
        app,
        "POST",
        "/api/v1/scheme/mdt-meetings",
        &token,
        Some(json!({ "date": soon })),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert!(
        m["warnings"][0]
            .as_str()
            .unwrap()
            .contains("at least 4 weeks"),
        "{m}"
    );
    let (_, m2) = send(
        app,
        "POST",
        "/api/v1/scheme/mdt-meetings",
        &token,
        Some(json!({ "date": later })),
    )
    .await;
    assert_eq!(m2["warnings"], json!([]));
    let (status, listed) = send(
        app,
        "POST",
        &format!(
            "/api/v1/scheme/mdt-meetings/{}/patients",
            m2["id"].as_str().unwrap()
        ),
        &token,
        Some(json!({ "patient_id": patients[0].0 })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(listed["warnings"], json!([]));
    let (status, done) = send(
        app,
        "PUT",
        &format!(
            "/api/v1/scheme/mdt-meetings/{}/patients/{}",
            m2["id"].as_str().unwrap(),
            patients[0].0
        ),
        &token,
        Some(json!({ "outcome": "falls clinic", "referrals": "physiotherapy" })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(done["patients"][0]["referrals"], "physiotherapy");
    // A meeting still ahead has no discussion for the plan to record yet.
    assert_eq!(done["recorded_in_plan"]["recorded"], false, "{done}");

    // Today's meeting: the outcome becomes an MDT discussion in the plan; a changed
    // outcome replaces it (the earlier one is marked entered in error, not deleted).
    let today = Date::from_unix_ms(now).to_string();
    let (status, held) = send(
        app,
        "POST",
        "/api/v1/scheme/mdt-meetings",
        &token,
        Some(json!({ "date": today })),
    )
    .await;
    assert_eq!(status, 201, "{held}");
    let hid = held["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        app,
        "POST",
        &format!("/api/v1/scheme/mdt-meetings/{hid}/patients"),
        &token,
        Some(json!({ "patient_id": patients[1].0 })),
    )
    .await;
    assert_eq!(status, 201);
    let outcome_path = format!(
        "/api/v1/scheme/mdt-meetings/{hid}/patients/{}",
        patients[1].0
    );
    for (outcome, changed) in [
        ("refer to heart failure nurse", true),
        ("refer to heart failure nurse", false),
        ("heart failure nurse and dietitian", true),
    ] {
        let (status, done) = send(
            app,
            "PUT",
            &outcome_path,
            &token,
            Some(json!({ "outcome": outcome, "referrals": "HF nurse" })),
        )
        .await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(
            done["recorded_in_plan"],
            json!({ "recorded": true, "changed": changed }),
            "{done}"
        );
    }
    let bundle = app
        .get(
            &format!("/api/v1/patients/{}/fhir", patients[1].0),
            Some(&token),
        )
        .await;
    assert_eq!(bundle.status, 200);
    let text = bundle.body.as_str();
    assert!(
        text.contains(&format!("MDT {today}")),
        "the plan has no MDT discussion"
    );
    assert!(text.contains("heart failure nurse and dietitian"));
    assert!(
        !text.contains("refer to heart failure nurse"),
        "the replaced outcome is still current"
    );
    // Attendance is signed at the meeting, not before.
    let (status, _) = send(
        app,
        "POST",
        &format!(
            "/api/v1/scheme/mdt-meetings/{}/attendance",
            m2["id"].as_str().unwrap()
        ),
        &token,
        Some(json!({ "name": "Dr A", "core_role": "gp", "signed": true })),
    )
    .await;
    assert_eq!(status, 400);
    let year = Date::from_unix_ms(now + 40 * 86_400_000).year;
    let (_, list) = send(
        app,
        "GET",
        &format!("/api/v1/scheme/mdt-meetings?year={year}"),
        &token,
        None,
    )
    .await;
    assert_eq!(list["required"], 10);

    // A specialist reads only the chosen plan, and only as the named specialist.
    app.create_user(
        "consultant.scheme",
        "Y99904",
        &["mdt_member"],
        "consultant-password",
    )
    .await;
    // A clinic only takes patients who consent to sharing with the MDT.
    let mut consent = Device::connect(&app.ws_url(), &token, "scheme-consent").await;
    consent.hello().await.unwrap();
    assert_eq!(consent.open(&patients[0].0).await, Outcome::Synced);
    let give = Edit::SetConsent {
        share_with_mdt: true,
        share_with_emergency_services: false,
    };
    assert_eq!(consent.write(&patients[0].0, &give).await, Outcome::Acked);
    let today = Date::from_unix_ms(now).to_string();
    let (status, clinic) = send(
        app,
        "POST",
        "/api/v1/scheme/virtual-clinics",
        &token,
        Some(json!({ "specialist": "consultant.scheme", "date": today, "patient_ids": [patients[0].0] })),
    )
    .await;
    assert_eq!(status, 201, "{clinic}");
    let cid = clinic["id"].as_str().unwrap();
    let specialist = app
        .login_with("consultant.scheme", "consultant-password")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, plan) = send(
        app,
        "GET",
        &format!(
            "/api/v1/scheme/virtual-clinics/{cid}/plans/{}",
            patients[0].0
        ),
        &specialist,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(plan["patient"]["nhs_number"], patients[0].1.as_str());
    let (status, _) = send(
        app,
        "GET",
        &format!(
            "/api/v1/scheme/virtual-clinics/{cid}/plans/{}",
            patients[1].0
        ),
        &specialist,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let mdt = app.login("mdt.demo").await;
    let (status, _) = send(
        app,
        "GET",
        &format!(
            "/api/v1/scheme/virtual-clinics/{cid}/plans/{}",
            patients[0].0
        ),
        &mdt,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let audited = app.audit_of("scheme.virtual_clinic").await;
    assert!(
        audited
            .iter()
            .any(|e| e.outcome == "ok" && e.patient_id.as_deref() == Some(patients[0].0.as_str()))
    );
    assert_eq!(audited.iter().filter(|e| e.outcome == "denied").count(), 2);

    // The specialist adds advice: it is a change to the plan, attributed to them, and it
    // appears in the practice's advice worklist. Nobody else can add it.
    let advice_path = format!(
        "/api/v1/scheme/virtual-clinics/{cid}/plans/{}/advice",
        patients[0].0
    );
    let text =
        "Increase furosemide to 80 mg if weight rises 2 kg in 3 days; recheck U&E in a week.";
    let (status, _) = send(
        app,
        "POST",
        &advice_path,
        &mdt,
        Some(json!({ "advice": text })),
    )
    .await;
    assert_eq!(status, 404, "only the clinic's specialist adds advice");
    let (status, body) = send(
        app,
        "POST",
        &advice_path,
        &specialist,
        Some(json!({ "advice": "  " })),
    )
    .await;
    assert_eq!(status, 400, "empty advice is refused: {body}");
    let (status, added) = send(
        app,
        "POST",
        &advice_path,
        &specialist,
        Some(json!({ "advice": text })),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let advice_id = added["advice_id"].as_str().unwrap();
    let (_, plan) = send(
        app,
        "GET",
        &format!(
            "/api/v1/scheme/virtual-clinics/{cid}/plans/{}",
            patients[0].0
        ),
        &specialist,
        None,
    )
    .await;
    let entry = plan["advice"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == advice_id)
        .unwrap_or_else(|| panic!("the advice is not in the plan: {plan}"));
    assert_eq!(entry["advice"], text);
    assert!(
        entry["from_role"]
            .as_str()
            .unwrap()
            .starts_with("virtual clinic"),
        "{entry}"
    );
    let (status, worklist) = send(app, "GET", "/api/v1/scheme/advice", &token, None).await;
    assert_eq!(status, 200, "{worklist}");
    let listed = worklist["advice"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{worklist}");
    assert_eq!(listed[0]["advice_id"], advice_id);
    assert_eq!(listed[0]["patient_id"], patients[0].0.as_str());
    assert_eq!(listed[0]["specialist"], "consultant.scheme");
}
