//! What the referral routes answer, as typed bodies: the OpenAPI document describes exactly
//! these, and the API fuzzer checks the server sends what it says.

use redfolder_shared::Date;
use redfolder_shared::referral::{Advice, Party, ReferralState};
use serde::Serialize;

use crate::store::referral_notes::AttachmentInfo;
use crate::store::referrals::{ReferralEvent, ReviewerAssignment, StoredReferral};

/// The referring practice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PracticeRef {
    pub code: String,
    pub name: String,
}

/// A referral as lists show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReferralView {
    pub id: String,
    pub practice: PracticeRef,
    /// The referring clinician's name.
    pub referrer: String,
    /// The patient's plan, where they are case-managed at the practice.
    pub patient_id: Option<String>,
    pub nhs_number: String,
    pub patient_name: String,
    /// `YYYY-MM-DD`
    pub date_of_birth: String,
    pub specialty: String,
    pub condition: String,
    pub clinical_question: String,
    #[schema(value_type = ReferralState)]
    pub state: String,
    /// `YYYY-MM-DD`
    pub received_on: String,
    /// `YYYY-MM-DD`: the third working day after receipt (or after the answer to a question).
    pub deadline: String,
    /// Awaiting review and past its deadline today.
    pub overdue: bool,
    /// `YYYY-MM-DD`, once forwarded or returned.
    pub decided_on: Option<String>,
}

impl ReferralView {
    pub(crate) fn of(r: &StoredReferral, today: Date) -> ReferralView {
        ReferralView {
            id: r.id.clone(),
            practice: PracticeRef {
                code: r.practice_code.clone(),
                name: r.practice_name.clone(),
            },
            referrer: r.referrer_name.clone(),
            patient_id: r.patient_id.clone(),
            nhs_number: r.nhs_number.clone(),
            patient_name: r.patient_name.clone(),
            date_of_birth: r.date_of_birth.clone(),
            specialty: r.specialty.clone(),
            condition: r.condition.clone(),
            clinical_question: r.clinical_question.clone(),
            state: r.state.clone(),
            received_on: r.received_on.clone(),
            deadline: r.deadline.clone(),
            overdue: overdue(r, today),
            decided_on: r.decided_on.clone(),
        }
    }
}

/// Awaiting review and past its deadline.
pub(crate) fn overdue(r: &StoredReferral, today: Date) -> bool {
    r.state == ReferralState::AwaitingReview.as_str()
        && Date::parse(&r.deadline)
            .is_some_and(|d| redfolder_shared::referral::is_overdue(d, today))
}

/// The reviewed specialties.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SpecialtiesView {
    /// In the order offered.
    pub specialties: Vec<String>,
    /// The review's deadline in working days (3).
    pub review_working_days: u32,
}

/// Every reviewer assignment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReviewersView {
    pub reviewers: Vec<ReviewerAssignment>,
}

/// The practice's referrals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PracticeReferrals {
    /// Newest first.
    pub referrals: Vec<ReferralView>,
    /// Questions to answer and advice to acknowledge.
    pub needs_you: usize,
}

/// A specialty the reviewer reviews.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReviewedSpecialty {
    pub specialty: String,
    /// Still mentored by the specialty's consultants.
    pub mentored: bool,
}

/// The reviewer's queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct QueueView {
    /// `YYYY-MM-DD`: the day overdue is judged on.
    pub today: String,
    pub specialties: Vec<ReviewedSpecialty>,
    /// Earliest deadline first.
    pub queue: Vec<ReferralView>,
}

/// One referral with its history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReferralDetail {
    #[serde(flatten)]
    pub referral: ReferralView,
    pub urgency: String,
    pub relevant_history: String,
    /// Every step of its review, in order.
    pub events: Vec<ReferralEvent>,
    pub you_are: Party,
    /// The steps the caller may take now (`forward`, `return`, `ask_question`, `answer`,
    /// `acknowledge`).
    pub your_steps: Vec<&'static str>,
    /// In words for the patient.
    pub what_happens_next: String,
    /// Documents that came with it (a FHIR import's), without their content:
    /// `GET /referrals/{id}/attachments/{seq}` serves each.
    pub attachments: Vec<AttachmentInfo>,
}

/// A referral after a step.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StepTaken {
    #[serde(flatten)]
    pub referral: ReferralView,
    /// Whether the decision was written into the patient's care plan.
    pub plan_updated: bool,
}

/// A reviewer's decision (the reviewer's half of `redfolder_shared::referral::Step`).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(dead_code)] // a schema only
pub(crate) enum DecisionSchema {
    /// Send it to hospital, with a note for the hospital.
    Forward { note: String },
    /// Return it with advice: tests or treatment, and when to re-refer.
    Return { advice: Advice },
    /// Ask the referrer something before deciding.
    AskQuestion { question: String },
}
