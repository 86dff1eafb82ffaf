//! A virtual clinic is open to consenting patients on its day only, and closes when told.

use super::*;

/// `POST`s JSON as `token` and returns the status and body.
async fn post_as(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> (u16, String) {
    let reply = app.send(Method::POST, path, Some(token), Some(&body)).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn a_virtual_clinic_opens_on_its_day_for_consenting_patients_and_closes_when_told() {
    let app = spawn_app().await;
    app.create_user(
        "consultant.test",
        "Y99904",
        &["mdt_member"],
        "consultant-password",
    )
    .await;
    let specialist = app
        .login_with("consultant.test", "consultant-password")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cm = app.login("cm1.demo").await;
    let listing = app.get("/api/v1/patients", Some(&cm)).await.json();
    let listing = listing.as_array().unwrap();
    let with_consent: Vec<String> = listing
        .iter()
        .filter(|p| p["share_with_mdt"] == true)
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let without = listing
        .iter()
        .find(|p| p["share_with_mdt"] == false)
        .expect("a demo patient without MDT consent")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = crate::client::now_ms();
    let day =
        |offset: i64| redfolder_shared::Date::from_unix_ms(now + offset * 86_400_000).to_string();
    let clinic = |date: String, patients: Vec<String>| serde_json::json!({ "specialist": "consultant.test", "date": date, "patient_ids": patients });
    let path = "/api/v1/scheme/virtual-clinics";

    // The date is bounded, and only consenting patients may be chosen.
    let (status, body) = post_as(
        &app,
        path,
        &cm,
        clinic(day(91), vec![with_consent[0].clone()]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_as(
        &app,
        path,
        &cm,
        clinic("9999-12-31".into(), vec![with_consent[0].clone()]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_as(&app, path, &cm, clinic(day(0), vec![without.clone()])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("consent"), "{body}");

    // A clinic tomorrow gives nothing today.
    let (status, body) = post_as(
        &app,
        path,
        &cm,
        clinic(day(1), vec![with_consent[0].clone()]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let tomorrow: serde_json::Value = serde_json::from_str(&body).unwrap();
    let read = |clinic: &serde_json::Value, patient: &str| {
        format!(
            "/api/v1/scheme/virtual-clinics/{}/plans/{patient}",
            clinic["id"].as_str().unwrap()
        )
    };
    assert_eq!(
        app.get(&read(&tomorrow, &with_consent[0]), Some(&specialist))
            .await
            .status,
        404,
        "a clinic's plans were readable the day before it"
    );

    // Today's clinic: readable, until the practice closes it.
    let patients = vec![with_consent[0].clone(), with_consent[1].clone()];
    let (status, body) = post_as(&app, path, &cm, clinic(day(0), patients)).await;
    assert_eq!(status, 201, "{body}");
    let today: serde_json::Value = serde_json::from_str(&body).unwrap();
    for patient in &with_consent[..2] {
        assert_eq!(
            app.get(&read(&today, patient), Some(&specialist))
                .await
                .status,
            200
        );
    }

    // Consent withdrawn after the clinic was scheduled ends the specialist's access to
    // that patient.
    let mut device = Device::connect(&app.ws_url(), &cm, "clinic-cm").await;
    device.hello().await.unwrap();
    assert_eq!(device.open(&with_consent[1]).await, Outcome::Synced);
    let withdraw = Edit::SetConsent {
        share_with_mdt: false,
        share_with_emergency_services: true,
    };
    assert_eq!(
        device.write(&with_consent[1], &withdraw).await,
        Outcome::Acked
    );
    assert_eq!(
        app.get(&read(&today, &with_consent[1]), Some(&specialist))
            .await
            .status,
        404
    );

    // Closed early: nothing more through it; closing again changes nothing; another
    // practice cannot close it.
    let close = format!(
        "/api/v1/scheme/virtual-clinics/{}/close",
        today["id"].as_str().unwrap()
    );
    app.create_user(
        "cm.elsewhere",
        "Y99903",
        &["case_manager"],
        "elsewhere-password",
    )
    .await;
    let elsewhere = app.login_with("cm.elsewhere", "elsewhere-password").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = post_as(&app, &close, &elsewhere, serde_json::json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        app.get(&read(&today, &with_consent[0]), Some(&specialist))
            .await
            .status,
        200
    );
    let (status, body) = post_as(&app, &close, &cm, serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let closed_at =
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["closes_at_ms"].clone();
    assert_eq!(
        app.get(&read(&today, &with_consent[0]), Some(&specialist))
            .await
            .status,
        404
    );
    let advice = app
        .send(
            Method::POST,
            &format!("{}/advice", read(&today, &with_consent[0])),
            Some(&specialist),
            Some(&serde_json::json!({ "advice": "too late" })),
        )
        .await;
    assert_eq!(advice.status, 404);
    let (status, body) = post_as(&app, &close, &cm, serde_json::json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["closes_at_ms"],
        closed_at
    );
}
