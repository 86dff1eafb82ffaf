//! One referral: reading it, and each step of its review.

use axum::Json;
use axum::extract::State;
use redfolder_shared::Date;
use redfolder_shared::referral::{self, Party, ReferralState, Step, TransitionError};
use serde::Deserialize;

use super::views::{DecisionSchema, ReferralDetail, ReferralView, StepTaken};
use super::{holidays, reach, referral_event, today};
use crate::audit::action;
use crate::auth::Authenticated;
use crate::domain::{Principal, now_ms};
use crate::error::ApiError;
use crate::routes::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::store::referrals::{StepRecord, StoredReferral};

fn allowed_steps(state: ReferralState, party: Party) -> Vec<&'static str> {
    use redfolder_shared::referral::Advice;
    let samples = [
        Step::Forward {
            note: String::new(),
        },
        Step::Return {
            advice: Advice::default(),
        },
        Step::AskQuestion {
            question: String::new(),
        },
        Step::Answer {
            answer: String::new(),
        },
        Step::Acknowledge,
    ];
    samples
        .iter()
        .filter(|s| referral::transition(state, party, s).is_ok())
        .map(Step::kind)
        .collect()
}

/// One referral with every step of its review, the caller's capacity and the steps open
/// to them.
#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, body = ReferralDetail, description = "The referral, its history, and what the caller may do"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such referral, or not one of yours to see")))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ReferralDetail>, ApiError> {
    let (r, party, _) = reach(&state, &principal, &id).await?;
    let events = state.store().referral_events(&r.id).await?;
    let attachments = state.store().referral_attachments(&r.id).await?;
    state
        .store()
        .record_audit(&[referral_event(
            &principal,
            party,
            action::REFERRAL_READ,
            "ok",
            &r,
        )])
        .await?;
    let st = ReferralState::parse(&r.state).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("a stored referral has an unknown state"))
    })?;
    Ok(Json(ReferralDetail {
        referral: ReferralView::of(&r, today()),
        urgency: r.urgency.clone(),
        relevant_history: r.relevant_history.clone(),
        events,
        you_are: party,
        your_steps: allowed_steps(st, party),
        what_happens_next: referral::what_happens_next(st, &r.specialty),
        attachments,
    }))
}

async fn take_step(
    state: &AppState,
    principal: &Principal,
    id: &str,
    step: Step,
    allowed: &[&str],
) -> Result<Json<StepTaken>, ApiError> {
    if !allowed.contains(&step.kind()) {
        return Err(ApiError::BadRequest(format!(
            "this route takes {}",
            allowed.join(" or ")
        )));
    }
    let (r, party, mentored) = reach(state, principal, id).await?;
    let from = ReferralState::parse(&r.state).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("a stored referral has an unknown state"))
    })?;
    let refuse = |outcome: &str, why: String| {
        referral_event(principal, party, action::REFERRAL_STEP, outcome, &r)
            .detail(format!("{}: {why}", step.kind()))
    };
    let to = match referral::transition(from, party, &step) {
        Ok(to) => to,
        Err(e) => {
            state
                .store()
                .record_audit(&[refuse("refused", e.to_string())])
                .await?;
            return Err(match e {
                TransitionError::WrongParty { .. } => ApiError::Forbidden,
                TransitionError::Closed(_) | TransitionError::NotNow { .. } => {
                    ApiError::Conflict(e.to_string())
                }
            });
        }
    };
    let step = match step.validated() {
        Ok(s) => s,
        Err(e) => return Err(ApiError::BadRequest(e.to_string())),
    };
    let now = now_ms();
    let day = Date::uk_from_unix_ms(now);
    let deadline = if matches!(step, Step::Answer { .. }) {
        // The reviewer's 3 working days start again from the answer.
        Some(referral::review_deadline(day, &holidays(state).await?).to_string())
    } else {
        None
    };
    let decided = step.is_decision().then(|| day.to_string());
    let body = serde_json::to_string(&step)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing a step: {e}")))?;
    let user = &principal.user;
    let ev = referral_event(principal, party, action::REFERRAL_STEP, "ok", &r).detail(format!(
        "{} → {}",
        step.kind(),
        to.as_str()
    ));
    let moved = state
        .store()
        .record_referral_step(
            &StepRecord {
                referral_id: &r.id,
                from_state: from.as_str(),
                to_state: to.as_str(),
                kind: step.kind(),
                user_id: &user.id,
                user_name: &user.name,
                organisation: &user.organisation_name,
                mentored: if party == Party::Reviewer {
                    mentored
                } else {
                    None
                },
                body_json: &body,
                deadline: deadline.as_deref(),
                decided_on: decided.as_deref(),
                question_asked: matches!(step, Step::AskQuestion { .. }),
                now_ms: now,
            },
            &[ev],
        )
        .await?;
    if !moved {
        state
            .store()
            .record_audit(&[refuse("conflict", "moved by someone else first".into())])
            .await?;
        return Err(ApiError::Conflict(
            "someone else acted on this referral first: reload it".into(),
        ));
    }
    let plan_updated = match (&r.patient_id, step.is_decision()) {
        (Some(patient_id), true) => {
            record_in_plan(state, principal, &r, patient_id, &step, mentored, now).await?
        }
        _ => false,
    };
    let r =
        state.store().referral(&r.id).await?.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("a referral just moved is missing"))
        })?;
    Ok(Json(StepTaken {
        referral: ReferralView::of(&r, day),
        plan_updated,
    }))
}

