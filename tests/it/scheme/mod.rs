//! The case management scheme through the API: list size and risk uploads, the
//! candidates worklist, reviews due, a month's data return checked line by line as CSV,
//! the commissioner's aggregate, MDT meetings and a virtual clinic.

use redfolder_server::domain::{Committer, project};
use redfolder_server::store::NewPatient;
use redfolder_shared::{
    ActorId, CohortCategory, Date, Edit, Editor, NewPlan, PlanDoc, ReviewOutcome,
};
use serde_json::{Value, json};

use crate::client::now_ms;
use crate::device::{Device, Outcome};
use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};

mod meetings;

pub(crate) const PRACTICE: &str = "Y90001";

/// NHS numbers of the scheme practice's patients (valid, 999 range, not the demo's).
fn nhs_numbers(n: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut candidate = 9_990_100_000u64;
    while found.len() < n {
        candidate += 1;
        let s = candidate.to_string();
        if redfolder_shared::NhsNumber::parse(&s).is_ok() {
            found.push(s);
        }
    }
    found
}

/// A practice of its own with a case manager and `n` draft plans; returns the case
/// manager's token and the patients' (id, NHS number).
pub(crate) async fn practice(app: &TestApp, n: usize) -> (String, Vec<(String, String)>) {
    practice_born(app, &vec!["1950-01-01"; n]).await
}

/// [`practice`] with a draft plan per date of birth given.
pub(crate) async fn practice_born(app: &TestApp, born: &[&str]) -> (String, Vec<(String, String)>) {
    let n = born.len();
    let org = app
        .create_org(PRACTICE, "Scheme Surgery", "gp_practice")
        .await;
    app.create_user("cm.scheme", PRACTICE, &["case_manager"], "scheme-password")
        .await;
    let token = app.login_with("cm.scheme", "scheme-password").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let editor = Editor {
        user_id: "setup".into(),
        user_name: "Set Up".into(),
    };
    let mut patients = Vec::new();
    let mut out = Vec::new();
    for (i, nhs) in nhs_numbers(n).into_iter().enumerate() {
        let new = NewPlan {
            nhs_number: nhs.clone(),
            name: format!("Scheme Patient {i}"),
            date_of_birth: born[i].into(),
            address: format!("{i} Scheme Road"),
        };
        let mut doc = PlanDoc::create(
            ActorId::from(format!("setup-{i}").as_bytes()),
            &new,
            &editor,
            now_ms(),
        )
        .unwrap();
        let projection = project(&mut doc).unwrap();
        let id = uuid::Uuid::new_v4().to_string();
        out.push((id.clone(), nhs));
        patients.push(NewPatient {
            id,
            organisation_id: org.clone(),
            snapshot: doc.save(),
            projection,
            created_by: Some(Committer {
                user_id: "setup".into(),
                name: "Set Up".into(),
                organisation: "Scheme Surgery".into(),
            }),
        });
    }
    app.store
        .create_patients(&patients, now_ms())
        .await
        .unwrap();
    (token, out)
}

pub(crate) async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let reply = app.send(method, path, Some(token), body.as_ref()).await;
    let value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    (reply.status, value)
}

