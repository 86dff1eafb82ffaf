//! Typed edits: the only way callers change a plan.
//!
//! An [`Edit`] is validated against the current [`CarePlan`] before anything is written,
//! so an invalid edit returns an [`EditError`] and leaves the document untouched.

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::decision::{
    AdmissionDecision, AdmissionWish, AllergyStatement, AllergyStatus, CeilingOfTreatment,
    ConsentGivenBy, ConsentRecipient, ConsentWithdrawal, DecisionValue, DnacprStatus, PlaceOfDeath,
    ResuscitationDecision, SafetyField, TreatmentCeiling,
};
use crate::lifecycle::{
    CaseManager, CohortCategory, CompletionProblem, EndReason, PlanEnd, PlanStatus, ReviewOutcome,
    Tier,
};
use crate::nhs::{NhsNumber, NhsNumberError};
use crate::plan::{
    ActionStatus, Allergy, AllergySeverity, Attribution, BaselineObservations, CareFocus, CarePlan,
    CareTeamMember, Condition, Contact, EnteredInError, EscalationPlan, Goal, GoalAction,
    GoalStatus, MdtDiscussion, Medication, Relationship, Residence, Review, Sex, TeamContactKind,
};
use crate::schema::Field;

/// The signed-in user making an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Editor {
    pub user_id: String,
    pub user_name: String,
}

impl Editor {
    pub fn at(&self, at_ms: i64) -> Attribution {
        Attribution {
            user_id: self.user_id.clone(),
            user_name: self.user_name.clone(),
            at_ms,
        }
    }
}

/// Which list an entry lives in, for [`Edit::MarkEnteredInError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EntryList {
    Conditions,
    Medications,
    KeyContacts,
    CareTeam,
    Allergies,
    EscalationPlans,
    Goals,
    Reviews,
    MdtDiscussions,
    Advice,
}

/// A collaborative text in the plan, for [`Edit::SetText`] and [`Edit::SpliceText`].
/// JSON: `{"text":"self_management_advice"}` or `{"text":"review_notes","id":"r1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "text", rename_all = "snake_case")]
pub enum TextTarget {
    ExacerbationPlan,
    SelfManagementAdvice,
    EquipmentAndServices,
    EscalationPlan { id: String },
    ReviewNotes { id: String },
}

