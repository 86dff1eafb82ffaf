//! The reviewer's education notes (seed 000: what review teaches feeds the practices'
//! education): a GP reviewer writes to a practice about a specialty, and perhaps one
//! condition, what its referrals show. A note names no patient; the server refuses text
//! that holds an NHS number.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_shared::NhsNumber;
use serde::{Deserialize, Serialize};

use super::{deny, reviewed_by, specialties};
use crate::audit::{AuditEvent, action, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::state::AppState;
use crate::store::referral_notes::{EducationNote, NewEducationNote, NotesFor};

/// The longest title and body a note may have, in characters.
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 8000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NoteBody {
    /// The practice's ODS code.
    practice_code: String,
    /// One of the specialties the writer reviews.
    specialty: String,
    /// The condition it is about, if one.
    condition: Option<String>,
    title: String,
    body: String,
}

/// Education notes, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NotesView {
    pub notes: Vec<EducationNote>,
}

/// Whether the text holds a valid NHS number: a run of exactly ten digits, perhaps
/// grouped by single spaces or hyphens (`943 476 5919`), whose check digit is right.
fn holds_nhs_number(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut runs: Vec<String> = vec![String::new()];
    for (i, c) in chars.iter().enumerate() {
        let joins = matches!(c, ' ' | '-')
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() {
            if let Some(run) = runs.last_mut() {
                run.push(*c);
            }
        } else if !joins {
            runs.push(String::new());
        }
    }
    runs.iter()
        .any(|r| r.len() == 10 && NhsNumber::parse(r).is_ok())
}

fn required(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{field} is required (up to {max} characters)"
        )));
    }
    Ok(v.to_owned())
}

/// A GP reviewer writes an education note to a practice about a specialty they review.
#[utoipa::path(post, path = "/api/v1/referrals/education-notes", tag = "referrals",
    security(("bearer" = [])), request_body = NoteBody,
    responses((status = 201, body = EducationNote, description = "The note as stored"),
        (status = 400, description = "Missing or overlong text, an NHS number in the text, or no such practice"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only GP reviewers, in the specialties they review")))]
pub(crate) async fn write(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<EducationNote>), ApiError> {
    let reviewed = reviewed_by(&state, &principal).await?;
    let list = specialties(&state).await?;
    let specialty = list
        .find(&body.specialty)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .to_owned();
    if !reviewed.iter().any(|(s, _)| *s == specialty) {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_EDUCATION,
            "education note outside the writer's specialties",
        )
        .await);
    }
    let title = required("title", &body.title, MAX_TITLE)?;
    let text = required("body", &body.body, MAX_BODY)?;
    let condition = match body.condition.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(required("condition", c, 120)?),
    };
    if [&title, &text]
        .into_iter()
        .chain(condition.as_ref())
        .any(|t| holds_nhs_number(t))
    {
        return Err(ApiError::BadRequest(
            "an education note must not name a patient: remove the NHS number".into(),
        ));
    }
    let practice = state
        .store()
        .organisation_by_code(body.practice_code.trim())
        .await?
        .ok_or_else(|| ApiError::BadRequest("no practice has that code".into()))?;
    let now = now_ms();
    let user = &principal.user;
    let ev = AuditEvent::new(now, action::REFERRAL_EDUCATION, purpose::PEER_REVIEW, "ok")
        .by(&principal, Role::GpReviewer)
        .detail(format!("to {}: {specialty}", practice.code));
    let id = state
        .store()
        .add_education_note(
            &NewEducationNote {
                organisation_id: &practice.id,
                author_id: &user.id,
                author_name: &user.name,
                specialty: &specialty,
                condition: condition.as_deref(),
                title: &title,
                body: &text,
                now_ms: now,
            },
            &[ev],
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EducationNote {
            id,
            practice_code: practice.code,
            practice_name: practice.name,
            author_name: user.name.clone(),
            specialty,
            condition,
            title,
            body: text,
            created_at_ms: now,
        }),
    ))
}

/// Education notes: a practice's case managers read those written to their practice, a
/// GP reviewer those they wrote, a commissioner every one.
#[utoipa::path(get, path = "/api/v1/referrals/education-notes", tag = "referrals",
    security(("bearer" = [])),
    responses((status = 200, body = NotesView, description = "Newest first, at most 200"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only case managers, GP reviewers and commissioners")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<NotesView>, ApiError> {
    let u = &principal.user;
    let (who, role) = if u.has(Role::Commissioner) {
        (NotesFor::All, Role::Commissioner)
    } else if u.has(Role::GpReviewer) {
        (NotesFor::Author(&u.id), Role::GpReviewer)
    } else if u.has(Role::CaseManager) {
        (NotesFor::Practice(&u.organisation_id), Role::CaseManager)
    } else {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_EDUCATION,
            "education notes",
        )
        .await);
    };
    let notes = state.store().education_notes(who, 200).await?;
    let ev = AuditEvent::new(
        now_ms(),
        action::REFERRAL_EDUCATION,
        purpose::PEER_REVIEW,
        "ok",
    )
    .by(&principal, role)
    .detail(format!("read {} notes", notes.len()));
    state.store().record_audit(&[ev]).await?;
    Ok(Json(NotesView { notes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_nhs_number_in_the_text_is_found_however_it_is_spaced() {
        assert!(holds_nhs_number("see 9434765919 please"));
        assert!(holds_nhs_number("patient 943 476 5919."));
        assert!(holds_nhs_number("943-476-5919"));
        // Not a valid number (check digit), too short, or part of a longer run.
        assert!(!holds_nhs_number("9434765918"));
        assert!(!holds_nhs_number("a 12 month audit of 35 referrals"));
        assert!(!holds_nhs_number("194347659190"));
    }
}
