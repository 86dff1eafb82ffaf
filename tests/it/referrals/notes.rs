//! The GP reviewer's education notes to a practice, on SQLite and PostgreSQL: written only
//! in the writer's specialties, never naming a patient, read by the practice they were
//! written to (and the writer, and commissioners), every write and read audited.

use reqwest::Method;
use serde_json::json;

use super::{REVIEWER_PRACTICE, call, user};
use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};

/// The demo practice, which `reviewer.demo` writes to.
const DEMO_PRACTICE: &str = "Y99901";

#[tokio::test]
async fn a_reviewer_writes_an_education_note_to_a_practice() {
    education_notes(&spawn_app().await).await;
}

#[tokio::test]
async fn a_reviewer_writes_an_education_note_to_a_practice_on_postgres() {
    let Some((app, name)) = spawn_postgres_app().await else {
        return;
    };
    education_notes(&app).await;
    drop_database(&name).await;
}

async fn education_notes(app: &TestApp) {
    let reviewer = app.login("reviewer.demo").await;
    let cm = app.login("cm1.demo").await;
    let commissioner = app.login("commissioner.demo").await;
    let mdt = app.login("mdt.demo").await;
    let elsewhere = user(app, "cm.elsewhere", REVIEWER_PRACTICE, &["case_manager"]).await;
    let note = |specialty: &str, title: &str, body: &str| {
        json!({
            "practice_code": DEMO_PRACTICE,
            "specialty": specialty,
            "condition": "Eczema",
            "title": title,
            "body": body,
        })
    };
    let good = note(
        "dermatology",
        "Eczema referrals: try the full ladder first",
        "Of 12 eczema referrals this quarter, 9 had not had a potent steroid. Patch testing needs a dermatology clinic; most flexural eczema settles with the ladder.",
    );

    // Refusals: nothing is stored by any of them.
    for (token, body, status, why) in [
        (&cm, good.clone(), 403, "a case manager is not a reviewer"),
        (
            &reviewer,
            note("Urology", "Title", "Body"),
            403,
            "not a specialty the writer reviews",
        ),
        (
            &reviewer,
            note("Podiatry", "Title", "Body"),
            400,
            "not a reviewed specialty at all",
        ),
        (
            &reviewer,
            note("Dermatology", "  ", "Body"),
            400,
            "a blank title",
        ),
        (
            &reviewer,
            note(
                "Dermatology",
                "One patient",
                "As for Mrs X (943 476 5919), use emollients.",
            ),
            400,
            "an NHS number in the text",
        ),
        (
            &reviewer,
            {
                let mut b = good.clone();
                b["practice_code"] = "Z00000".into();
                b
            },
            400,
            "no such practice",
        ),
    ] {
        let r = call(
            app,
            Method::POST,
            "/referrals/education-notes",
            token,
            Some(body),
        )
        .await;
        assert_eq!(r.status, status, "{why}: {r:?}");
    }
    let r = call(
        app,
        Method::GET,
        "/referrals/education-notes",
        &reviewer,
        None,
    )
    .await;
    assert_eq!(r.json()["notes"], json!([]), "refusals store nothing");

    let r = call(
        app,
        Method::POST,
        "/referrals/education-notes",
        &reviewer,
        Some(good),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let written = r.json();
    assert_eq!(
        written["specialty"], "Dermatology",
        "the configured spelling"
    );
    assert_eq!(written["practice_code"], DEMO_PRACTICE);
    assert_eq!(written["condition"], "Eczema");

    // The practice written to, the writer and commissioners read it; another practice
    // does not; an MDT member may not list notes at all.
    for (token, expected) in [
        (&cm, 1),
        (&reviewer, 1),
        (&commissioner, 1),
        (&elsewhere, 0),
    ] {
        let r = call(app, Method::GET, "/referrals/education-notes", token, None).await;
        assert_eq!(r.status, 200, "{r:?}");
        let notes = r.json()["notes"].as_array().unwrap().clone();
        assert_eq!(notes.len(), expected, "{notes:?}");
        if expected == 1 {
            assert_eq!(notes[0]["id"], written["id"]);
            assert!(
                notes[0]["body"]
                    .as_str()
                    .unwrap()
                    .contains("potent steroid")
            );
        }
    }
    let r = call(app, Method::GET, "/referrals/education-notes", &mdt, None).await;
    assert_eq!(r.status, 403, "{r:?}");

    let audit = app.audit_of("referral.education").await;
    let id = written["id"].as_str().unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.outcome == "ok" && e.subject == id && e.patient_id.is_none()),
        "the write is audited: {audit:?}"
    );
    assert!(
        audit.iter().filter(|e| e.outcome == "denied").count() >= 3,
        "the case manager's write, the Urology note and the MDT member's read: {audit:?}"
    );
    assert!(
        audit
            .iter()
            .filter(|e| e.outcome == "ok" && e.detail.starts_with("read"))
            .count()
            >= 4,
        "every read is audited: {audit:?}"
    );
}
