//! The patient's letter: what happens next.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use redfolder_shared::NhsNumber;
use redfolder_shared::escape_html;
use redfolder_shared::referral::{self, Party, ReferralState};
use serde_json::Value;

use super::{reach, referral_event};
use crate::audit::action;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::routes::ApiPath;
use crate::state::AppState;
use crate::store::referrals::StoredReferral;

fn letter_html(r: &StoredReferral, st: ReferralState, advice: Option<&Value>) -> String {
    let nhs = NhsNumber::parse(&r.nhs_number)
        .map(|n| n.to_string())
        .unwrap_or_else(|_| r.nhs_number.clone());
    let mut advice_html = String::new();
    if let Some(a) = advice {
        let mut items = String::new();
        for (key, label) in [
            ("tests", "Tests your practice may arrange"),
            ("treatment", "Treatment to try first"),
            ("re_refer_when", "When you may be referred again"),
        ] {
            if let Some(text) = a.get(key).and_then(Value::as_str) {
                items.push_str(&format!("<dt>{label}</dt><dd>{}</dd>", escape_html(text)));
            }
        }
        advice_html = format!("<h2>The advice</h2><dl>{items}</dl>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your referral: what happens next</title>\
<style>body{{font-family:Arial,sans-serif;max-width:40em;margin:2em auto;line-height:1.5}}h1{{font-size:1.5em}}dt{{font-weight:bold}}@media print{{body{{margin:0}}}}</style></head>\
<body><p>{practice}</p><h1>Your referral: what happens next</h1>\
<p><strong>{name}</strong><br>NHS number {nhs}<br>Date of birth {dob}</p>\
<p>Referred to: <strong>{specialty}</strong> (routine), on {received}.</p>\
<p data-state=\"{state}\">{next}</p>{advice_html}\
<p>If your symptoms get worse while you wait, contact your practice. In an emergency call 999.</p>\
<p>Questions about this letter: {practice}.</p></body></html>",
        practice = escape_html(&r.practice_name),
        name = escape_html(&r.patient_name),
        nhs = escape_html(&nhs),
        dob = escape_html(&r.date_of_birth),
        specialty = escape_html(&r.specialty),
        received = escape_html(&r.received_on),
        state = st.as_str(),
        next = escape_html(&referral::what_happens_next(st, &r.specialty)),
    )
}

/// The printable letter for the patient: what happens next, and the advice if returned.
/// For the referring practice only.
#[utoipa::path(get, path = "/api/v1/referrals/{id}/letter", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, body = String, description = "HTML letter, printable", content_type = "text/html"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only the referring practice"),
        (status = 404, description = "No such referral for you")))]
pub(crate) async fn letter(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (r, party, _) = reach(&state, &principal, &id).await?;
    if party != Party::Referrer {
        state
            .store()
            .record_audit(&[
                referral_event(&principal, party, action::REFERRAL_READ, "denied", &r)
                    .detail("letter"),
            ])
            .await?;
        return Err(ApiError::Forbidden);
    }
    let st = ReferralState::parse(&r.state).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("a stored referral has an unknown state"))
    })?;
    let events = state.store().referral_events(&r.id).await?;
    let advice = events
        .iter()
        .rev()
        .find(|e| e.kind == "return")
        .and_then(|e| e.body.get("advice"));
    state
        .store()
        .record_audit(&[
            referral_event(&principal, party, action::REFERRAL_READ, "ok", &r).detail("letter"),
        ])
        .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(letter_html(&r, st, advice)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_letter_escapes_what_it_prints() {
        let r = StoredReferral {
            id: "r".into(),
            organisation_id: "o".into(),
            practice_code: "A1".into(),
            practice_name: "Riverside <Surgery>".into(),
            referrer_id: "u".into(),
            referrer_name: "Dr A".into(),
            patient_id: None,
            nhs_number: "9434765919".into(),
            patient_name: "Ann \"Nan\" O'Neil".into(),
            date_of_birth: "1940-01-01".into(),
            specialty: "Dermatology".into(),
            urgency: "routine".into(),
            condition: "eczema".into(),
            clinical_question: "?".into(),
            relevant_history: "".into(),
            state: "returned".into(),
            received_on: "2026-11-02".into(),
            deadline: "2026-11-05".into(),
            question_asked: false,
            decided_on: Some("2026-11-03".into()),
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let advice =
            json!({ "treatment": "emollient <b>daily</b>", "re_refer_when": "in 6 weeks" });
        let html = letter_html(&r, ReferralState::Returned, Some(&advice));
        assert!(html.contains("Riverside &lt;Surgery&gt;"));
        assert!(html.contains("Ann &quot;Nan&quot; O&#39;Neil"));
        assert!(html.contains("943 476 5919"));
        assert!(html.contains("emollient &lt;b&gt;daily&lt;/b&gt;"));
        assert!(!html.contains("Tests your practice may arrange"));
        assert!(html.contains("closer to home"));
    }
}
