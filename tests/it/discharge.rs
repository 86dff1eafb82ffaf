//! Discharge from case management through the API (seed 003 step 17): every refusal of the
//! decision rule and its steps, the plan ended through its lifecycle, the GP letter, the
//! monthly return and the commissioner's aggregate counting it, the emergency summary of an
//! ended plan (served marked as ended, withdrawn after 90 days), the over-75 register, and
//! MDT meetings as invited members from other organisations see them.

use redfolder_shared::{CohortCategory, Date, Edit, Tier};
use serde_json::{Value, json};

use crate::client::now_ms;
use crate::device::{Device, Outcome};
use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};
use crate::scheme::{aggregate, enrol, practice_born, send, upload};

#[tokio::test]
async fn discharge_applies_step_17_ends_the_plan_and_is_counted() {
    discharges(&spawn_app().await).await;
}

#[tokio::test]
async fn discharge_applies_step_17_ends_the_plan_and_is_counted_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    discharges(&app).await;
    drop(app);
    drop_database(&name).await;
}

#[tokio::test]
async fn over_75_register_and_mdt_members() {
    over_75_and_members(&spawn_app().await).await;
}

#[tokio::test]
async fn over_75_register_and_mdt_members_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    over_75_and_members(&app).await;
    drop(app);
    drop_database(&name).await;
}

fn days_ago(n: i64) -> String {
    Date::from_unix_ms(now_ms()).plus_days(-n).to_string()
}

async fn post(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    send(app, "POST", "/api/v1/scheme/discharges", token, Some(body)).await
}

