//! The referral tests' own practice and patient, and moving a referral back in time.

use redfolder_server::domain::{Committer, project};
use redfolder_server::store::NewPatient;
use redfolder_shared::{ActorId, Editor, NewPlan, PlanDoc};

use super::{PATIENT_NAME, PATIENT_NHS, PRACTICE, user};
use crate::client::now_ms;
use crate::helpers::TestApp;

/// The referring practice with a case manager and one patient with a plan; returns the
/// case manager's token and the patient's id.
pub(super) async fn referring_practice(app: &TestApp) -> (String, String) {
    let org = app
        .create_org(PRACTICE, "Referring Surgery", "gp_practice")
        .await;
    let token = user(app, "cm.referrer", PRACTICE, &["case_manager"]).await;
    let editor = Editor {
        user_id: "setup".into(),
        user_name: "Set Up".into(),
    };
    let new = NewPlan {
        nhs_number: PATIENT_NHS.into(),
        name: PATIENT_NAME.into(),
        date_of_birth: "1941-03-03".into(),
        address: "3 Referral Row".into(),
    };
    let mut doc =
        PlanDoc::create(ActorId::from(b"setup".as_slice()), &new, &editor, now_ms()).unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let patient = NewPatient {
        id: id.clone(),
        organisation_id: org,
        projection: project(&mut doc).unwrap(),
        snapshot: doc.save(),
        created_by: Some(Committer {
            user_id: "setup".into(),
            name: "Set Up".into(),
            organisation: "Referring Surgery".into(),
        }),
    };
    app.store
        .create_patients(&[patient], now_ms())
        .await
        .unwrap();
    (token, id)
}

/// Moves a referral's received day and deadline into the past, as if it had waited.
pub(super) async fn backdate(app: &TestApp, id: &str, received: &str, deadline: &str) {
    let sql = "UPDATE referrals SET received_on = $1, deadline = $2 WHERE id = $3";
    if app.database_url.starts_with("sqlite:") {
        let db = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query(sql)
            .bind(received)
            .bind(deadline)
            .bind(id)
            .execute(&db)
            .await
            .unwrap();
        db.close().await;
    } else {
        let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query(sql)
            .bind(received)
            .bind(deadline)
            .bind(id)
            .execute(&db)
            .await
            .unwrap();
        db.close().await;
    }
}