/// One change a clinician makes to a plan. Serialised as JSON with an `op` tag, e.g.
/// `{"op":"set_dnacpr","status":"do_not_attempt_cpr"}`. Optional fields may be left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    SetPatient {
        nhs_number: String,
        name: String,
        date_of_birth: String,
        address: String,
    },
    /// Replaces every patient detail other than identity and address.
    SetPatientDetails {
        #[serde(default)]
        preferred_name: String,
        #[serde(default)]
        sex: Option<Sex>,
        #[serde(default)]
        phone: String,
        #[serde(default)]
        access_notes: String,
        #[serde(default)]
        residence: Option<Residence>,
        #[serde(default)]
        gp_practice_ods: String,
        #[serde(default)]
        gp_practice_name: String,
        #[serde(default)]
        named_gp: String,
        #[serde(default)]
        communication_needs: String,
        #[serde(default)]
        interpreter_language: String,
    },
    SetEnrolment {
        #[serde(default)]
        cohort: Option<CohortCategory>,
        #[serde(default)]
        tier: Option<Tier>,
        #[serde(default)]
        start_date: Option<String>,
        #[serde(default)]
        review_interval_months: Option<u32>,
    },
    SetCaseManager {
        name: String,
        #[serde(default)]
        role: String,
        #[serde(default)]
        phone: String,
    },
    AddCareTeamMember {
        id: String,
        kind: TeamContactKind,
        role: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        organisation: String,
        #[serde(default)]
        phone: String,
        #[serde(default)]
        hours: String,
    },
    /// Sharing consent as version 1 recorded it: MDT, and all emergency services at once.
    SetConsent {
        share_with_mdt: bool,
        share_with_emergency_services: bool,
    },
    RecordConsent {
        recipients: Vec<ConsentRecipient>,
        given_by: ConsentGivenBy,
        #[serde(default)]
        capacity_note: String,
        consent_date: String,
    },
    /// Stops all sharing at once.
    WithdrawConsent {
        date: String,
    },
    AddCondition {
        id: String,
        name: String,
        treatment: String,
    },
    AddMedication {
        id: String,
        name: String,
        dose: String,
        notes: String,
    },
    /// A "just in case" medicine, with where it is kept in the home.
    AddAnticipatoryMedication {
        id: String,
        name: String,
        #[serde(default)]
        dose: String,
        location: String,
        #[serde(default)]
        notes: String,
    },
    AddAllergy {
        id: String,
        substance: String,
        #[serde(default)]
        reaction: String,
        severity: AllergySeverity,
    },
    RecordNoKnownAllergies,
    AddContact {
        id: String,
        role: String,
        name: String,
        phone: String,
    },
    AddPersonalContact {
        id: String,
        relationship: Relationship,
        name: String,
        #[serde(default)]
        phone: String,
    },
    MarkEnteredInError {
        list: EntryList,
        id: String,
    },
    /// Corrects a condition in place. Each field left out (or `null`) stays as it is, so
    /// a colleague's concurrent correction of another field or entry is kept.
    UpdateCondition {
        id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        treatment: Option<String>,
    },
    /// Corrects a medication in place; `location` only for an anticipatory medicine.
    UpdateMedication {
        id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        dose: Option<String>,
        #[serde(default)]
        notes: Option<String>,
        #[serde(default)]
        location: Option<String>,
    },
    /// Corrects an allergy in place (the plan's allergy status is not changed).
    UpdateAllergy {
        id: String,
        #[serde(default)]
        substance: Option<String>,
        #[serde(default)]
        reaction: Option<String>,
        #[serde(default)]
        severity: Option<AllergySeverity>,
    },
    /// Corrects a key or personal contact in place. A personal contact's role follows its
    /// `relationship`; `role` is for the other contacts.
    UpdateContact {
        id: String,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        relationship: Option<Relationship>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        phone: Option<String>,
    },
    /// Corrects a care team member or service contact in place.
    UpdateCareTeamMember {
        id: String,
        #[serde(default)]
        kind: Option<TeamContactKind>,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        organisation: Option<String>,
        #[serde(default)]
        phone: Option<String>,
        #[serde(default)]
        hours: Option<String>,
    },
    /// Corrects an escalation plan's condition or rescue pack in place (its text changes
    /// through [`Edit::SetText`] and [`Edit::SpliceText`]).
    UpdateEscalationPlan {
        id: String,
        #[serde(default)]
        condition: Option<String>,
        #[serde(default)]
        rescue_pack: Option<String>,
    },
    /// Corrects a goal in place (its status through [`Edit::SetGoalStatus`]).
    UpdateGoal {
        id: String,
        #[serde(default)]
        what_matters: Option<String>,
        #[serde(default)]
        goal: Option<String>,
        #[serde(default)]
        owner: Option<String>,
    },
    SetDnacpr {
        status: DnacprStatus,
    },
    /// A DNACPR or ReSPECT recommendation with its provenance.
    SetResuscitation {
        status: DnacprStatus,
        #[serde(default)]
        respect_form: bool,
        #[serde(default)]
        decision_date: Option<String>,
        #[serde(default)]
        decided_by: String,
        #[serde(default)]
        original_location: String,
    },
    SetAdrt {
        in_place: bool,
        #[serde(default)]
        details: String,
        #[serde(default)]
        original_location: String,
    },
    SetFocusOfCare {
        #[serde(default)]
        focus: Option<CareFocus>,
        #[serde(default)]
        notes: String,
        #[serde(default)]
        prognosis: String,
    },
    SetCeilingOfTreatment {
        ceiling: TreatmentCeiling,
        #[serde(default)]
        notes: String,
    },
    SetAdmissionWanted {
        wanted: AdmissionWish,
        #[serde(default)]
        notes: String,
    },
    SetPreferredPlaceOfCare {
        place: String,
    },
    SetPreferredPlaceOfDeath {
        place: String,
    },
    /// Replace the whole exacerbation plan text; the core stores it as the minimal
    /// character splices, so a colleague's concurrent typing elsewhere survives.
    SetExacerbationPlan {
        text: String,
    },
    /// Insert and delete at a UTF-8 byte offset, as an editor reports keystrokes.
    SpliceExacerbationPlan {
        index: usize,
        delete: usize,
        insert: String,
    },
    /// [`Edit::SetExacerbationPlan`] for any collaborative text.
    SetText {
        target: TextTarget,
        text: String,
    },
    /// [`Edit::SpliceExacerbationPlan`] for any collaborative text.
    SpliceText {
        target: TextTarget,
        index: usize,
        delete: usize,
        insert: String,
    },
    SetBaseline {
        pulse_bpm: Option<u32>,
        systolic_mmhg: Option<u32>,
        diastolic_mmhg: Option<u32>,
        respiratory_rate: Option<u32>,
        spo2_percent: Option<u32>,
        temperature_decidegrees: Option<u32>,
    },
    /// A whole baseline set as taken on one day.
    RecordBaseline {
        observed_on: String,
        #[serde(default)]
        pulse_bpm: Option<u32>,
        #[serde(default)]
        systolic_mmhg: Option<u32>,
        #[serde(default)]
        diastolic_mmhg: Option<u32>,
        #[serde(default)]
        respiratory_rate: Option<u32>,
        #[serde(default)]
        spo2_percent: Option<u32>,
        #[serde(default)]
        temperature_decidegrees: Option<u32>,
        #[serde(default)]
        peak_flow_l_min: Option<u32>,
        #[serde(default)]
        weight_decikg: Option<u32>,
        #[serde(default)]
        known_af: Option<bool>,
        #[serde(default)]
        usual_cognition: String,
        #[serde(default)]
        usual_mobility: String,
    },
    AddEscalationPlan {
        id: String,
        condition: String,
        plan: String,
        #[serde(default)]
        rescue_pack: String,
    },
    AddGoal {
        id: String,
        #[serde(default)]
        what_matters: String,
        goal: String,
        #[serde(default)]
        owner: String,
    },
    SetGoalStatus {
        id: String,
        status: GoalStatus,
    },
    AddGoalAction {
        goal_id: String,
        id: String,
        action: String,
        #[serde(default)]
        owner: String,
    },
    SetGoalActionStatus {
        goal_id: String,
        id: String,
        status: ActionStatus,
    },
    /// A review; its outcome moves the plan on (back to complete, or ended).
    RecordReview {
        id: String,
        date: String,
        face_to_face: bool,
        reviewer: String,
        #[serde(default)]
        attendees: String,
        #[serde(default)]
        notes: String,
        #[serde(default)]
        changes: String,
        #[serde(default)]
        still_in_top_5_percent: Option<bool>,
        outcome: ReviewOutcome,
        /// Defaults to the review date plus the review interval.
        #[serde(default)]
        next_review_due: Option<String>,
    },
    AddMdtDiscussion {
        id: String,
        date: String,
        attendees: String,
        outcome: String,
        #[serde(default)]
        referrals: String,
    },
    AddAdvice {
        id: String,
        from_name: String,
        #[serde(default)]
        from_role: String,
        advice: String,
    },
    MarkComplete,
    StartReview,
    EndPlan {
        reason: EndReason,
        date: String,
    },
    /// Settles a conflict on a safety-critical field by keeping one of its values
    /// (`keep` is a [`crate::ConflictingValue`] id), recorded as this editor's decision.
    ResolveConflict {
        field: SafetyField,
        keep: String,
    },
    /// Records that the yellow pages were printed for the home. `fingerprint` is the
    /// [`crate::SummaryFingerprint::whole`] printed on the pages; the edit is refused if
    /// the plan no longer prints that content, so a record never vouches for a paper it
    /// does not describe.
    RecordPaperCopy {
        fingerprint: String,
    },
    /// States that the patient needs no MDT discussion, and why (seed 003 step 10); for
    /// "plan complete" it stands in for an MDT discussion.
    RecordNoWiderAction {
        reason: String,
    },
    /// The face-to-face meeting with the GP responsible for the patient's care.
    RecordGpMeeting {
        date: String,
        gp: String,
        /// Who else was there (the case manager, the patient, carers).
        attendees: String,
    },
    /// A mental health assessment: done (`date`, `tool`, `outcome`), or not indicated
    /// (`reason`). Fields that do not belong to the status must be left empty.
    RecordMentalHealthAssessment {
        status: crate::MentalHealthStatus,
        #[serde(default)]
        date: Option<String>,
        #[serde(default)]
        tool: String,
        #[serde(default)]
        outcome: String,
        #[serde(default)]
        reason: String,
    },
}

