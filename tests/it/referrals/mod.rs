//! Referral peer review through the API, on SQLite and PostgreSQL: a referral made,
//! queued for the specialty's reviewer by deadline, questioned, answered, returned with
//! advice, acknowledged, printed as a letter and counted in the learning report; and the
//! refusals (urgent, wrong role, another practice, a step on a closed referral).

use redfolder_shared::Date;
use redfolder_shared::referral::review_deadline;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::now_ms;
use crate::helpers::{Reply, TestApp, drop_database, spawn_app, spawn_postgres_app};

mod fhir;
mod notes;
mod setup;

use setup::{backdate, referring_practice};

/// The other demo practice, where the test's GP reviewer works.
const REVIEWER_PRACTICE: &str = "Y99903";
/// The referring practice: a practice of the test's own, so the demo's referrals do not
/// enter its counts.
const PRACTICE: &str = "Y90801";
/// The referring practice's one patient.
const PATIENT_NHS: &str = "9990000026";
const PATIENT_NAME: &str = "Rhoda Referral";
/// A valid NHS number in the test range that no demo patient holds.
const NOT_ON_CASELOAD: &str = "9990000018";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    app.send(
        method,
        &format!("/api/v1{path}"),
        Some(token),
        body.as_ref(),
    )
    .await
}

