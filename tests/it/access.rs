//! The access matrix: every role × every route and sync operation × consent given and
//! withdrawn, on SQLite and on PostgreSQL. Each cell is observed against the real server
//! and compared with what the rules allow; afterwards the plan is checked to hold no write
//! the rules forbid, and the audit log to hold the reads.

use std::collections::BTreeMap;

use redfolder_shared::{DnacprStatus, Edit, Editor};
use reqwest::Method;
use serde_json::{Value, json};

use crate::device::{Device, Outcome, change_carrying_frame};
use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Given,
    Withdrawn,
}

/// The roles of the matrix: a name, and the login (None for an anonymous caller).
const ROLES: &[(&str, Option<(&str, &str)>)] = &[
    ("case_manager", Some(("cm1.demo", "demo"))),
    (
        "case_manager_elsewhere",
        Some(("cm.other", "password-other-1")),
    ),
    ("mdt_member", Some(("mdt.demo", "demo"))),
    ("mdt_member_elsewhere", Some(("mdt.out", "password-out-1"))),
    ("emergency_clinician", Some(("ambulance.demo", "demo"))),
    ("commissioner", Some(("commissioner.demo", "demo"))),
    ("admin", Some(("admin.demo", "demo"))),
    ("anonymous", None),
];

/// The operations, in the order of the expectation rows below.
const OPS: &[&str] = &[
    "GET /patients",
    "GET care-team",
    "POST care-team",
    "DELETE care-team",
    "GET access-log",
    "GET summary",
    "GET summary?dob",
    "GET feed",
    "GET reports",
    "GET admin/users",
    "POST admin/revoke",
    "sync Hello",
    "sync open",
    "sync write medication",
    "sync write DNACPR",
    "sync write consent",
    "sync write identity",
];

/// What the rules allow, one row per role and phase, one cell per operation in [`OPS`].
fn expected(role: &str, phase: Phase) -> [&'static str; 17] {
    const NO_SYNC: [&str; 5] = [
        "caseload-",
        "forbidden",
        "forbidden",
        "forbidden",
        "forbidden",
    ];
    let no_write = "forbidden";
    let row = |http: [&'static str; 11], sync: [&'static str; 6]| {
        let mut all = [""; 17];
        all[..11].copy_from_slice(&http);
        all[11..].copy_from_slice(&sync);
        all
    };
    let other = |list: &'static str, team: &'static str, cm_only: &'static str| {
        row(
            [
                list, team, cm_only, cm_only, cm_only, "403", "403", "403", "403", "403", "403",
            ],
            [
                NO_SYNC[0], NO_SYNC[1], NO_SYNC[2], NO_SYNC[3], NO_SYNC[4], no_write,
            ],
        )
    };
    match (role, phase) {
        ("case_manager", _) => row(
            [
                "listed", "200", "201", "204", "200", "403", "403", "403", "403", "403", "403",
            ],
            ["caseload+", "synced", "acked", "acked", "acked", "acked"],
        ),
        ("case_manager_elsewhere", _) => other("unlisted", "404", "404"),
        ("mdt_member", Phase::Given) => row(
            [
                "listed", "200", "403", "403", "403", "403", "403", "403", "403", "403", "403",
            ],
            [
                "caseload+",
                "synced",
                "acked",
                "refused",
                "refused",
                "refused",
            ],
        ),
        ("mdt_member", Phase::Withdrawn) | ("mdt_member_elsewhere", _) => {
            other("unlisted", "404", "403")
        }
        ("emergency_clinician", phase) => {
            let (summary, feed) = match phase {
                Phase::Given => ("200", "summary"),
                Phase::Withdrawn => ("404", "withdrawal"),
            };
            row(
                [
                    "403", "403", "403", "403", "403", summary, summary, feed, "403", "403", "403",
                ],
                [
                    "caseload-",
                    "forbidden",
                    "forbidden",
                    "forbidden",
                    "forbidden",
                    "forbidden",
                ],
            )
        }
        ("commissioner", _) => row(
            [
                "403", "403", "403", "403", "403", "403", "403", "403", "200", "403", "403",
            ],
            [
                "caseload-",
                "forbidden",
                "forbidden",
                "forbidden",
                "forbidden",
                "forbidden",
            ],
        ),
        ("admin", _) => row(
            [
                "403", "403", "403", "403", "403", "403", "403", "403", "403", "200", "404",
            ],
            [
                "caseload-",
                "forbidden",
                "forbidden",
                "forbidden",
                "forbidden",
                "forbidden",
            ],
        ),
        ("anonymous", _) => row(
            ["401"; 11],
            [
                "unauthorized",
                "unauthorized",
                "unauthorized",
                "unauthorized",
                "unauthorized",
                "unauthorized",
            ],
        ),
        other => panic!("no expectations for {other:?}"),
    }
}