/// The decision's words in the patient's plan, as an advice entry from the reviewer.
fn plan_entry(r: &StoredReferral, step: &Step) -> Option<String> {
    let head = format!(
        "Referral to {} for {} (received {}), peer reviewed:",
        r.specialty, r.condition, r.received_on
    );
    match step {
        Step::Forward { note } => Some(format!("{head} forwarded to hospital. {note}")),
        Step::Return { advice } => {
            let mut text = format!("{head} returned with advice.");
            if let Some(t) = &advice.tests {
                text.push_str(&format!(" Tests to do: {t}."));
            }
            if let Some(t) = &advice.treatment {
                text.push_str(&format!(" Treatment to try: {t}."));
            }
            text.push_str(&format!(" Re-refer: {}.", advice.re_refer_when));
            Some(text)
        }
        _ => None,
    }
}

/// Where the patient is case-managed (the referral is linked to their plan), the
/// decision is added to the plan as advice attributed to the reviewer, through the one
/// commit path, so it syncs to the case managers' tablets. The referral's decision is
/// already committed: a plan that refuses the entry (ended, say) leaves it out, and the
/// answer says so (`plan_updated`).
pub(crate) async fn record_in_plan(
    state: &AppState,
    principal: &Principal,
    r: &StoredReferral,
    patient_id: &str,
    step: &Step,
    mentored: Option<bool>,
    now: i64,
) -> Result<bool, ApiError> {
    let Some(advice) = plan_entry(r, step) else {
        return Ok(false);
    };
    let advice_id = uuid::Uuid::new_v4().to_string();
    let edit = redfolder_shared::Edit::AddAdvice {
        id: advice_id.clone(),
        from_name: principal.user.name.clone(),
        from_role: format!(
            "GP reviewer, {}{}",
            r.specialty,
            if mentored == Some(true) {
                " (mentored)"
            } else {
                ""
            }
        ),
        advice,
    };
    let audit = [
        referral_event(principal, Party::Reviewer, action::REFERRAL_STEP, "plan", r)
            .detail(advice_id),
    ];
    let applied = crate::plan_edit::apply_edits(
        state,
        principal,
        crate::access::PlanAccess::PeerReviewer,
        patient_id,
        &[edit],
        &audit,
        now,
    )
    .await?;
    Ok(matches!(applied, crate::plan_edit::Applied::Committed))
}

/// The reviewer's decision: `{"kind":"forward","note":…}`, `{"kind":"return","advice":
/// {"tests"?,"treatment"?,"re_refer_when"}}` (tests or treatment, and when to re-refer)
/// or `{"kind":"ask_question","question":…}`.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/decision", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    request_body(content = DecisionSchema, description = "A step: forward, return or ask_question"),
    responses((status = 200, body = StepTaken, description = "The referral as it now stands"),
        (status = 400, description = "Not a decision, or incomplete (advice needs tests or treatment, and when to re-refer)"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Not the reviewer of this referral (a referrer cannot decide)"),
        (status = 404, description = "No such referral for you"),
        (status = 409, description = "Closed, waiting for the referrer, or decided by someone else first")))]
pub(crate) async fn decide(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(step): ApiJson<Step>,
) -> Result<Json<StepTaken>, ApiError> {
    take_step(
        &state,
        &principal,
        &id,
        step,
        &["forward", "return", "ask_question"],
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AnswerBody {
    answer: String,
}

/// The referrer answers the reviewer's question; the referral goes back to the queue with
/// a fresh 3-working-day deadline.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/answer", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    request_body = AnswerBody,
    responses((status = 200, body = StepTaken, description = "The referral as it now stands"),
        (status = 400, description = "Empty answer"), (status = 401, description = "Not signed in"),
        (status = 403, description = "Only the referring practice"), (status = 404, description = "No such referral for you"),
        (status = 409, description = "No question is waiting")))]
pub(crate) async fn answer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<Json<StepTaken>, ApiError> {
    take_step(
        &state,
        &principal,
        &id,
        Step::Answer {
            answer: body.answer,
        },
        &["answer"],
    )
    .await
}

/// The referrer acknowledges the advice a reviewer returned, closing the referral.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/acknowledge", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, body = StepTaken, description = "The referral as it now stands"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only the referring practice"),
        (status = 404, description = "No such referral for you"),
        (status = 409, description = "No advice is waiting, or already acknowledged")))]
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<StepTaken>, ApiError> {
    take_step(&state, &principal, &id, Step::Acknowledge, &["acknowledge"]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_open_to_each_party() {
        use ReferralState::*;
        assert_eq!(
            allowed_steps(AwaitingReview, Party::Reviewer),
            ["forward", "return", "ask_question"]
        );
        assert!(allowed_steps(AwaitingReview, Party::Referrer).is_empty());
        assert_eq!(allowed_steps(QuestionAsked, Party::Referrer), ["answer"]);
        assert_eq!(allowed_steps(Returned, Party::Referrer), ["acknowledge"]);
        assert!(allowed_steps(Forwarded, Party::Reviewer).is_empty());
    }
}