/// The commissioner's aggregate at `path`, and this practice's entry in it.
pub(crate) async fn aggregate(app: &TestApp, commissioner: &str, path: &str) -> (Value, Value) {
    let (status, agg) = send(app, "GET", path, commissioner, None).await;
    assert_eq!(status, 200, "{agg}");
    let ours = agg["practices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == PRACTICE)
        .expect("the practice is in the aggregate")
        .clone();
    (agg, ours)
}

pub(crate) async fn upload(app: &TestApp, token: &str, csv: &str) -> (u16, Value) {
    let reply = app
        .client
        .post(app.url("/api/v1/scheme/risk-uploads"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap())
}

/// Enrols a plan through sync: cohort, consent, case manager, step 16's records, complete.
pub(crate) async fn enrol(device: &mut Device, doc: &str, cohort: CohortCategory, start: &str) {
    assert_eq!(device.open(doc).await, Outcome::Synced);
    let edits = [
        Edit::SetEnrolment {
            cohort: Some(cohort),
            tier: None,
            start_date: Some(start.into()),
            review_interval_months: None,
        },
        Edit::SetConsent {
            share_with_mdt: true,
            share_with_emergency_services: false,
        },
        Edit::SetCaseManager {
            name: "Sam Scheme".into(),
            role: "community matron".into(),
            phone: String::new(),
        },
    ];
    for edit in &edits {
        assert_eq!(device.write(doc, edit).await, Outcome::Acked, "{edit:?}");
    }
    // Step 16's other records, the paper copy, and "mark complete".
    let editor = device.editor.clone().expect("welcomed");
    let complete = redfolder_shared::testkit::completion(&device.docs[doc], &[], &editor, now_ms())
        .expect("the records are valid");
    for edit in &complete {
        assert_eq!(device.write(doc, edit).await, Outcome::Acked, "{edit:?}");
    }
}

async fn review(device: &mut Device, doc: &str, id: &str, date: &str) {
    let edit = Edit::RecordReview {
        id: id.into(),
        date: date.into(),
        face_to_face: true,
        reviewer: "Sam Scheme".into(),
        attendees: String::new(),
        notes: String::new(),
        changes: String::new(),
        still_in_top_5_percent: Some(true),
        outcome: ReviewOutcome::Continue,
        next_review_due: None,
    };
    assert_eq!(device.write(doc, &edit).await, Outcome::Acked);
}

#[tokio::test]
async fn risk_upload_refuses_bad_files_whole_and_keeps_history() {
    risk_uploads_and_candidates(&spawn_app().await).await;
}

#[tokio::test]
async fn risk_upload_refuses_bad_files_whole_and_keeps_history_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    risk_uploads_and_candidates(&app).await;
    drop_database(&name).await;
}

/// Uploads, history, exclusions and the worklist.
async fn risk_uploads_and_candidates(app: &TestApp) {
    let (token, patients) = practice(app, 3).await;
    let nhs: Vec<&str> = patients.iter().map(|(_, n)| n.as_str()).collect();

    let (status, _) = send(
        app,
        "POST",
        "/api/v1/scheme/list-size",
        &token,
        Some(json!({ "list_size": 0 })),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        app,
        "POST",
        "/api/v1/scheme/list-size",
        &token,
        Some(json!({ "list_size": 100 })),
    )
    .await;
    assert_eq!(status, 201);

    let bad = format!(
        "nhs_number,risk_score,risk_level,as_of\n{},90,3,2026-01-01\n1234567890,50,2,2026-01-01\n{},x,5,2026-01-01\n",
        nhs[0], nhs[1]
    );
    let (status, body) = upload(app, &token, &bad).await;
    assert_eq!(status, 422, "{body}");
    let lines: Vec<i64> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4]);
    let (_, history) = send(app, "GET", "/api/v1/scheme/risk-uploads", &token, None).await;
    assert_eq!(
        history.as_array().unwrap().len(),
        0,
        "nothing of a rejected file is kept"
    );

    let first = format!(
        "nhs_number,risk_score,risk_level,as_of\n{},90,3,2026-01-01\n{},50,2,2026-01-01\n{},20,1,2026-01-01\n",
        nhs[0], nhs[1], nhs[2]
    );
    assert_eq!(upload(app, &token, &first).await.0, 201);
    let second = format!(
        "nhs_number,risk_score,risk_level,as_of\n{},95,3,2026-02-01\n{},60,2,2026-02-01\n",
        nhs[0], nhs[1]
    );
    let (status, body) = upload(app, &token, &second).await;
    assert_eq!(
        (
            status,
            body["rows"].as_i64(),
            body["top_5_percent"].as_i64()
        ),
        (201, Some(2), Some(2))
    );
    // Against the first list: the same two patients are in the top 5 %, nobody moved.
    assert_eq!(body["movement"]["entered_top_5_percent"], json!([]));
    assert_eq!(body["movement"]["left_top_5_percent"], json!([]));
    assert!(body["movement"]["compared_with"].is_string(), "{body}");
    let (_, history) = send(app, "GET", "/api/v1/scheme/risk-uploads", &token, None).await;
    assert_eq!(
        history.as_array().unwrap().len(),
        2,
        "re-uploads keep history"
    );

    let (status, _) = send(
        app,
        "POST",
        "/api/v1/scheme/exclusions",
        &token,
        Some(json!({ "nhs_number": nhs[1], "reason": "renal unit follows up" })),
    )
    .await;
    assert_eq!(status, 201);
    let cm = app.login_with("cm.scheme", "scheme-password").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut device = Device::connect(&app.ws_url(), &cm, "scheme-tablet-1").await;
    device.hello().await.unwrap();
    let today = Date::from_unix_ms(now_ms()).to_string();
    enrol(
        &mut device,
        &patients[2].0,
        CohortCategory::ClinicalJudgement,
        &today,
    )
    .await;

    let (status, w) = send(app, "GET", "/api/v1/scheme/candidates", &token, None).await;
    assert_eq!(status, 200, "{w}");
    let listed: Vec<(&str, &str)> = w["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["nhs_number"].as_str().unwrap(),
                c["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, vec![(nhs[0], "risk_tool")]);
    assert_eq!(
        w["excluded"],
        json!([{ "nhs_number": nhs[1], "reason": "renal unit follows up" }])
    );
    assert_eq!(w["cohort"]["enrolled"]["practice_discretion"], 1);
    assert_eq!(w["cohort"]["percent_of_list"], 1.0);
    assert_eq!(w["cohort"]["phase"], "first_three_percent");

    // Other roles and other practices see none of it.
    let cm1 = app.login("cm1.demo").await;
    let (_, demo) = send(app, "GET", "/api/v1/scheme/risk-uploads", &cm1, None).await;
    assert_eq!(demo, json!([]));
    for user in [
        "commissioner.demo",
        "ambulance.demo",
        "mdt.demo",
        "admin.demo",
    ] {
        let t = app.login(user).await;
        let (status, _) = send(app, "GET", "/api/v1/scheme/candidates", &t, None).await;
        assert_eq!(status, 403, "{user}");
    }
    let audited = app.audit_of("scheme.risk_upload").await;
    assert_eq!(
        audited
            .iter()
            .map(|e| e.outcome.as_str())
            .collect::<Vec<_>>(),
        vec!["refused", "ok", "ok"]
    );
}

#[tokio::test]
async fn a_month_built_through_the_api_gives_the_expected_return() {
    month_through_the_api(&spawn_app().await).await;
}

#[tokio::test]
async fn a_month_built_through_the_api_gives_the_expected_return_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    month_through_the_api(&app).await;
    drop_database(&name).await;
}

