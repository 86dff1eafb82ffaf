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

/// Two tablets of cm1 record different DNACPR decisions for a consenting patient without
/// seeing each other's; both are acknowledged. Returns the patient's id and NHS number.
pub(crate) async fn record_conflicting_dnacpr(app: &TestApp) -> (String, String) {
    use redfolder_shared::{DnacprStatus, Edit};

    use crate::client::SyncClient;

    let token = app.login("cm1.demo").await;
    let (consenting, _) = patients(app).await;
    let id = consenting["id"].as_str().unwrap().to_owned();
    let nhs = consenting["nhs_number"].as_str().unwrap().to_owned();
    let mut a = SyncClient::connect(&app.ws_url(), &token, "conflict-tablet-a").await;
    a.sync_caseload().await;
    let mut b = SyncClient::connect(&app.ws_url(), &token, "conflict-tablet-b").await;
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
    (id, nhs)
}

/// What every surface must say in place of a DNACPR value while decisions conflict.
pub(crate) const CONFLICT_LABEL: &str = "Conflicting: DNACPR in place: do not attempt CPR / For attempted CPR \u{2014} confirm with the care team";

/// The conflicting DNACPR label, whichever of the two tablets wrote first.
pub(crate) fn is_conflict_label(label: &Value) -> bool {
    let reversed = "Conflicting: For attempted CPR / DNACPR in place: do not attempt CPR \u{2014} confirm with the care team";
    label == CONFLICT_LABEL || label == reversed
}

async fn conflicting_dnacpr_is_never_served_as_settled(app: &TestApp) {
    let (id, nhs) = record_conflicting_dnacpr(app).await;
    let crew = app.login("ambulance.demo").await;

    // The crew's JSON summary: the plain fields carry the conflict, not a winner.
    let summary = app.emergency_summary(&nhs, Some(&crew)).await;
    assert_eq!(summary.status, 200, "{summary:?}");
    let summary = summary.json();
    assert_eq!(summary["dnacpr"], "conflicting", "{summary}");
    assert!(is_conflict_label(&summary["dnacpr_label"]), "{summary}");
    assert_eq!(summary["resuscitation"]["conflicting"], true);
    assert_eq!(summary["resuscitation"]["recorded"], Value::Null);
    assert!(is_conflict_label(&summary["resuscitation"]["label"]));
    let values = summary["resuscitation"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 2, "{summary}");
    assert!(
        values
            .iter()
            .all(|v| v["recorded"]["user_name"].is_string())
    );

    // The FHIR document codes neither decision as final.
    let fhir = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?format=fhir"),
            Some(&crew),
        )
        .await;
    assert_eq!(fhir.status, 200, "{fhir:?}");
    let fhir = fhir.json();
    let observations: Vec<&Value> = fhir["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Observation")
        .collect();
    assert_eq!(observations.len(), 2, "{fhir:#}");
    assert!(observations.iter().all(|o| o["status"] == "preliminary"));
    assert!(fhir.to_string().contains("confirm with the care team"));

    // The caseload row (badges and filters read it) says conflicting too.
    let caseload = app.caseload().await;
    let row = caseload.iter().find(|p| p["id"] == id.as_str()).unwrap();
    assert_eq!(row["dnacpr"], "conflicting", "{row}");
}

#[tokio::test]
async fn a_conflicting_dnacpr_is_never_served_as_settled() {
    let app = spawn_app().await;
    conflicting_dnacpr_is_never_served_as_settled(&app).await;
}

#[tokio::test]
async fn a_conflicting_dnacpr_is_never_served_as_settled_on_postgres() {
    let Some((app, database)) = crate::helpers::spawn_postgres_app().await else {
        return;
    };
    conflicting_dnacpr_is_never_served_as_settled(&app).await;
    drop(app);
    crate::helpers::drop_database(&database).await;
}

/// The documented canonical form, written independently of the server's: the JSON
/// without its top-level `signature`, keys sorted, no whitespace.
fn canonical(value: &Value) -> Vec<u8> {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut v = sorted(value);
    v.as_object_mut().unwrap().remove("signature");
    serde_json::to_vec(&v).unwrap()
}

pub(crate) fn verifies(public_hex: &str, content: &Value, signature_b64: &str) -> bool {
    use base64::Engine;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let public: [u8; 32] = hex::decode(public_hex).unwrap().try_into().unwrap();
    let bytes: [u8; 64] = base64::engine::general_purpose::STANDARD
        .decode(signature_b64)
        .unwrap()
        .try_into()
        .unwrap();
    VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify(&canonical(content), &Signature::from_bytes(&bytes))
        .is_ok()
}