/// Why an edit was refused. The document is unchanged whenever one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("invalid NHS number: {0}")]
    NhsNumber(#[from] NhsNumberError),
    #[error("{field} is required")]
    Required { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must be a date written YYYY-MM-DD, not {value:?}")]
    InvalidDate { field: &'static str, value: String },
    #[error("{field} cannot be in the future")]
    FutureDate { field: &'static str },
    #[error("{field} must be after {after}")]
    DateNotAfter {
        field: &'static str,
        after: &'static str,
    },
    #[error("{field} of {value} is outside the plausible range {min}–{max}")]
    Implausible {
        field: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error("{field} may hold only letters and digits")]
    InvalidCode { field: &'static str },
    #[error("diastolic pressure must be below systolic")]
    DiastolicAboveSystolic,
    #[error("an entry with id {0:?} already exists")]
    DuplicateId(String),
    #[error("no entry with id {0:?}")]
    UnknownEntry(String),
    #[error("entry {0:?} is already marked entered in error")]
    AlreadyEnteredInError(String),
    #[error("entry {0:?} is marked entered in error and cannot be corrected: add a new entry")]
    EnteredInError(String),
    #[error("{field} does not apply to this entry")]
    NotApplicable { field: &'static str },
    #[error("{field} is recorded only when {when}")]
    OnlyWhen {
        field: &'static str,
        when: &'static str,
    },
    #[error(
        "the text splice at {index} (deleting {delete}) is outside the text or splits a character"
    )]
    SpliceOutOfRange { index: usize, delete: usize },
    #[error("no known allergies cannot be recorded while allergies are listed")]
    AllergiesListed,
    #[error("a DNACPR recommendation needs {0}")]
    DnacprIncomplete(&'static str),
    #[error("consent must be shared with at least one recipient or withdrawn")]
    NoRecipients,
    #[error("there is no recorded consent to withdraw")]
    NoConsentToWithdraw,
    #[error("consent is already withdrawn")]
    ConsentAlreadyWithdrawn,
    #[error("the plan cannot be marked complete: {}", join(.0))]
    NotReadyToComplete(Vec<CompletionProblem>),
    #[error("a {from} plan cannot be {action}")]
    InvalidTransition {
        from: PlanStatus,
        action: &'static str,
    },
    #[error("the plan has ended: it can be read and corrected but not changed")]
    PlanEnded,
    #[error("there is no conflict on {0} to resolve")]
    NoConflict(SafetyField),
    #[error("{field} has no conflicting value {id:?}")]
    UnknownConflictValue { field: SafetyField, id: String },
    #[error("the plan changed since these pages were prepared: print them again")]
    PrintOutOfDate,
}

fn join(problems: &[CompletionProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

const MAX_SHORT: usize = 200;
const MAX_LONG: usize = 20_000;

impl Edit {
    /// Validates the edit against `plan` and applies it to that in-memory copy, returning
    /// the top-level fields to write.
    pub(crate) fn apply_to(
        &self,
        plan: &mut CarePlan,
        editor: &Editor,
        now_ms: i64,
    ) -> Result<Vec<Field>, EditError> {
        if plan.enrolment.status == PlanStatus::Ended
            && !matches!(self, Edit::MarkEnteredInError { .. })
        {
            return Err(EditError::PlanEnded);
        }
        let by = editor.at(now_ms);
        let today = Date::from_unix_ms(now_ms);
        let mut touched = match self {
            Edit::SetPatient { .. }
            | Edit::SetPatientDetails { .. }
            | Edit::SetEnrolment { .. }
            | Edit::SetCaseManager { .. }
            | Edit::AddCareTeamMember { .. }
            | Edit::UpdateCareTeamMember { .. }
            | Edit::SetConsent { .. }
            | Edit::RecordConsent { .. }
            | Edit::WithdrawConsent { .. }
            | Edit::AddContact { .. }
            | Edit::AddPersonalContact { .. }
            | Edit::UpdateContact { .. } => patient::apply(self, plan, &by, today)?,
            Edit::AddCondition { .. }
            | Edit::AddMedication { .. }
            | Edit::AddAnticipatoryMedication { .. }
            | Edit::AddAllergy { .. }
            | Edit::RecordNoKnownAllergies
            | Edit::MarkEnteredInError { .. }
            | Edit::UpdateCondition { .. }
            | Edit::UpdateMedication { .. }
            | Edit::UpdateAllergy { .. }
            | Edit::UpdateEscalationPlan { .. }
            | Edit::UpdateGoal { .. }
            | Edit::SetExacerbationPlan { .. }
            | Edit::SpliceExacerbationPlan { .. }
            | Edit::SetText { .. }
            | Edit::SpliceText { .. }
            | Edit::SetBaseline { .. }
            | Edit::RecordBaseline { .. }
            | Edit::AddEscalationPlan { .. }
            | Edit::AddGoal { .. }
            | Edit::SetGoalStatus { .. }
            | Edit::AddGoalAction { .. }
            | Edit::SetGoalActionStatus { .. } => clinical::apply(self, plan, &by, today)?,
            Edit::SetDnacpr { .. }
            | Edit::SetResuscitation { .. }
            | Edit::SetAdrt { .. }
            | Edit::SetFocusOfCare { .. }
            | Edit::SetCeilingOfTreatment { .. }
            | Edit::SetAdmissionWanted { .. }
            | Edit::SetPreferredPlaceOfCare { .. }
            | Edit::SetPreferredPlaceOfDeath { .. }
            | Edit::ResolveConflict { .. } => decisions::apply(self, plan, &by, today)?,
            Edit::RecordReview { .. }
            | Edit::AddMdtDiscussion { .. }
            | Edit::AddAdvice { .. }
            | Edit::MarkComplete
            | Edit::StartReview
            | Edit::EndPlan { .. }
            | Edit::RecordPaperCopy { .. } => lifecycle::apply(self, plan, &by, today)?,
            Edit::RecordNoWiderAction { .. }
            | Edit::RecordGpMeeting { .. }
            | Edit::RecordMentalHealthAssessment { .. } => {
                completion::apply(self, plan, &by, today)?
            }
        };
        plan.last_updated = Some(by);
        touched.push(Field::LastUpdated);
        Ok(touched)
    }
}

fn resolved(plan: &mut CarePlan, field: SafetyField) {
    plan.conflicts.retain(|c| c.field != field);
}

/// The live entry `id` of a list, for a correction in place.
macro_rules! live_entry {
    ($list:expr, $id:expr) => {{
        let entry = $list
            .iter_mut()
            .find(|e| e.id == *$id)
            .ok_or_else(|| EditError::UnknownEntry($id.to_owned()))?;
        if entry.entered_in_error.is_some() {
            return Err(EditError::EnteredInError($id.to_owned()));
        }
        entry
    }};
}

/// Sets `target` to the checked `value`, if one was given.
fn update(
    target: &mut String,
    value: &Option<String>,
    check: impl FnOnce(&str) -> Result<String, EditError>,
) -> Result<(), EditError> {
    if let Some(value) = value {
        *target = check(value)?;
    }
    Ok(())
}

fn required(field: &'static str, value: &str) -> Result<String, EditError> {
    let value = optional(field, value, MAX_SHORT)?;
    if value.is_empty() {
        return Err(EditError::Required { field });
    }
    Ok(value)
}

fn required_long(field: &'static str, value: &str) -> Result<String, EditError> {
    let value = optional(field, value, MAX_LONG)?;
    if value.is_empty() {
        return Err(EditError::Required { field });
    }
    Ok(value)
}

fn optional(field: &'static str, value: &str, max: usize) -> Result<String, EditError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(EditError::TooLong { field, max });
    }
    Ok(value.to_owned())
}

fn date_field(field: &'static str, value: &str) -> Result<Date, EditError> {
    Date::parse(value.trim()).ok_or_else(|| EditError::InvalidDate {
        field,
        value: value.to_owned(),
    })
}

fn past_date(field: &'static str, value: &str, today: Date) -> Result<String, EditError> {
    let date = date_field(field, value)?;
    if date > today {
        return Err(EditError::FutureDate { field });
    }
    Ok(date.to_string())
}

fn plausible(field: &'static str, value: Option<u32>, min: u32, max: u32) -> Result<(), EditError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(EditError::Implausible {
            field,
            value: v,
            min,
            max,
        }),
        _ => Ok(()),
    }
}

fn unique_id<'a>(
    id: &str,
    mut existing: impl Iterator<Item = &'a String>,
) -> Result<(), EditError> {
    if id.trim().is_empty() {
        return Err(EditError::Required { field: "id" });
    }
    if id.len() > 64 {
        return Err(EditError::TooLong {
            field: "id",
            max: 64,
        });
    }
    if existing.any(|e| e == id) {
        return Err(EditError::DuplicateId(id.to_owned()));
    }
    Ok(())
}

pub(crate) use clinical::checked_baseline;
pub(crate) use completion::{checked_gp_meeting, checked_mental_health, checked_no_wider_action};

mod clinical;
mod completion;
mod decisions;
mod lifecycle;
mod patient;

#[cfg(test)]
mod tests;