async fn user(app: &TestApp, username: &str, org: &str, roles: &[&str]) -> String {
    app.create_user(username, org, roles, "referral-password")
        .await;
    app.login_with(username, "referral-password").await["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn referral(patient: Value, specialty: &str, urgency: &str) -> Value {
    let mut body = json!({
        "specialty": specialty,
        "urgency": urgency,
        "condition": "Atrial fibrillation",
        "clinical_question": "Rate or rhythm control?",
        "relevant_history": "Palpitations for 3 months; ECG shows AF; on bisoprolol.",
    });
    for (k, v) in patient.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn a_referral_goes_from_referrer_to_reviewer_and_back() {
    referral_loop(&spawn_app().await).await;
}

#[tokio::test]
async fn a_referral_goes_from_referrer_to_reviewer_and_back_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    referral_loop(&app).await;
    drop_database(&name).await;
}

async fn referral_loop(app: &TestApp) {
    let (cm, patient) = referring_practice(app).await;
    let mdt = app.login("mdt.demo").await;
    let commissioner = app.login("commissioner.demo").await;
    let canal_cm = user(app, "cm.canal", REVIEWER_PRACTICE, &["case_manager"]).await;
    let canal_admin = user(app, "admin.canal", REVIEWER_PRACTICE, &["admin"]).await;
    // The practice's administrator creates its GP reviewer.
    let r = call(
        app,
        Method::POST,
        "/admin/users",
        &canal_admin,
        Some(json!({
            "username": "rev.cardio",
            "name": "rev.cardio (test)",
            "organisation": REVIEWER_PRACTICE,
            "roles": ["gp_reviewer"],
            "password": "referral-password",
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let login = app.login_with("rev.cardio", "referral-password").await;
    assert_eq!(login["user"]["role"], "gp_reviewer", "{login}");
    let reviewer = login["token"].as_str().unwrap().to_owned();
    let patient_name = PATIENT_NAME.to_owned();

    // The specialties are the seeds'.
    let r = call(app, Method::GET, "/referrals/specialties", &cm, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let names = r.json()["specialties"].clone();
    assert_eq!(names.as_array().unwrap().len(), 11, "{names}");
    assert!(
        names
            .as_array()
            .unwrap()
            .contains(&json!("Elderly Medicine"))
    );

    // The practice's administrator cannot assign another organisation's reviewer; the
    // reviewer's own can, and only to a reviewed specialty.
    let assign = json!({ "username": "rev.cardio", "specialty": "cardiology", "mentored": true });
    let admin = app.login("admin.demo").await;
    let r = call(
        app,
        Method::POST,
        "/referrals/reviewers",
        &admin,
        Some(assign.clone()),
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = call(
        app,
        Method::POST,
        "/referrals/reviewers",
        &canal_admin,
        Some(json!({ "username": "rev.cardio", "specialty": "Podiatry", "mentored": true })),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = call(
        app,
        Method::POST,
        "/referrals/reviewers",
        &canal_admin,
        Some(json!({ "username": "cm.canal", "specialty": "Cardiology", "mentored": false })),
    )
    .await;
    assert_eq!(r.status, 400, "a case manager is not a reviewer: {r:?}");
    let r = call(
        app,
        Method::POST,
        "/referrals/reviewers",
        &canal_admin,
        Some(assign),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = call(app, Method::GET, "/referrals/reviewers", &reviewer, None).await;
    let reviewers = r.json()["reviewers"].clone();
    let mine: Vec<&Value> = reviewers
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["username"] == "rev.cardio")
        .collect();
    assert_eq!(mine.len(), 1, "{reviewers}");
    assert_eq!(
        (mine[0]["specialty"].as_str(), mine[0]["mentored"].as_bool()),
        (Some("Cardiology"), Some(true))
    );

    // A reviewer reaches referrals, never a plan.
    let r = app.get("/api/v1/patients", Some(&reviewer)).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = app
        .get(&format!("/api/v1/patients/{patient}/fhir"), Some(&reviewer))
        .await;
    assert!(matches!(r.status, 403 | 404), "{r:?}");

    // Refusals when making a referral, each before anything is stored.
    for (urgency, shown) in [("urgent", "urgent"), ("two_week_wait", "two-week-wait")] {
        let r = call(
            app,
            Method::POST,
            "/referrals",
            &cm,
            Some(referral(
                json!({ "patient_id": patient }),
                "Cardiology",
                urgency,
            )),
        )
        .await;
        assert_eq!(r.status, 400, "{r:?}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(shown) && message.contains("bypass peer review"),
            "{message}"
        );
    }
    let r = call(
        app,
        Method::POST,
        "/referrals",
        &mdt,
        Some(referral(
            json!({ "patient_id": patient }),
            "Cardiology",
            "routine",
        )),
    )
    .await;
    assert_eq!(r.status, 403, "an MDT member does not refer: {r:?}");
    let r = call(
        app,
        Method::POST,
        "/referrals",
        &canal_cm,
        Some(referral(
            json!({ "patient_id": patient }),
            "Cardiology",
            "routine",
        )),
    )
    .await;
    assert_eq!(r.status, 404, "another practice's patient: {r:?}");
    let r = call(
        app,
        Method::POST,
        "/referrals",
        &cm,
        Some(referral(
            json!({ "patient_id": patient }),
            "Podiatry",
            "routine",
        )),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = call(app, Method::POST, "/referrals", &cm, Some(referral(json!({ "nhs_number": "9990000019", "patient_name": "X", "date_of_birth": "1950-01-01" }), "Cardiology", "routine"))).await;
    assert_eq!(r.status, 400, "a bad check digit: {r:?}");
    let r = call(app, Method::POST, "/referrals", &cm, Some(referral(json!({ "nhs_number": NOT_ON_CASELOAD, "patient_name": "Y", "date_of_birth": "2999-01-01" }), "Cardiology", "routine"))).await;
    assert_eq!(r.status, 400, "born in the future: {r:?}");
    let refused = app.audit_of("referral.create").await;
    assert_eq!(
        refused.iter().filter(|e| e.outcome == "refused").count(),
        3,
        "{refused:?}"
    );
    assert_eq!(
        refused.iter().filter(|e| e.outcome == "denied").count(),
        1,
        "{refused:?}"
    );

    // Two routine referrals: a caseload patient, and a patient by NHS number.
    let r = call(
        app,
        Method::POST,
        "/referrals",
        &cm,
        Some(referral(
            json!({ "patient_id": patient }),
            "Cardiology",
            "routine",
        )),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let a = r.json();
    let holidays: Vec<Date> = app
        .store
        .bank_holidays()
        .await
        .unwrap()
        .iter()
        .filter_map(|d| Date::parse(d))
        .collect();
    let today = Date::from_unix_ms(now_ms());
    assert_eq!(a["state"], "awaiting_review");
    assert_eq!(a["patient_name"], patient_name.as_str());
    assert_eq!(a["deadline"], review_deadline(today, &holidays).to_string());
    let a_id = a["id"].as_str().unwrap().to_owned();
    let r = call(app, Method::POST, "/referrals", &cm, Some(referral(json!({ "nhs_number": "999 000 0018", "patient_name": "Walk In", "date_of_birth": "1944-04-04" }), "Cardiology", "routine"))).await;
    assert_eq!(r.status, 201, "{r:?}");
    let b = r.json();
    assert_eq!(
        (b["nhs_number"].as_str(), b["patient_id"].is_null()),
        (Some(NOT_ON_CASELOAD), true)
    );
    let b_id = b["id"].as_str().unwrap().to_owned();
    // B has waited since the summer: overdue, so first in the queue.
    backdate(app, &b_id, "2026-06-01", "2026-06-04").await;

    // The reviewer's queue, by deadline, with the overdue flag.
    let r = call(app, Method::GET, "/referrals/queue", &reviewer, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let queue = r.json()["queue"].clone();
    let queue = queue.as_array().unwrap();
    // The demo's Cardiology referrals share the queue; only Cardiology is there.
    assert!(
        queue.iter().all(|q| q["specialty"] == "Cardiology"),
        "{queue:?}"
    );
    let deadlines: Vec<&str> = queue
        .iter()
        .map(|q| q["deadline"].as_str().unwrap())
        .collect();
    assert!(deadlines.is_sorted(), "{deadlines:?}");
    let ours: Vec<&Value> = queue
        .iter()
        .filter(|q| q["id"] == a_id.as_str() || q["id"] == b_id.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "{queue:?}");
    assert_eq!(
        (ours[0]["id"].as_str(), ours[0]["overdue"].as_bool()),
        (Some(b_id.as_str()), Some(true))
    );
    assert_eq!(
        (ours[1]["id"].as_str(), ours[1]["overdue"].as_bool()),
        (Some(a_id.as_str()), Some(false))
    );
    assert_eq!(ours[1]["practice"]["code"], PRACTICE);
    let r = call(
        app,
        Method::GET,
        "/referrals/queue?specialty=Dermatology",
        &reviewer,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "not the reviewer's specialty: {r:?}");
    let r = call(app, Method::GET, "/referrals/queue", &cm, None).await;
    assert_eq!(r.status, 403, "{r:?}");

    // Another practice neither sees nor decides it; the referrer cannot decide it.
    let forward = json!({ "kind": "forward", "note": "Please see in AF clinic." });
    let r = call(
        app,
        Method::GET,
        &format!("/referrals/{a_id}"),
        &canal_cm,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &canal_cm,
        Some(forward.clone()),
    )
    .await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &cm,
        Some(forward.clone()),
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &reviewer,
        Some(json!({ "kind": "acknowledge" })),
    )
    .await;
    assert_eq!(r.status, 400, "not a decision: {r:?}");

    // A question, an answer (a fresh deadline), then advice.
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &reviewer,
        Some(json!({ "kind": "ask_question", "question": "Has an echo been done?" })),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["state"].as_str()),
        (200, Some("question_asked")),
        "{r:?}"
    );
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &reviewer,
        Some(forward.clone()),
    )
    .await;
    assert_eq!(r.status, 409, "waiting for the referrer: {r:?}");
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/answer"),
        &cm,
        Some(json!({ "answer": "No echo yet." })),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["state"].as_str()),
        (200, Some("awaiting_review")),
        "{r:?}"
    );
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &reviewer,
        Some(json!({ "kind": "return", "advice": { "re_refer_when": "later" } })),
    )
    .await;
    assert_eq!(r.status, 400, "advice without tests or treatment: {r:?}");
    let advice = json!({ "kind": "return", "advice": {
        "tests": "Echocardiogram and thyroid function",
        "treatment": "Anticoagulate (CHA2DS2-VASc 3); titrate bisoprolol",
        "re_refer_when": "If symptomatic at rate < 110 after 6 weeks",
    }});
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &reviewer,
        Some(advice),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["state"].as_str()),
        (200, Some("returned")),
        "{r:?}"
    );
    assert_eq!(r.json()["decided_on"], today.to_string());
    // The patient is case-managed: the outcome is in their plan, from the reviewer.
    assert_eq!(r.json()["plan_updated"], true, "{r:?}");
    let plan = app
        .get(&format!("/api/v1/patients/{patient}/fhir"), Some(&cm))
        .await;
    assert_eq!(plan.status, 200, "{plan:?}");
    assert!(
        plan.body.contains("returned with advice")
            && plan.body.contains("Echocardiogram and thyroid function")
            && plan.body.contains("rev.cardio (test)"),
        "{}",
        plan.body
    );

    // B is forwarded, late; a second decision on it is refused: it is closed.
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{b_id}/decision"),
        &reviewer,
        Some(forward.clone()),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["state"].as_str()),
        (200, Some("forwarded")),
        "{r:?}"
    );
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{b_id}/decision"),
        &reviewer,
        Some(forward.clone()),
    )
    .await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(
        r.json()["message"].as_str().unwrap().contains("closed"),
        "{r:?}"
    );

    // The referrer's list shows the outcome; the detail says what they can do.
    let r = call(app, Method::GET, "/referrals", &cm, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["needs_you"], 1);
    assert_eq!(r.json()["referrals"].as_array().unwrap().len(), 2);
    let r = call(app, Method::GET, "/referrals?state=returned", &cm, None).await;
    assert_eq!(r.json()["referrals"].as_array().unwrap().len(), 1);
    let r = call(app, Method::GET, "/referrals?state=lost", &cm, None).await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = call(app, Method::GET, &format!("/referrals/{a_id}"), &cm, None).await;
    let detail = r.json();
    assert_eq!(detail["you_are"], "referrer");
    assert_eq!(detail["your_steps"], json!(["acknowledge"]));
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ask_question", "answer", "return"]);
    assert_eq!(detail["events"][2]["mentored"], true);
    assert_eq!(
        detail["events"][2]["body"]["advice"]["tests"],
        "Echocardiogram and thyroid function"
    );

    // The patient's letter, for the referring practice only.
    let r = call(
        app,
        Method::GET,
        &format!("/referrals/{a_id}/letter"),
        &cm,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.body.contains(&patient_name)
            && r.body.contains("Echocardiogram")
            && r.body.contains("closer to home"),
        "{}",
        r.body
    );
    let r = call(
        app,
        Method::GET,
        &format!("/referrals/{a_id}/letter"),
        &reviewer,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");

    // Acknowledged once; a second time is a step on a closed referral.
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/acknowledge"),
        &cm,
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.json()["state"].as_str()),
        (200, Some("advice_acknowledged")),
        "{r:?}"
    );
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/acknowledge"),
        &cm,
        None,
    )
    .await;
    assert_eq!(r.status, 409, "{r:?}");
    let r = call(
        app,
        Method::POST,
        &format!("/referrals/{a_id}/decision"),
        &reviewer,
        Some(forward),
    )
    .await;
    assert_eq!(r.status, 409, "{r:?}");

    // The learning report: outcomes and turnaround, no patient.
    let r = call(app, Method::GET, "/referrals/report", &cm, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let own = r.json();
    assert!(
        own["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["practice"].is_null() || l["practice"] == PRACTICE),
        "{own}"
    );
    let r = call(app, Method::GET, "/referrals/report", &commissioner, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let report = r.json();
    assert!(
        report["total"]["referrals"].as_u64().unwrap() > 2,
        "the demo practice's referrals count too"
    );
    let total = &own["total"];
    assert_eq!(
        (
            total["referrals"].as_u64(),
            total["forwarded"].as_u64(),
            total["returned"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(
        (
            total["questions_asked"].as_u64(),
            total["advice_tests"].as_u64(),
            total["advice_treatment"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        (
            total["decided_on_time"].as_u64(),
            total["decided_late"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    let line = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["practice"] == PRACTICE && l["condition"] == "atrial fibrillation")
        .expect("the practice's AF line")
        .clone();
    assert_eq!(line["referrals"], 2);
    for secret in [
        patient_name.as_str(),
        NOT_ON_CASELOAD,
        "Walk In",
        "Rate or rhythm",
        "Palpitations",
    ] {
        assert!(!r.body.contains(secret), "the report shows {secret}");
    }
    let r = call(
        app,
        Method::GET,
        "/referrals/report?format=csv",
        &commissioner,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut csv = csv::Reader::from_reader(r.body.as_bytes());
    assert_eq!(&csv.headers().unwrap()[0], "practice");
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), report["lines"].as_array().unwrap().len());
    assert!(
        rows.iter().any(|row| &row[0] == PRACTICE
            && &row[1] == "Cardiology"
            && &row[2] == "all"
            && &row[3] == "2"),
        "{rows:?}"
    );
    let r = call(
        app,
        Method::GET,
        "/referrals/report?from=2026-13-01",
        &commissioner,
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = call(app, Method::GET, "/referrals/report", &canal_cm, None).await;
    assert_eq!(
        r.json()["total"]["referrals"],
        0,
        "a practice sees its own referrals only"
    );
    let demo_cm = app.login("cm1.demo").await;
    let r = call(app, Method::GET, "/referrals/report", &demo_cm, None).await;
    assert_eq!(
        r.json()["total"]["referrals"],
        5,
        "the demo practice's: {r:?}"
    );
    let r = call(app, Method::GET, "/referrals/report", &mdt, None).await;
    assert_eq!(r.status, 403, "{r:?}");

    // Every read and step is in the audit log, with the patient where they have a plan.
    let steps = app.audit_of("referral.step").await;
    // The demo's three steps are audited as the demo reviewer's; this test's five as its own.
    let demo: Vec<_> = steps
        .iter()
        .filter(|e| e.username.as_deref() == Some("reviewer.demo"))
        .collect();
    assert_eq!(
        demo.iter().filter(|e| e.outcome == "ok").count(),
        3,
        "{demo:?}"
    );
    assert_eq!(
        demo.iter().filter(|e| e.outcome == "plan").count(),
        2,
        "the demo's two decisions on case-managed patients are in their plans: {demo:?}"
    );
    let steps: Vec<_> = steps
        .into_iter()
        .filter(|e| e.username.as_deref() != Some("reviewer.demo"))
        .collect();
    let ok: Vec<_> = steps.iter().filter(|e| e.outcome == "ok").collect();
    assert_eq!(ok.len(), 5, "{steps:?}");
    assert!(
        steps
            .iter()
            .any(|e| e.outcome == "plan" && e.patient_id.as_deref() == Some(patient.as_str())),
        "the plan entry is audited with the step: {steps:?}"
    );
    assert!(
        ok.iter()
            .filter(|e| e.subject == a_id)
            .all(|e| e.patient_id.as_deref() == Some(patient.as_str()))
    );
    assert!(
        steps
            .iter()
            .any(|e| e.outcome == "refused" && e.role.as_deref() == Some("gp_reviewer"))
    );
    let reads = app.audit_of("referral.read").await;
    assert!(
        reads.iter().any(|e| e.subject == a_id
            && e.purpose == "peer_review"
            && e.role.as_deref() == Some("gp_reviewer")),
        "{reads:?}"
    );
    assert!(
        reads
            .iter()
            .any(|e| e.outcome == "denied" && e.subject == a_id),
        "another practice's attempt is audited"
    );
    let report_reads = app.audit_of("referral.report").await;
    assert!(report_reads.iter().all(|e| e.patient_id.is_none()));
}