/// Builds a month through sync and HTTP and checks the return line by line.
async fn month_through_the_api(app: &TestApp) {
    let (token, patients) = practice(app, 6).await;
    let (status, _) = send(
        app,
        "POST",
        "/api/v1/scheme/list-size",
        &token,
        Some(json!({ "list_size": 1000, "as_of": "2026-01-01" })),
    )
    .await;
    assert_eq!(status, 201);
    let now = now_ms();
    let today = Date::from_unix_ms(now);
    let month = format!("{:04}-{:02}", today.year, today.month);
    let long_ago = Date::from_unix_ms(now - 200 * 86_400_000);
    let overdue_review = Date::from_unix_ms(now - 150 * 86_400_000);

    let mut device = Device::connect(&app.ws_url(), &token, "scheme-tablet").await;
    device.hello().await.unwrap();
    let id = |i: usize| patients[i].0.clone();
    let t = today.to_string();
    // A and D: new risk-tool plans this month, D also reviewed today.
    enrol(&mut device, &id(0), CohortCategory::RiskTool, &t).await;
    enrol(&mut device, &id(1), CohortCategory::CareHome, &t).await;
    enrol(&mut device, &id(2), CohortCategory::Over75, &t).await;
    enrol(&mut device, &id(3), CohortCategory::RiskTool, &t).await;
    review(&mut device, &id(3), "r1", &t).await;
    // F: work started long ago, last reviewed five months ago: overdue.
    enrol(
        &mut device,
        &id(4),
        CohortCategory::RiskTool,
        &long_ago.to_string(),
    )
    .await;
    review(&mut device, &id(4), "r1", &overdue_review.to_string()).await;
    // Patient 5 stays a draft.

    let (status, due) = send(
        app,
        "GET",
        "/api/v1/scheme/reviews-due?within_days=28",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{due}");
    assert_eq!(
        due["practice"],
        json!({ "overdue": 1, "due_soon": 0, "not_yet_due": 4 })
    );
    assert_eq!(due["by_case_manager"][0]["case_manager"], "Sam Scheme");
    assert_eq!(due["plans"][0]["patient_id"], id(4).as_str());
    assert_eq!(due["plans"][0]["state"], "overdue");
    // The copy printed to complete the plan (step 16) still says "draft" and predates the
    // review: the list says a new paper copy is needed.
    assert_eq!(due["plans"][0]["paper_copy"], "out_of_date");

    let reply = app
        .get(
            &format!("/api/v1/scheme/returns/{month}?format=csv&claimed_on={t}"),
            Some(&token),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let expected = [
        "measure,category,value".to_owned(),
        format!("month,,{month}"),
        format!("claimed_on,,{t}"),
        "list_size,,1000".to_owned(),
        "new_plans,risk_tool,2".to_owned(),
        "new_plans,care_home,1".to_owned(),
        "new_plans,practice_discretion,0".to_owned(),
        "new_plans,over_75,1".to_owned(),
        "reviews_done,,1".to_owned(),
        "over_75_case_reviews,,0".to_owned(),
        "plans_in_place,risk_tool,3".to_owned(),
        "plans_in_place,care_home,1".to_owned(),
        "plans_in_place,practice_discretion,0".to_owned(),
        "plans_in_place,over_75,1".to_owned(),
        "percent_of_list,full_case_management,0.40".to_owned(),
        "target_percent,first_tier,3".to_owned(),
        "target_percent,cohort,5".to_owned(),
        "claim,new_full_plan,3 x 110 = 330".to_owned(),
        "claim,review,1 x 30 = 30".to_owned(),
        "claim,over_75_case_review,1 x 50 = 50".to_owned(),
        "claim_total,,410".to_owned(),
        "discharges,discharged,0".to_owned(),
        "discharges,to_annual_review,0".to_owned(),
        "discharges,moved_away,0".to_owned(),
        "discharges,died,0".to_owned(),
        "discharges,patient_declined,0".to_owned(),
        "discharges,total,0".to_owned(),
    ];
    let lines: Vec<&str> = reply.body.lines().collect();
    for (n, want) in expected.iter().enumerate() {
        assert_eq!(lines.get(n).copied(), Some(want.as_str()), "line {}", n + 1);
    }
    assert_eq!(lines.len(), expected.len(), "{}", reply.body);

    let (_, json_return) = send(
        app,
        "GET",
        &format!("/api/v1/scheme/returns/{month}?claimed_on={t}"),
        &token,
        None,
    )
    .await;
    assert_eq!(json_return["claim_total"], 410);

    // The commissioner sees every practice's figures and no patient.
    let commissioner = app.login("commissioner.demo").await;
    let (agg, ours) = aggregate(
        app,
        &commissioner,
        &format!("/api/v1/scheme/returns/{month}/aggregate?claimed_on={t}"),
    )
    .await;
    assert_eq!(ours["return"]["claim_total"], 410);
    let text = agg.to_string();
    for (pid, nhs) in &patients {
        assert!(!text.contains(pid.as_str()) && !text.contains(nhs.as_str()));
    }
    assert!(!text.contains("Scheme Patient"));
    let (status, _) = send(
        app,
        "GET",
        &format!("/api/v1/scheme/returns/{month}/aggregate"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send(
        app,
        "GET",
        &format!("/api/v1/scheme/returns/{month}"),
        &commissioner,
        None,
    )
    .await;
    assert_eq!(status, 403);
}
