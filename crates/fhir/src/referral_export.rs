//! A referral as a FHIR R4 `ServiceRequest` (UK Core) for the hospital or the GP system:
//! the request as the practice made it, its patient contained, and where its peer review
//! stands. The mapping is in docs/referrals.md.
//!
//! Status: under review → `active`; a question waiting for the practice → `on-hold`;
//! forwarded to hospital → `active` (the hospital now acts on it); returned with advice,
//! acknowledged or not → `revoked` (it does not go to hospital). The review's outcome is a
//! note written by the reviewer, and the attached documents are contained
//! `DocumentReference`s whose attachment `url` is the API route that serves them.

use redfolder_shared::referral::{Advice, ReferralState};
use serde_json::{Value, json};

use crate::profile::{claim, nhs_number_identifier};
use crate::{ODS_SYSTEM, SNOMED};

/// The system of Red Folder's referral ids.
pub const REFERRAL_SYSTEM: &str = "https://redfolder.nhs.example/Id/referral";

/// What the export needs of a stored referral.
#[derive(Debug, Clone)]
pub struct ReferralRecord<'a> {
    pub id: &'a str,
    pub nhs_number: &'a str,
    pub patient_name: &'a str,
    /// `YYYY-MM-DD`
    pub date_of_birth: &'a str,
    pub practice_code: &'a str,
    pub practice_name: &'a str,
    pub referrer_name: &'a str,
    pub specialty: &'a str,
    pub condition: &'a str,
    pub clinical_question: &'a str,
    pub relevant_history: &'a str,
    pub state: ReferralState,
    /// `YYYY-MM-DD`
    pub received_on: &'a str,
    /// The reviewer's decision, where there is one.
    pub outcome: Option<ReviewOutcome<'a>>,
    pub attachments: Vec<AttachmentRef<'a>>,
}

/// The peer review's decision.
#[derive(Debug, Clone)]
pub struct ReviewOutcome<'a> {
    pub reviewer_name: &'a str,
    /// `YYYY-MM-DD`
    pub decided_on: &'a str,
    pub decision: Decision<'a>,
}

/// Forwarded with a note for the hospital, or returned with advice.
#[derive(Debug, Clone)]
pub enum Decision<'a> {
    Forwarded { note: &'a str },
    Returned { advice: &'a Advice },
}

/// A document kept with the referral, and where the API serves it.
#[derive(Debug, Clone)]
pub struct AttachmentRef<'a> {
    pub title: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub url: String,
}

fn status(state: ReferralState) -> &'static str {
    match state {
        ReferralState::AwaitingReview | ReferralState::Forwarded => "active",
        ReferralState::QuestionAsked => "on-hold",
        ReferralState::Returned | ReferralState::AdviceAcknowledged => "revoked",
    }
}

fn outcome_note(o: &ReviewOutcome<'_>) -> Value {
    let text = match &o.decision {
        Decision::Forwarded { note } => {
            format!(
                "Peer review: forwarded to hospital on {}. {note}",
                o.decided_on
            )
        }
        Decision::Returned { advice } => {
            let mut text = format!(
                "Peer review: returned to the practice with advice on {}.",
                o.decided_on
            );
            if let Some(t) = &advice.tests {
                text.push_str(&format!(" Tests to do: {t}."));
            }
            if let Some(t) = &advice.treatment {
                text.push_str(&format!(" Treatment to try: {t}."));
            }
            text.push_str(&format!(" Re-refer: {}.", advice.re_refer_when));
            text
        }
    };
    json!({ "authorString": o.reviewer_name, "time": format!("{}T00:00:00Z", o.decided_on), "text": text })
}

