//! A GP system's referral as a FHIR R4 `ServiceRequest` (UK Core), read into a referral
//! for peer review (`redfolder_shared::referral`). The mapping is in docs/referrals.md.
//!
//! Accepted shapes: a `ServiceRequest` whose `subject` references a `contained` Patient
//! (`"#id"`), or a Bundle holding one `ServiceRequest` and the Patient its subject names
//! (by `fullUrl` or `Patient/<id>`). Urgency is read from `priority` (absent means routine,
//! as FHIR says) and a two-week-wait category; the referral's own rules judge it after.
//! Documents named in `supportingInfo` (a `DocumentReference` or `Binary`, contained or in
//! the Bundle, with their content inline) come with it as attachments.
//!
//! The other way, [`service_request`] writes a stored referral and where its review stands
//! as a `ServiceRequest` with its Patient contained, for the hospital or the GP system.

use base64::Engine;
use redfolder_shared::referral::ReferralDraft;
use serde_json::Value;

use crate::NHS_NUMBER_SYSTEM;
use crate::bundle::resolve;

/// What a `ServiceRequest` says: the patient as the GP system names them, and the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedReferral {
    pub nhs_number: String,
    pub patient_name: String,
    pub date_of_birth: String,
    pub draft: ReferralDraft,
    /// The documents it came with, in the order named.
    pub attachments: Vec<ImportedAttachment>,
}

/// A document sent with a referral (a letter, results, a photograph).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAttachment {
    pub title: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// At most this many documents come with one referral.
pub const MAX_ATTACHMENTS: usize = 10;

/// Why a resource cannot be read as a referral.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceRequestError {
    #[error("expected a ServiceRequest, or a Bundle holding one")]
    NotAServiceRequest,
    #[error("a Bundle holds {0} ServiceRequests: send one referral at a time")]
    SeveralRequests(usize),
    #[error("a ServiceRequest with status {0} is not a referral to review")]
    Status(String),
    #[error("the ServiceRequest's subject is not a Patient in the message")]
    NoPatient,
    #[error("the Patient has no NHS number (identifier system {NHS_NUMBER_SYSTEM})")]
    NoNhsNumber,
    #[error("the Patient has no name")]
    NoName,
    #[error("the Patient has no birthDate")]
    NoBirthDate,
    #[error("priority {0} is not a FHIR request priority")]
    Priority(String),
    #[error(
        "supportingInfo {0} names nothing in the message: send the document contained or in the Bundle"
    )]
    UnresolvedDocument(String),
    #[error(
        "supportingInfo {0} has no inline data (a url alone cannot be fetched): send the content as base64 data"
    )]
    NoDocumentData(String),
    #[error("supportingInfo {0}: its data is not base64")]
    BadDocumentData(String),
    #[error("supportingInfo {0} has no contentType")]
    NoContentType(String),
    #[error("a referral may carry at most {MAX_ATTACHMENTS} documents; this one names {0}")]
    TooManyDocuments(usize),
}

