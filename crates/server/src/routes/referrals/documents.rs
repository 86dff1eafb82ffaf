//! A referral's documents and its FHIR form: the files a GP system's `ServiceRequest`
//! brought with it, and the referral written back out as a `ServiceRequest` for the
//! hospital or the GP system. Both are for the referring practice and the reviewer, and
//! both are audited like every read of a referral.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use redfolder_fhir::{AttachmentRef, Decision, ReferralRecord, ReviewOutcome};
use redfolder_shared::referral::{Advice, ReferralState};

use super::{reach, referral_event};
use crate::audit::action;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::routes::ApiPath;
use crate::state::AppState;

/// One document the referral came with, as it was sent. It is served as a download in a
/// sandbox, never rendered as a page of this site, whatever its content type says.
#[utoipa::path(get, path = "/api/v1/referrals/{id}/attachments/{seq}", tag = "referrals",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Referral id"),
        ("seq" = i64, Path, description = "The document's number on the referral, from 1")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>, description = "The document's bytes, with its content type"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such referral for you, or no such document")))]
pub(crate) async fn attachment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, seq)): ApiPath<(String, i64)>,
) -> Result<Response, ApiError> {
    let (r, party, _) = reach(&state, &principal, &id).await?;
    let Some((info, data)) = state.store().referral_attachment(&r.id, seq).await? else {
        return Err(ApiError::not_found("no such document on this referral"));
    };
    state
        .store()
        .record_audit(&[
            referral_event(&principal, party, action::REFERRAL_READ, "ok", &r)
                .detail(format!("document {seq}")),
        ])
        .await?;
    let content_type = HeaderValue::from_str(&info.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let name: String = info
        .title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_. ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
        ],
        data,
    )
        .into_response())
}

/// The referral as a FHIR R4 `ServiceRequest` (UK Core) with its patient contained, where
/// its review stands (status and the reviewer's note) and links to its documents.
/// Mapping in docs/referrals.md.
#[utoipa::path(get, path = "/api/v1/referrals/{id}/fhir", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, content_type = "application/fhir+json", body = Object, description = "A ServiceRequest"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such referral for you")))]
pub(crate) async fn fhir(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (r, party, _) = reach(&state, &principal, &id).await?;
    let st = ReferralState::parse(&r.state).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("a stored referral has an unknown state"))
    })?;
    let events = state.store().referral_events(&r.id).await?;
    let attachments = state.store().referral_attachments(&r.id).await?;
    // The decision, where there is one: the last forward or return.
    let decided = events
        .iter()
        .rev()
        .find(|e| e.kind == "forward" || e.kind == "return");
    let advice: Option<Advice> = decided
        .filter(|e| e.kind == "return")
        .and_then(|e| serde_json::from_value(e.body["advice"].clone()).ok());
    let outcome = match (decided, r.decided_on.as_deref()) {
        (Some(e), Some(day)) => Some(ReviewOutcome {
            reviewer_name: &e.user_name,
            decided_on: day,
            decision: match &advice {
                Some(a) => Decision::Returned { advice: a },
                None => Decision::Forwarded {
                    note: e.body["note"].as_str().unwrap_or_default(),
                },
            },
        }),
        _ => None,
    };
    let resource = redfolder_fhir::service_request(&ReferralRecord {
        id: &r.id,
        nhs_number: &r.nhs_number,
        patient_name: &r.patient_name,
        date_of_birth: &r.date_of_birth,
        practice_code: &r.practice_code,
        practice_name: &r.practice_name,
        referrer_name: &r.referrer_name,
        specialty: &r.specialty,
        condition: &r.condition,
        clinical_question: &r.clinical_question,
        relevant_history: &r.relevant_history,
        state: st,
        received_on: &r.received_on,
        outcome,
        attachments: attachments
            .iter()
            .map(|a| AttachmentRef {
                title: &a.title,
                content_type: &a.content_type,
                size: a.size,
                url: format!("/api/v1/referrals/{}/attachments/{}", r.id, a.seq),
            })
            .collect(),
    });
    state
        .store()
        .record_audit(&[
            referral_event(&principal, party, action::REFERRAL_READ, "ok", &r)
                .detail("FHIR ServiceRequest"),
        ])
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/fhir+json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        resource.to_string(),
    )
        .into_response())
}