/// An MDT meeting today, held, with the patient listed and an outcome recorded.
async fn signed_off_meeting(app: &TestApp, token: &str, patient: &str) -> String {
    let today = days_ago(0);
    let (status, m) = send(
        app,
        "POST",
        "/api/v1/scheme/mdt-meetings",
        token,
        Some(json!({ "date": today })),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/scheme/mdt-meetings/{id}");
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/patients"),
        token,
        Some(json!({ "patient_id": patient })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = send(
        app,
        "PUT",
        &format!("{base}/patients/{patient}"),
        token,
        Some(json!({ "outcome": "agreed: discharge from case management" })),
    )
    .await;
    assert_eq!(status, 200);
    id
}

async fn sign_attendance(app: &TestApp, token: &str, meeting: &str) {
    let (status, _) = send(
        app,
        "POST",
        &format!("/api/v1/scheme/mdt-meetings/{meeting}/attendance"),
        token,
        Some(json!({ "name": "Dr Mdt", "core_role": "gp", "signed": true })),
    )
    .await;
    assert_eq!(status, 200);
}

async fn discharges(app: &TestApp) {
    // 0: under 75, discharged; 1: over 75, to the annual review; 2: died; 3: a draft;
    // 4: moved away 100 days ago (its summary is withdrawn); 5: moved away today.
    let born = [
        "1970-05-05",
        "1940-01-01",
        "1960-01-01",
        "1960-01-01",
        "1960-01-01",
        "1960-01-01",
    ];
    let (token, patients) = practice_born(app, &born).await;
    let id = |i: usize| patients[i].0.clone();
    let nhs = |i: usize| patients[i].1.clone();
    let today = days_ago(0);
    let mut device = Device::connect(&app.ws_url(), &token, "discharge-tablet").await;
    device.hello().await.unwrap();
    for i in [0, 1, 2, 4, 5] {
        enrol(
            &mut device,
            &id(i),
            CohortCategory::RiskTool,
            &days_ago(200),
        )
        .await;
    }
    // Patient 1 is mild: the MDT need not sign their move off. 4 and 5 consent to
    // emergency sharing.
    let mild = Edit::SetEnrolment {
        cohort: Some(CohortCategory::RiskTool),
        tier: Some(Tier::Mild),
        start_date: Some(days_ago(200)),
        review_interval_months: None,
    };
    assert_eq!(device.write(&id(1), &mild).await, Outcome::Acked);
    for i in [4, 5] {
        let consent = Edit::SetConsent {
            share_with_mdt: true,
            share_with_emergency_services: true,
        };
        assert_eq!(device.write(&id(i), &consent).await, Outcome::Acked);
    }

    // Without a risk upload the case manager must say whether the patient is in the top 5 %.
    let base = json!({ "patient_id": id(0), "date": today, "on_list": "yes" });
    let (status, body) = post(app, &token, base.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("top 5 %"));
    // Still in the top 5 %, or kept for exceptional circumstances: no discharge.
    let mut q = base.clone();
    q["still_in_top_5_percent"] = true.into();
    let (status, body) = post(app, &token, q.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("record a review instead")
    );
    q["still_in_top_5_percent"] = false.into();
    q["exceptional_circumstances"] = true.into();
    let (status, body) = post(app, &token, q.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("practice discretion")
    );
    // Discharge: told, questionnaire and (tier unrecorded) MDT sign-off are each required.
    q["exceptional_circumstances"] = false.into();
    let (status, body) = post(app, &token, q.clone()).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    for step in ["told", "questionnaire", "MDT"] {
        assert!(message.contains(step), "{message}");
    }
    // A step dated after the discharge, and a date in the future, are refused.
    q["patient_told_on"] = days_ago(-1).into();
    let (status, body) = post(app, &token, q.clone()).await;
    assert_eq!(status, 400, "{body}");
    q["patient_told_on"] = today.clone().into();
    q["questionnaire_sent_on"] = today.clone().into();
    let mut future = q.clone();
    future["date"] = days_ago(-2).into();
    assert_eq!(post(app, &token, future).await.0, 400);
    // An MDT meeting not yet held does not sign off.
    let meeting = signed_off_meeting(app, &token, &id(0)).await;
    q["mdt_meeting_id"] = meeting.clone().into();
    let (status, body) = post(app, &token, q.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not been held"));
    sign_attendance(app, &token, &meeting).await;
    q["mdt_meeting_id"] = "no-such-meeting".into();
    assert_eq!(post(app, &token, q.clone()).await.0, 404);
    q["mdt_meeting_id"] = meeting.clone().into();
    q["notes"] = "risk score fell after the falls clinic".into();
    let (status, discharged) = post(app, &token, q.clone()).await;
    assert_eq!(status, 201, "{discharged}");
    assert_eq!(discharged["decision"], "discharge");
    assert_eq!(discharged["mdt_meeting_id"], meeting.as_str());
    let letter = discharged["gp_letter"].as_str().unwrap();
    for want in [
        "Scheme Patient 0",
        "discharged from case management",
        "The patient was told on",
        "evaluation questionnaire was sent",
        "MDT signed the discharge off",
        "risk score fell after the falls clinic",
    ] {
        assert!(letter.contains(want), "{want} not in {letter}");
    }
    // The plan has ended: a second discharge is refused, and so is a draft's.
    let (status, body) = post(app, &token, q).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("ended"));
    let draft = json!({ "patient_id": id(3), "date": today, "on_list": "died" });
    assert_eq!(post(app, &token, draft).await.0, 409);

    // With a risk upload, the upload decides; a contradicting answer is refused.
    let csv = format!(
        "nhs_number,risk_score,risk_level,as_of\n{},12.5,1,{today}\n",
        nhs(1)
    );
    let (status, body) = upload(app, &token, &csv).await;
    assert_eq!(status, 201, "{body}");
    let mut over_75 = json!({ "patient_id": id(1), "date": today, "on_list": "yes",
        "still_in_top_5_percent": true, "patient_told_on": today });
    let (status, body) = post(app, &token, over_75.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("level 1"));
    over_75["still_in_top_5_percent"] = Value::Null;
    let (status, moved) = post(app, &token, over_75).await;
    assert_eq!(status, 201, "{moved}");
    assert_eq!(moved["decision"], "annual_review");
    assert_eq!(moved["over_75"], true);
    assert!(moved["risk_source"].as_str().unwrap().contains("level 1"));

    // Off the list: no steps needed.
    let died = json!({ "patient_id": id(2), "date": today, "on_list": "died" });
    let (status, body) = post(app, &token, died).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["decision"], "died");

    // Someone else's patient, and someone who is not a case manager.
    let stranger = json!({ "patient_id": "no-such-patient", "date": today, "on_list": "died" });
    assert_eq!(post(app, &token, stranger).await.0, 404);
    let commissioner = app.login("commissioner.demo").await;
    let (status, _) = post(
        app,
        &commissioner,
        json!({ "patient_id": id(2), "date": today, "on_list": "died" }),
    )
    .await;
    assert_eq!(status, 403);

    // The emergency summary of an ended plan: served, marked, for 90 days; then withdrawn.
    let crew = app.login("ambulance.demo").await;
    assert_eq!(
        app.emergency_summary(&nhs(4), Some(&crew)).await.status,
        200
    );
    let long_ago = json!({ "patient_id": id(4), "date": days_ago(100), "on_list": "moved_away" });
    assert_eq!(post(app, &token, long_ago).await.0, 201);
    let recent = json!({ "patient_id": id(5), "date": today, "on_list": "moved_away" });
    assert_eq!(post(app, &token, recent).await.0, 201);
    let withdrawn = app.emergency_summary(&nhs(4), Some(&crew)).await;
    assert_eq!(withdrawn.status, 404, "{withdrawn:?}");
    let served = app.emergency_summary(&nhs(5), Some(&crew)).await;
    assert_eq!(served.status, 200, "{served:?}");
    let summary = served.json();
    assert_eq!(summary["plan_status"], "ended");
    assert_eq!(summary["case_management_ended"]["date"], today.as_str());
    assert!(
        summary["case_management_ended"]["notice"]
            .as_str()
            .unwrap()
            .contains("Case management ended on")
    );
    let audit = app.audit_of("emergency.summary").await;
    assert!(audit.iter().any(|e| e.outcome == "ended_withdrawn"));

    // The practice's list, each with its letter, is audited per patient.
    let (status, list) = send(app, "GET", "/api/v1/scheme/discharges", &token, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 5);
    let reads = app.audit_of("scheme.discharge").await;
    assert!(
        reads
            .iter()
            .filter(|e| e.detail == "discharge read")
            .count()
            >= 5
    );
    let (status, _) = send(
        app,
        "GET",
        "/api/v1/scheme/discharges?from=bad",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 400);

    // The month's return and the commissioner's aggregate count them.
    let t = Date::from_unix_ms(now_ms());
    let month = format!("{:04}-{:02}", t.year, t.month);
    let (status, r) = send(
        app,
        "GET",
        &format!("/api/v1/scheme/returns/{month}"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    // Patient 4 ended 100 days ago: another month's return.
    assert_eq!(
        r["discharges"],
        json!({ "discharged": 1, "to_annual_review": 1, "moved_away": 1, "died": 1,
                "patient_declined": 0, "total": 4 })
    );
    let (agg, ours) = aggregate(
        app,
        &commissioner,
        &format!("/api/v1/scheme/returns/{month}/aggregate"),
    )
    .await;
    assert_eq!(ours["return"]["discharges"]["total"], 4);
    assert!(agg["totals"]["discharges"]["total"].as_u64().unwrap() >= 4);
}

async fn over_75_and_members(app: &TestApp) {
    let (token, patients) = practice_born(app, &["1940-01-01", "1945-06-01", "1980-01-01"]).await;
    let id = |i: usize| patients[i].0.clone();
    let nhs = |i: usize| patients[i].1.clone();
    let mut device = Device::connect(&app.ws_url(), &token, "over75-tablet").await;
    device.hello().await.unwrap();
    // Patient 0 over 75 with a plan completed now; patient 1 over 75, draft; 2 is younger.
    enrol(&mut device, &id(0), CohortCategory::Over75, &days_ago(0)).await;

    let list = "/api/v1/scheme/over-75-list";
    let (status, body) = send(app, "POST", list, &token, Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(
        app,
        "POST",
        list,
        &token,
        Some(json!({ "nhs_numbers": ["1234567890"] })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("entry 1"));
    let outsider = "9434765919";
    let listed = json!([nhs(0), nhs(1), outsider]);
    let (status, body) = send(
        app,
        "POST",
        list,
        &token,
        Some(json!({ "nhs_numbers": listed, "list_size": 5 })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(
        app,
        "POST",
        list,
        &token,
        Some(json!({ "nhs_numbers": listed })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["list_size"], 3);
    let csv = format!(
        "nhs_number,risk_score,risk_level,as_of\n{outsider},40,3,2026-01-01\n{},20,2,2026-01-01\n",
        nhs(1)
    );
    assert_eq!(upload(app, &token, &csv).await.0, 201);

    let (status, reg) = send(app, "GET", "/api/v1/scheme/over-75-register", &token, None).await;
    assert_eq!(status, 200, "{reg}");
    let rows: Vec<(&str, &str)> = reg["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["nhs_number"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
            )
        })
        .collect();
    // No plan first, then overdue (the draft, by risk), then reviewed; the younger
    // patient is not on the register.
    assert_eq!(
        rows,
        vec![
            (outsider, "no_plan"),
            (nhs(1).as_str(), "overdue"),
            (nhs(0).as_str(), "reviewed"),
        ]
    );
    assert_eq!(
        reg["coverage"],
        json!({ "list_size": 3, "reviewed_in_last_year": 1, "percent": 33.33 })
    );
    let commissioner = app.login("commissioner.demo").await;
    let (status, _) = send(
        app,
        "GET",
        "/api/v1/scheme/over-75-register",
        &commissioner,
        None,
    )
    .await;
    assert_eq!(status, 403);

    // An MDT meeting with an invited member from another organisation.
    let meeting = signed_off_meeting(app, &token, &id(0)).await;
    let base = format!("/api/v1/scheme/mdt-meetings/{meeting}");
    let (status, body) = send(
        app,
        "POST",
        &format!("{base}/members"),
        &token,
        Some(json!({ "username": "cm1.demo" })),
    )
    .await;
    assert_eq!(status, 400, "a case manager is not an MDT member: {body}");
    let (status, body) = send(
        app,
        "POST",
        &format!("{base}/members"),
        &token,
        Some(json!({ "username": "mdt.demo" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["newly_invited"], true);
    // The practice's meeting lists who is invited, once however often they were asked.
    let (status, _) = send(
        app,
        "POST",
        &format!("{base}/members"),
        &token,
        Some(json!({ "username": "mdt.demo" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, detail) = send(app, "GET", &base, &token, None).await;
    assert_eq!(status, 200, "{detail}");
    let members = detail["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{detail}");
    assert_eq!(members[0]["username"], "mdt.demo");
    assert_eq!(members[0]["name"], "Jo Whitaker (demo)");
    let (status, _) = send(
        app,
        "PUT",
        &format!("{base}/duration"),
        &token,
        Some(json!({ "minutes": 45 })),
    )
    .await;
    assert_eq!(status, 409, "not held yet");
    sign_attendance(app, &token, &meeting).await;
    let (status, _) = send(
        app,
        "PUT",
        &format!("{base}/duration"),
        &token,
        Some(json!({ "minutes": 0 })),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        app,
        "PUT",
        &format!("{base}/duration"),
        &token,
        Some(json!({ "minutes": 45 })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, year) = send(app, "GET", "/api/v1/scheme/mdt-meetings", &token, None).await;
    assert_eq!(status, 200, "{year}");
    assert_eq!(year["months_held"], 1);
    assert_eq!(year["minutes_held"], 45);

    let member = app.login("mdt.demo").await;
    let (status, mine) = send(app, "GET", "/api/v1/scheme/my-mdt-meetings", &member, None).await;
    assert_eq!(status, 200, "{mine}");
    let ours = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == meeting.as_str())
        .expect("the invited meeting is listed");
    assert_eq!(ours["practice"], "Scheme Surgery");
    assert_eq!(ours["duration_minutes"], 45);
    assert_eq!(ours["patients"][0]["name"], "Scheme Patient 0");
    // Not in the patient's care team: the list names them, the plan stays closed.
    assert_eq!(ours["patients"][0]["can_open_plan"], false);
    let (status, _) = send(app, "GET", "/api/v1/scheme/my-mdt-meetings", &token, None).await;
    assert_eq!(status, 403);
    let reads = app.audit_of("scheme.mdt_meeting").await;
    assert!(reads.iter().any(|e| e.role.as_deref() == Some("mdt_member")
        && e.patient_id.as_deref() == Some(id(0).as_str())));
}