/// The referral as a `ServiceRequest`, with its Patient and documents contained.
pub fn service_request(r: &ReferralRecord<'_>) -> Value {
    let mut patient = json!({
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [nhs_number_identifier(r.nhs_number)],
        "name": [{ "use": "official", "text": r.patient_name }],
        "birthDate": r.date_of_birth,
    });
    claim(&mut patient);
    let mut contained = vec![patient];
    let mut supporting = Vec::new();
    for (i, a) in r.attachments.iter().enumerate() {
        let id = format!("document-{}", i + 1);
        let mut doc = json!({
            "resourceType": "DocumentReference",
            "id": id,
            "status": "current",
            "subject": { "reference": "#patient" },
            "description": a.title,
            "content": [{ "attachment": {
                "contentType": a.content_type,
                "url": a.url,
                "size": a.size,
                "title": a.title,
            } }],
        });
        claim(&mut doc);
        contained.push(doc);
        supporting.push(json!({ "reference": format!("#{id}"), "display": a.title }));
    }
    let mut notes = vec![json!({ "authorString": r.referrer_name, "text": r.clinical_question })];
    if !r.relevant_history.trim().is_empty() {
        notes.push(json!({ "authorString": r.referrer_name, "text": r.relevant_history }));
    }
    if let Some(o) = &r.outcome {
        notes.push(outcome_note(o));
    }
    let mut sr = json!({
        "resourceType": "ServiceRequest",
        "id": r.id,
        "contained": contained,
        "identifier": [{ "system": REFERRAL_SYSTEM, "value": r.id }],
        "status": status(r.state),
        "intent": "order",
        "category": [{ "coding": [{ "system": SNOMED, "code": "3457005", "display": "Patient referral" }] }],
        "priority": "routine",
        "code": { "coding": [{ "system": SNOMED, "code": "3457005", "display": "Patient referral" }] },
        "subject": { "reference": "#patient" },
        "authoredOn": r.received_on,
        "requester": {
            "display": format!("{}, {}", r.referrer_name, r.practice_name),
        },
        "performerType": { "text": r.specialty },
        "reasonCode": [{ "text": r.condition }],
        "note": notes,
    });
    if !supporting.is_empty() {
        sr["supportingInfo"] = Value::Array(supporting);
    }
    // The practice, by ODS code, as the requester's organisation.
    sr["requester"]["identifier"] = json!({ "system": ODS_SYSTEM, "value": r.practice_code });
    claim(&mut sr);
    sr
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_service_request;

    fn record(state: ReferralState) -> ReferralRecord<'static> {
        ReferralRecord {
            id: "r1",
            nhs_number: "9434765919",
            patient_name: "Ada Example",
            date_of_birth: "1938-02-28",
            practice_code: "C84001",
            practice_name: "Riverside Surgery",
            referrer_name: "Dr Cara Manager",
            specialty: "Cardiology",
            condition: "Atrial fibrillation",
            clinical_question: "Rate or rhythm control?",
            relevant_history: "ECG shows AF.",
            state,
            received_on: "2026-11-02",
            outcome: None,
            attachments: vec![AttachmentRef {
                title: "ECG",
                content_type: "application/pdf",
                size: 1200,
                url: "/api/v1/referrals/r1/attachments/1".into(),
            }],
        }
    }

    #[test]
    fn status_follows_the_review() {
        for (state, expected) in [
            (ReferralState::AwaitingReview, "active"),
            (ReferralState::QuestionAsked, "on-hold"),
            (ReferralState::Forwarded, "active"),
            (ReferralState::Returned, "revoked"),
            (ReferralState::AdviceAcknowledged, "revoked"),
        ] {
            assert_eq!(
                service_request(&record(state))["status"],
                expected,
                "{state:?}"
            );
        }
    }

    #[test]
    fn an_exported_request_reads_back_as_the_same_referral() {
        let advice = Advice {
            tests: Some("Thyroid function".into()),
            treatment: None,
            re_refer_when: "if still symptomatic".into(),
        };
        let mut r = record(ReferralState::AwaitingReview);
        r.outcome = Some(ReviewOutcome {
            reviewer_name: "Dr Rev",
            decided_on: "2026-11-03",
            decision: Decision::Returned { advice: &advice },
        });
        let sr = service_request(&r);
        assert_eq!(
            sr["contained"][1]["content"][0]["attachment"]["url"],
            "/api/v1/referrals/r1/attachments/1"
        );
        let notes = sr["note"].as_array().unwrap();
        assert!(
            notes[2]["text"]
                .as_str()
                .unwrap()
                .contains("Tests to do: Thyroid function.")
        );
        // Read back (as a GP system would send it): same patient and request; the
        // attachment is a link here, not inline data, so it is refused for what it is.
        let mut back = sr.clone();
        back.as_object_mut().unwrap().remove("supportingInfo");
        let read = parse_service_request(&back).unwrap();
        assert_eq!(
            (
                read.nhs_number.as_str(),
                read.patient_name.as_str(),
                read.draft.specialty.as_str()
            ),
            ("9434765919", "Ada Example", "Cardiology")
        );
        assert_eq!(read.draft.clinical_question, "Rate or rhythm control?");
        assert!(matches!(
            parse_service_request(&sr),
            Err(crate::ServiceRequestError::NoDocumentData(_))
        ));
    }
}