fn text_of(concept: &Value) -> Option<String> {
    let text = concept["text"].as_str().or_else(|| {
        concept["coding"]
            .as_array()?
            .iter()
            .find_map(|c| c["display"].as_str())
    })?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn patient_name(patient: &Value) -> Option<String> {
    let names = patient["name"].as_array()?;
    let name = names
        .iter()
        .find(|n| n["use"] == "official")
        .or_else(|| names.first())?;
    if let Some(text) = name["text"].as_str().filter(|t| !t.trim().is_empty()) {
        return Some(text.trim().to_owned());
    }
    let mut parts: Vec<&str> = name["given"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    parts.extend(name["family"].as_str());
    let joined = parts.join(" ");
    (!joined.trim().is_empty()).then(|| joined.trim().to_owned())
}

/// One FHIR `Attachment` (or a `Binary`, which has the same `contentType` and `data`).
fn attachment(
    named: &str,
    value: &Value,
    fallback_title: &str,
) -> Result<ImportedAttachment, ServiceRequestError> {
    let content_type = value["contentType"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ServiceRequestError::NoContentType(named.to_owned()))?;
    let data = value["data"]
        .as_str()
        .ok_or_else(|| ServiceRequestError::NoDocumentData(named.to_owned()))?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| ServiceRequestError::BadDocumentData(named.to_owned()))?;
    let title = value["title"]
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(fallback_title);
    Ok(ImportedAttachment {
        title: title.chars().take(200).collect(),
        content_type: content_type.trim().to_owned(),
        data,
    })
}

/// The documents `supportingInfo` names. A reference that only describes (a `display`
/// without `reference`) is history text, not a document.
fn attachments(
    request: &Value,
    bundle: Option<&Value>,
) -> Result<Vec<ImportedAttachment>, ServiceRequestError> {
    let mut out = Vec::new();
    for info in request["supportingInfo"].as_array().into_iter().flatten() {
        let Some(reference) = info["reference"].as_str() else {
            continue;
        };
        let resource = resolve(request, bundle, reference)
            .ok_or_else(|| ServiceRequestError::UnresolvedDocument(reference.to_owned()))?;
        let title = info["display"]
            .as_str()
            .or_else(|| resource["description"].as_str())
            .unwrap_or("Document");
        match resource["resourceType"].as_str() {
            Some("DocumentReference") => {
                for content in resource["content"].as_array().into_iter().flatten() {
                    out.push(attachment(reference, &content["attachment"], title)?);
                }
            }
            Some("Binary") => out.push(attachment(reference, resource, title)?),
            // Observations, conditions and the like are clinical context, not documents.
            _ => continue,
        }
    }
    if out.len() > MAX_ATTACHMENTS {
        return Err(ServiceRequestError::TooManyDocuments(out.len()));
    }
    Ok(out)
}

fn urgency(request: &Value) -> Result<&'static str, ServiceRequestError> {
    let two_week_wait = request["category"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(text_of)
        .any(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("two week wait") || t.contains("two-week wait") || t.contains("2ww")
        });
    if two_week_wait {
        return Ok("two_week_wait");
    }
    match request["priority"].as_str() {
        None | Some("routine") => Ok("routine"),
        Some("urgent" | "asap" | "stat") => Ok("urgent"),
        Some(other) => Err(ServiceRequestError::Priority(other.to_owned())),
    }
}