/// The patient the matrix is about, and what the edits need to know of them.
struct Subject {
    id: String,
    nhs: String,
    dob: String,
    identity: Edit,
    base: Vec<u8>,
    extra_org_id: String,
}

async fn run_matrix(app: &TestApp) {
    // People beyond the demo's: a case manager at another practice, and an MDT member
    // whose organisation is not in the patient's care team.
    app.create_user("cm.other", "Y99903", &["case_manager"], "password-other-1")
        .await;
    app.create_org("Y99906", "Ashbridge Social Care (test)", "social_care")
        .await;
    app.create_user("mdt.out", "Y99906", &["mdt_member"], "password-out-1")
        .await;
    let extra_org_id = app
        .create_org("Y99907", "Ashbridge Befrienders (test)", "voluntary_sector")
        .await;
    let mut tokens: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (role, login) in ROLES {
        let token = match login {
            Some((user, password)) => Some(
                app.login_with(user, password).await["token"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            None => None,
        };
        tokens.insert(role, token);
    }
    let cm_token = tokens["case_manager"].clone().unwrap();
    let mdt_token = tokens["mdt_member"].clone().unwrap();

    // A patient the MDT member can see (care team and MDT consent) who also consents to
    // emergency sharing.
    let listing = app.get("/api/v1/patients", Some(&mdt_token)).await.json();
    let patient = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .expect("a patient shared with the MDT and emergency services")
        .clone();
    let id = patient["id"].as_str().unwrap().to_owned();
    let add = app
        .send(
            Method::POST,
            &format!("/api/v1/patients/{id}/care-team"),
            Some(&cm_token),
            Some(&json!({ "organisation": "Y99907" })),
        )
        .await;
    assert_eq!(add.status, 201, "{add:?}");

    let mut cm = Device::connect(&app.ws_url(), &cm_token, "matrix-cm").await;
    cm.hello().await.unwrap();
    assert_eq!(cm.open(&id).await, Outcome::Synced);
    let plan = cm.docs.get(&id).unwrap().plan().unwrap();
    let subject = Subject {
        id: id.clone(),
        nhs: plan.patient.nhs_number.clone(),
        dob: plan.patient.date_of_birth.clone(),
        identity: Edit::SetPatient {
            nhs_number: plan.patient.nhs_number.clone(),
            name: plan.patient.name.clone(),
            date_of_birth: plan.patient.date_of_birth.clone(),
            address: plan.patient.address.clone(),
        },
        base: cm.docs.get_mut(&id).unwrap().save(),
        extra_org_id,
    };

    let mut mismatches = Vec::new();
    for phase in [Phase::Given, Phase::Withdrawn] {
        let consent = phase == Phase::Given;
        let set_consent = Edit::SetConsent {
            share_with_mdt: consent,
            share_with_emergency_services: consent,
        };
        assert_eq!(cm.write(&id, &set_consent).await, Outcome::Acked);
        for (role, _) in ROLES {
            let token = tokens[role].as_deref();
            let observed = observe(app, role, phase, token, &subject, &cm_token).await;
            let expected = expected(role, phase);
            for ((op, got), want) in OPS.iter().zip(&observed).zip(expected) {
                if got != want {
                    mismatches.push(format!(
                        "{role} / {phase:?} / {op}: expected {want}, got {got}"
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "the server's answers differ from the access rules:\n{}",
        mismatches.join("\n")
    );

    // No write the rules forbid reached the plan.
    let mut check = Device::connect(&app.ws_url(), &cm_token, "matrix-check").await;
    check.hello().await.unwrap();
    assert_eq!(check.open(&id).await, Outcome::Synced);
    let plan = check.docs.get(&id).unwrap().plan().unwrap();
    let meds: Vec<&str> = plan.medications.iter().map(|m| m.name.as_str()).collect();
    for (role, _) in ROLES {
        for phase in [Phase::Given, Phase::Withdrawn] {
            let name = med_name(role, phase);
            let allowed = expected(role, phase)[13] == "acked";
            assert_eq!(meds.contains(&name.as_str()), allowed, "{name} in {meds:?}");
        }
    }
    assert_eq!(
        plan.dnacpr,
        DnacprStatus::DoNotAttemptCpr,
        "an MDT member changed DNACPR"
    );
    assert!(
        plan.patient.address.ends_with("(case_manager-Withdrawn)"),
        "only the case manager changes identity: {}",
        plan.patient.address
    );
    assert!(!plan.consent.share_with_mdt && !plan.consent.share_with_emergency_services);

    // Every read and write is in the patient's access log.
    let log = app
        .get(
            &format!("/api/v1/patients/{id}/access-log"),
            Some(&cm_token),
        )
        .await
        .json();
    let entries = log["entries"].as_array().unwrap();
    let has = |role: &str, action: &str, outcome: &str| {
        entries
            .iter()
            .any(|e| e["role"] == role && e["action"] == action && e["outcome"] == outcome)
    };
    assert!(has("mdt_member", "plan.sync", "ok"));
    assert!(has("mdt_member", "plan.write", "accepted"));
    assert!(has("mdt_member", "plan.write", "refused"));
    assert!(has("case_manager", "plan.write", "accepted"));
    assert!(has("emergency_clinician", "emergency.summary", "ok"));
    assert!(has(
        "emergency_clinician",
        "emergency.summary",
        "no_consent"
    ));
    assert!(has("emergency_clinician", "emergency.feed", "ok"));
    assert!(
        has("case_manager", "plan.sync", "denied"),
        "another practice's attempt"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["at_ms"].as_i64().is_some_and(|t| t > 0))
    );
}

fn med_name(role: &str, phase: Phase) -> String {
    format!("Matrix {role} {phase:?}")
}

async fn observe(
    app: &TestApp,
    role: &str,
    phase: Phase,
    token: Option<&str>,
    subject: &Subject,
    cm_token: &str,
) -> Vec<String> {
    let id = &subject.id;
    let status = |r: &crate::helpers::Reply| r.status.to_string();
    let mut out = Vec::new();

    let list = app.get("/api/v1/patients", token).await;
    out.push(if list.status == 200 {
        let listed = list
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str());
        if listed { "listed" } else { "unlisted" }.to_owned()
    } else {
        status(&list)
    });
    out.push(status(
        &app.get(&format!("/api/v1/patients/{id}/care-team"), token)
            .await,
    ));
    let body = json!({ "organisation": "Y99907" });
    let team = format!("/api/v1/patients/{id}/care-team");
    out.push(status(
        &app.send(Method::POST, &team, token, Some(&body)).await,
    ));
    let remove = app
        .send(
            Method::DELETE,
            &format!("{team}/{}", subject.extra_org_id),
            token,
            None,
        )
        .await;
    if remove.status == 204 {
        let again = app
            .send(Method::POST, &team, Some(cm_token), Some(&body))
            .await;
        assert_eq!(again.status, 201);
    }
    out.push(status(&remove));
    out.push(status(
        &app.get(&format!("/api/v1/patients/{id}/access-log"), token)
            .await,
    ));
    out.push(status(&app.emergency_summary(&subject.nhs, token).await));
    out.push(status(
        &app.get(
            &format!(
                "/api/v1/emergency/summary/{}?dob={}",
                subject.nhs, subject.dob
            ),
            token,
        )
        .await,
    ));
    let feed = app
        .get("/api/v1/emergency/feed?since=0&limit=1000", token)
        .await;
    out.push(if feed.status == 200 {
        let body = feed.json();
        let mut kinds: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["patient_id"] == id.as_str())
            .map(|i| i["kind"].as_str().unwrap().to_owned())
            .collect();
        kinds.dedup();
        kinds.join("+")
    } else {
        status(&feed)
    });
    out.push(status(&app.get("/api/v1/reports/caseload", token).await));
    out.push(status(&app.get("/api/v1/admin/users", token).await));
    out.push(status(
        &app.send(
            Method::POST,
            "/api/v1/admin/devices/no-such-device/revoke",
            token,
            None,
        )
        .await,
    ));

    // Sync: Hello and open on one connection; each write from a fresh device of the same
    // user, so that one refusal does not colour the next.
    let ws = app.ws_url();
    let token = token.unwrap_or("not-a-token");
    let tag = format!("{role}-{phase:?}");
    let mut device = Device::connect(&ws, token, &tag).await;
    match device.hello().await {
        Err(outcome) => {
            out.push(outcome.name().to_owned());
            out.extend(std::iter::repeat_n(outcome.name().to_owned(), 5));
            return out;
        }
        Ok(()) => {
            let listed = device.caseload.as_ref().unwrap().contains(id);
            out.push(if listed { "caseload+" } else { "caseload-" }.to_owned());
        }
    }
    let opened = device.open(id).await;
    out.push(opened.name().to_owned());
    let consent = phase == Phase::Given;
    let writes = [
        Edit::AddMedication {
            id: format!("matrix-{tag}"),
            name: med_name(role, phase),
            dose: "1 mg".into(),
            notes: String::new(),
        },
        Edit::SetDnacpr {
            status: if role == "case_manager" {
                DnacprStatus::DoNotAttemptCpr
            } else {
                DnacprStatus::ForAttemptedCpr
            },
        },
        Edit::SetConsent {
            share_with_mdt: consent,
            share_with_emergency_services: consent,
        },
        // An identity edit that really changes something (reconciling equal values
        // writes nothing, so it would touch nothing).
        match &subject.identity {
            Edit::SetPatient {
                nhs_number,
                name,
                date_of_birth,
                address,
            } => Edit::SetPatient {
                nhs_number: nhs_number.clone(),
                name: name.clone(),
                date_of_birth: date_of_birth.clone(),
                address: format!("{address} ({tag})"),
            },
            other => other.clone(),
        },
    ];
    for (n, edit) in writes.iter().enumerate() {
        let outcome = if opened == Outcome::Synced {
            let mut writer = Device::connect(&ws, token, &format!("{tag}-{n}")).await;
            writer.hello().await.unwrap();
            assert_eq!(writer.open(id).await, Outcome::Synced);
            writer.write(id, edit).await
        } else {
            // A device that kept a copy of the plan sends a change anyway.
            let editor = device.editor.clone().unwrap_or(Editor {
                user_id: "x".into(),
                user_name: "x".into(),
            });
            let errors = device.errors.len();
            device
                .send(change_carrying_frame(id, &subject.base, &editor, edit))
                .await;
            device.read_until(|d| d.errors.len() > errors).await;
            match &device.errors[errors] {
                (redfolder_shared::protocol::ErrorCode::Forbidden, _, m) => {
                    Outcome::Forbidden(m.clone())
                }
                other => panic!("{role}: unexpected answer to a forbidden write: {other:?}"),
            }
        };
        out.push(outcome.name().to_owned());
    }
    out
}

#[tokio::test]
async fn the_access_matrix_holds_on_sqlite() {
    let app = spawn_app().await;
    run_matrix(&app).await;
}

#[tokio::test]
async fn the_access_matrix_holds_on_postgres() {
    let Some((app, database)) = spawn_postgres_app().await else {
        return;
    };
    run_matrix(&app).await;
    drop(app);
    drop_database(&database).await;
}

/// Commissioners' reports carry counts, never an identifiable field.
#[tokio::test]
async fn reports_are_aggregate_only() {
    let app = spawn_app().await;
    let token = app.login("commissioner.demo").await;
    let reply = app.get("/api/v1/reports/caseload", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let rows = reply.json();
    let practice = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["organisation_code"] == "Y99901")
        .unwrap()
        .clone();
    assert_eq!(practice["plans"], redfolder_server::demo::DEMO_CASELOAD);
    let text = reply.body;
    for forbidden in ["nhs_number", "date_of_birth", "\"name\":", "patient"] {
        assert!(!text.contains(forbidden), "{forbidden} in {text}");
    }
    let _: &Value = &practice;
}