#[tokio::test]
async fn served_summaries_are_signed_and_a_tampered_one_fails_the_check() {
    let app = spawn_app().await;
    let (consenting, _) = patients(&app).await;
    let nhs = consenting["nhs_number"].as_str().unwrap();
    let crew = app.login("ambulance.demo").await;

    // The public key is published without signing in.
    let keys = app.get("/api/v1/emergency/signing-key", None).await;
    assert_eq!(keys.status, 200, "{keys:?}");
    let keys = keys.json();
    assert_eq!(keys["algorithm"], "Ed25519");
    let active = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["active"] == true)
        .unwrap()
        .clone();
    let public = active["public_key_hex"].as_str().unwrap();

    let summary = app.emergency_summary(nhs, Some(&crew)).await.json();
    // "As of": the version, when it last changed and by whom, all under the signature.
    assert!(
        summary["plan_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert!(
        summary["last_updated_at_ms"]
            .as_i64()
            .is_some_and(|t| t > 0)
    );
    assert!(summary["last_updated_by"]["name"].is_string(), "{summary}");
    let signature = &summary["signature"];
    assert_eq!(signature["algorithm"], "Ed25519");
    assert_eq!(signature["key_id"], active["key_id"]);
    let value = signature["value"].as_str().unwrap();
    assert!(
        verifies(public, &summary, value),
        "a served summary does not verify"
    );

    for (field, forged) in [
        ("dnacpr", "do_not_attempt_cpr"),
        ("plan_version", "0000"),
        ("name", "Someone Else"),
    ] {
        let mut tampered = summary.clone();
        tampered[field] = Value::from(forged);
        assert!(
            !verifies(public, &tampered, value),
            "{field} changed yet verifies"
        );
    }
    let mut later = summary.clone();
    later["last_updated_at_ms"] = Value::from(summary["last_updated_at_ms"].as_i64().unwrap() + 1);
    assert!(!verifies(public, &later, value));

    // The FHIR document carries the same in Bundle.signature.
    let fhir = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?format=fhir"),
            Some(&crew),
        )
        .await
        .json();
    crate::fhir::validate("signed summary document", &fhir);
    let data = fhir["signature"]["data"].as_str().unwrap();
    assert!(
        verifies(public, &fhir, data),
        "the FHIR document does not verify"
    );
    let mut tampered = fhir.clone();
    tampered["timestamp"] = Value::from("2000-01-01T00:00:00Z");
    assert!(!verifies(public, &tampered, data));

    // Feed items too.
    let feed = app
        .get("/api/v1/emergency/feed?limit=1000", Some(&crew))
        .await
        .json();
    let item = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "summary")
        .unwrap();
    let s = &item["summary"];
    assert!(verifies(
        public,
        s,
        s["signature"]["value"].as_str().unwrap()
    ));
}

#[tokio::test]
async fn rotating_the_signing_key_keeps_the_old_one_published() {
    let app = spawn_app().await;
    let before = app.get("/api/v1/emergency/signing-key", None).await.json();
    let old = before["keys"][0]["key_id"].clone();
    let key = redfolder_server::admin::rotate_signing_key(
        &app.store,
        redfolder_server::admin::Operator::Cli,
    )
    .await
    .unwrap();
    let after = app.get("/api/v1/emergency/signing-key", None).await.json();
    let keys = after["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{after}");
    assert_eq!(keys[0]["key_id"], key.key_id.as_str());
    assert_eq!(keys[0]["active"], true);
    assert_eq!(keys[1]["key_id"], old);
    assert_eq!(keys[1]["active"], false);
    assert!(keys[1]["retired_at_ms"].as_i64().is_some());
    let audited = app.audit_of("admin").await;
    assert!(
        audited
            .iter()
            .any(|e| e.detail.contains(&format!("signing key to {}", key.key_id))),
        "the rotation was not audited"
    );
}

/// The UPDATE in migration 0006 (`flavour` is `sqlite` or `postgres`).
fn caseload_fix(flavour: &str) -> String {
    let path = format!(
        "{}/../crates/server/migrations/{flavour}/0006_signing_keys.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let sql = std::fs::read_to_string(path).unwrap();
    sql[sql.find("UPDATE patients").unwrap()..].to_owned()
}

/// A caseload row written before the DNACPR flag could say "conflicting" (simulated by
/// putting a winner back) is corrected by migration 0006's update, and only that row.
/// Puts a winner back in a conflicting plan's caseload row, as before this control, runs
/// the migration's update, and checks the caseload is as the projection wrote it.
macro_rules! check_caseload_fix {
    ($pool:expr, $app:expr, $sql:expr) => {{
        let (id, _) = record_conflicting_dnacpr($app).await;
        let dnacpr = |rows: Vec<Value>| {
            rows.into_iter()
                .map(|p| (p["id"].as_str().unwrap().to_owned(), p["dnacpr"].clone()))
                .collect::<Vec<_>>()
        };
        let before = dnacpr($app.caseload().await);
        assert!(before.contains(&(id.clone(), Value::from("conflicting"))));
        sqlx::query("UPDATE patients SET dnacpr = 'do_not_attempt_cpr' WHERE id = $1")
            .bind(id.as_str())
            .execute($pool)
            .await
            .unwrap();
        assert_ne!(dnacpr($app.caseload().await), before);
        sqlx::raw_sql(sqlx::AssertSqlSafe($sql))
            .execute($pool)
            .await
            .unwrap();
        assert_eq!(dnacpr($app.caseload().await), before);
    }};
}

/// A caseload row written before the DNACPR flag could say "conflicting" is corrected by
/// migration 0006's update, and only that row.
#[tokio::test]
async fn migration_0006_marks_old_caseload_rows_of_conflicting_plans() {
    let app = spawn_app().await;
    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    check_caseload_fix!(&pool, &app, caseload_fix("sqlite"));

    if let Some((app, database)) = crate::helpers::spawn_postgres_app().await {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        check_caseload_fix!(&pool, &app, caseload_fix("postgres"));
        pool.close().await;
        drop(app);
        crate::helpers::drop_database(&database).await;
    }
}