/// Reads a `ServiceRequest` (or a Bundle with one) as a referral draft and its patient.
pub fn parse_service_request(value: &Value) -> Result<ImportedReferral, ServiceRequestError> {
    let (request, bundle) = match value["resourceType"].as_str() {
        Some("ServiceRequest") => (value, None),
        Some("Bundle") => {
            let requests: Vec<&Value> = value["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| &e["resource"])
                .filter(|r| r["resourceType"] == "ServiceRequest")
                .collect();
            match requests.as_slice() {
                [one] => (*one, Some(value)),
                [] => return Err(ServiceRequestError::NotAServiceRequest),
                many => return Err(ServiceRequestError::SeveralRequests(many.len())),
            }
        }
        _ => return Err(ServiceRequestError::NotAServiceRequest),
    };
    let status = request["status"].as_str().unwrap_or("active");
    if !matches!(status, "active" | "draft") {
        return Err(ServiceRequestError::Status(status.to_owned()));
    }
    let reference = request["subject"]["reference"]
        .as_str()
        .ok_or(ServiceRequestError::NoPatient)?;
    let patient = resolve(request, bundle, reference)
        .filter(|r| r["resourceType"] == "Patient")
        .ok_or(ServiceRequestError::NoPatient)?;
    let nhs_number = patient["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["system"] == NHS_NUMBER_SYSTEM)
        .and_then(|i| i["value"].as_str())
        .ok_or(ServiceRequestError::NoNhsNumber)?
        .to_owned();
    let patient_name = patient_name(patient).ok_or(ServiceRequestError::NoName)?;
    let date_of_birth = patient["birthDate"]
        .as_str()
        .ok_or(ServiceRequestError::NoBirthDate)?
        .to_owned();

    let notes: Vec<String> = request["note"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["text"].as_str())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    // The first note is the clinical question; later notes and the supporting
    // information's descriptions are the relevant history.
    let mut history: Vec<String> = notes.iter().skip(1).cloned().collect();
    history.extend(
        request["supportingInfo"]
            .as_array()
            .into_iter()
            .flatten()
            // A reference that names a document brings the document, not history text.
            .filter(|s| s.get("reference").is_none())
            .filter_map(|s| s["display"].as_str())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
    );
    let draft = ReferralDraft {
        specialty: text_of(&request["performerType"]).unwrap_or_default(),
        urgency: urgency(request)?.to_owned(),
        condition: request["reasonCode"]
            .as_array()
            .and_then(|r| r.first())
            .and_then(text_of)
            .unwrap_or_default(),
        clinical_question: notes.first().cloned().unwrap_or_default(),
        relevant_history: history.join("\n"),
    };
    Ok(ImportedReferral {
        nhs_number,
        patient_name,
        date_of_birth,
        draft,
        attachments: attachments(request, bundle)?,
    })
}

#[cfg(test)]
mod tests {
    use redfolder_shared::referral::{ReferralError, Specialties, Urgency};
    use serde_json::json;

    use super::*;

    fn request() -> Value {
        json!({
            "resourceType": "ServiceRequest",
            "contained": [{
                "resourceType": "Patient", "id": "p",
                "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": "9434765919" }],
                "name": [{ "use": "official", "given": ["Ada"], "family": "Example" }],
                "birthDate": "1938-02-28",
            }],
            "status": "active",
            "intent": "order",
            "priority": "routine",
            "subject": { "reference": "#p" },
            "performerType": { "coding": [{ "system": "http://snomed.info/sct", "code": "394579002", "display": "Cardiology" }] },
            "reasonCode": [{ "text": "Atrial fibrillation" }],
            "note": [{ "text": "Rate or rhythm control?" }, { "text": "ECG shows AF." }],
            "supportingInfo": [{ "display": "On bisoprolol 2.5 mg" }],
        })
    }

    #[test]
    fn a_service_request_reads_as_a_referral() {
        let r = parse_service_request(&request()).unwrap();
        assert_eq!(
            (
                r.nhs_number.as_str(),
                r.patient_name.as_str(),
                r.date_of_birth.as_str()
            ),
            ("9434765919", "Ada Example", "1938-02-28")
        );
        assert_eq!(r.draft.clinical_question, "Rate or rhythm control?");
        assert_eq!(
            r.draft.relevant_history,
            "ECG shows AF.\nOn bisoprolol 2.5 mg"
        );
        let valid = r.draft.validate(&Specialties::default()).unwrap();
        assert_eq!(
            (valid.specialty.as_str(), valid.condition.as_str()),
            ("Cardiology", "Atrial fibrillation")
        );
    }

    #[test]
    fn a_bundle_names_its_patient_by_full_url() {
        let mut sr = request();
        let patient = sr["contained"][0].clone();
        sr.as_object_mut().unwrap().remove("contained");
        sr["subject"]["reference"] = "urn:uuid:0b0e3c1a-0000-4000-8000-000000000001".into();
        let bundle = json!({ "resourceType": "Bundle", "type": "message", "entry": [
            { "fullUrl": "urn:uuid:0b0e3c1a-0000-4000-8000-000000000001", "resource": patient },
            { "fullUrl": "urn:uuid:0b0e3c1a-0000-4000-8000-000000000002", "resource": sr },
        ]});
        assert_eq!(
            parse_service_request(&bundle).unwrap().patient_name,
            "Ada Example"
        );
    }

    #[test]
    fn urgency_and_refusals() {
        let specialties = Specialties::default();
        let cases: Vec<(Value, Result<Option<Urgency>, ServiceRequestError>)> = vec![
            (json!({ "priority": "urgent" }), Ok(Some(Urgency::Urgent))),
            (json!({ "priority": "stat" }), Ok(Some(Urgency::Urgent))),
            (
                json!({ "category": [{ "text": "Two week wait: suspected skin cancer" }] }),
                Ok(Some(Urgency::TwoWeekWait)),
            ),
            (json!({ "priority": null }), Ok(None)),
            (
                json!({ "priority": "soon" }),
                Err(ServiceRequestError::Priority("soon".into())),
            ),
            (
                json!({ "status": "completed" }),
                Err(ServiceRequestError::Status("completed".into())),
            ),
            (
                json!({ "subject": { "reference": "#nobody" } }),
                Err(ServiceRequestError::NoPatient),
            ),
            (
                json!({ "resourceType": "Patient" }),
                Err(ServiceRequestError::NotAServiceRequest),
            ),
        ];
        for (change, expected) in cases {
            let mut sr = request();
            for (k, v) in change.as_object().unwrap() {
                sr[k] = v.clone();
            }
            let got = parse_service_request(&sr);
            match expected {
                Ok(bypass) => {
                    let draft = got.unwrap_or_else(|e| panic!("{change}: {e}")).draft;
                    let judged = draft.validate(&specialties);
                    match bypass {
                        Some(u) => {
                            assert_eq!(judged, Err(ReferralError::BypassesReview(u)), "{change}")
                        }
                        None => assert!(judged.is_ok(), "{change}: {judged:?}"),
                    }
                }
                Err(e) => assert_eq!(got, Err(e), "{change}"),
            }
        }
        let two = json!({ "resourceType": "Bundle", "entry": [{ "resource": request() }, { "resource": request() }] });
        assert_eq!(
            parse_service_request(&two),
            Err(ServiceRequestError::SeveralRequests(2))
        );
    }
}
