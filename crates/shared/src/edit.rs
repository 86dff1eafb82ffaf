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
            Edit::SetPatient {
                nhs_number,
                name,
                date_of_birth,
                address,
            } => {
                let nhs = NhsNumber::parse(nhs_number)?;
                let name = required("name", name)?;
                let dob = past_date("date of birth", date_of_birth, today)?;
                let address = optional("address", address, MAX_SHORT * 2)?;
                let p = &mut plan.patient;
                p.nhs_number = nhs.digits();
                p.name = name;
                p.date_of_birth = dob;
                p.address = address;
                vec![Field::Patient]
            }
            Edit::SetPatientDetails {
                preferred_name,
                sex,
                phone,
                access_notes,
                residence,
                gp_practice_ods,
                gp_practice_name,
                named_gp,
                communication_needs,
                interpreter_language,
            } => {
                let ods = optional("GP practice ODS code", gp_practice_ods, 10)?;
                if !ods.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(EditError::InvalidCode {
                        field: "GP practice ODS code",
                    });
                }
                let p = &mut plan.patient;
                p.preferred_name = optional("preferred name", preferred_name, MAX_SHORT)?;
                p.sex = *sex;
                p.phone = optional("phone", phone, MAX_SHORT)?;
                p.access_notes = optional("access notes", access_notes, MAX_SHORT * 2)?;
                p.residence = *residence;
                p.gp_practice_ods = ods.to_ascii_uppercase();
                p.gp_practice_name = optional("GP practice", gp_practice_name, MAX_SHORT)?;
                p.named_gp = optional("named GP", named_gp, MAX_SHORT)?;
                p.communication_needs =
                    optional("communication needs", communication_needs, MAX_SHORT * 5)?;
                p.interpreter_language =
                    optional("interpreter language", interpreter_language, MAX_SHORT)?;
                vec![Field::Patient]
            }
            Edit::SetEnrolment {
                cohort,
                tier,
                start_date,
                review_interval_months,
            } => {
                if let Some(months) = review_interval_months {
                    plausible("review interval (months)", Some(*months), 1, 12)?;
                }
                let start = start_date
                    .as_deref()
                    .map(|d| past_date("start date", d, today))
                    .transpose()?;
                let e = &mut plan.enrolment;
                e.cohort = *cohort;
                e.tier = *tier;
                e.start_date = start;
                e.review_interval_months = *review_interval_months;
                vec![Field::Enrolment]
            }
            Edit::SetCaseManager { name, role, phone } => {
                plan.enrolment.case_manager = Some(CaseManager {
                    name: required("case manager", name)?,
                    role: optional("role", role, MAX_SHORT)?,
                    phone: optional("phone", phone, MAX_SHORT)?,
                    recorded: by.clone(),
                });
                vec![Field::Enrolment]
            }
            Edit::AddCareTeamMember {
                id,
                kind,
                role,
                name,
                organisation,
                phone,
                hours,
            } => {
                unique_id(id, plan.care_team.iter().map(|m| &m.id))?;
                let member = CareTeamMember {
                    id: id.clone(),
                    kind: *kind,
                    role: required("role", role)?,
                    name: optional("name", name, MAX_SHORT)?,
                    organisation: optional("organisation", organisation, MAX_SHORT)?,
                    phone: optional("phone", phone, MAX_SHORT)?,
                    hours: optional("hours", hours, MAX_SHORT)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                    updated: None,
                };
                if member.kind != TeamContactKind::Member && member.phone.is_empty() {
                    return Err(EditError::Required { field: "phone" });
                }
                plan.care_team.push(member);
                vec![Field::CareTeam]
            }
            Edit::SetConsent {
                share_with_mdt,
                share_with_emergency_services,
            } => {
                let mut recipients = Vec::new();
                if *share_with_mdt {
                    recipients.push(ConsentRecipient::Mdt);
                }
                if *share_with_emergency_services {
                    recipients.extend([
                        ConsentRecipient::OutOfHours,
                        ConsentRecipient::Ambulance,
                        ConsentRecipient::EmergencyDepartment,
                    ]);
                }
                let c = &mut plan.consent;
                c.withdrawn = None;
                c.recorded = Some(by.clone());
                c.set_recipients(recipients);
                resolved(plan, SafetyField::Consent);
                vec![Field::Consent]
            }
            Edit::RecordConsent {
                recipients,
                given_by,
                capacity_note,
                consent_date,
            } => {
                if recipients.is_empty() {
                    return Err(EditError::NoRecipients);
                }
                let date = past_date("consent date", consent_date, today)?;
                let note = optional("capacity note", capacity_note, MAX_LONG)?;
                let c = &mut plan.consent;
                c.withdrawn = None;
                c.given_by = Some(*given_by);
                c.capacity_note = note;
                c.consent_date = Some(date);
                c.recorded = Some(by.clone());
                c.set_recipients(recipients.clone());
                resolved(plan, SafetyField::Consent);
                vec![Field::Consent]
            }
            Edit::WithdrawConsent { date } => {
                if plan.consent.recorded.is_none() {
                    return Err(EditError::NoConsentToWithdraw);
                }
                if plan.consent.withdrawn.is_some() {
                    return Err(EditError::ConsentAlreadyWithdrawn);
                }
                let date = past_date("withdrawal date", date, today)?;
                let c = &mut plan.consent;
                c.withdrawn = Some(ConsentWithdrawal {
                    date,
                    recorded: by.clone(),
                });
                c.recorded = Some(by.clone());
                let recipients = std::mem::take(&mut c.recipients);
                c.set_recipients(recipients);
                resolved(plan, SafetyField::Consent);
                vec![Field::Consent]
            }
            Edit::AddCondition {
                id,
                name,
                treatment,
            } => {
                unique_id(id, plan.conditions.iter().map(|c| &c.id))?;
                plan.conditions.push(Condition {
                    id: id.clone(),
                    name: required("condition", name)?,
                    treatment: optional("treatment", treatment, MAX_LONG)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                    updated: None,
                });
                vec![Field::Conditions]
            }
            Edit::AddMedication {
                id,
                name,
                dose,
                notes,
            } => {
                unique_id(id, plan.medications.iter().map(|m| &m.id))?;
                plan.medications.push(Medication {
                    id: id.clone(),
                    name: required("medication", name)?,
                    dose: optional("dose", dose, MAX_SHORT)?,
                    notes: optional("notes", notes, MAX_LONG)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                    anticipatory: false,
                    location: String::new(),
                    updated: None,
                });
                vec![Field::Medications]
            }
            Edit::AddAnticipatoryMedication {
                id,
                name,
                dose,
                location,
                notes,
            } => {
                unique_id(id, plan.medications.iter().map(|m| &m.id))?;
                plan.medications.push(Medication {
                    id: id.clone(),
                    name: required("medication", name)?,
                    dose: optional("dose", dose, MAX_SHORT)?,
                    notes: optional("notes", notes, MAX_LONG)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                    anticipatory: true,
                    location: required("where the medicine is kept", location)?,
                    updated: None,
                });
                vec![Field::Medications]
            }
            Edit::AddAllergy {
                id,
                substance,
                reaction,
                severity,
            } => {
                unique_id(id, plan.allergies.iter().map(|a| &a.id))?;
                plan.allergies.push(Allergy {
                    id: id.clone(),
                    substance: required("allergen", substance)?,
                    reaction: optional("reaction", reaction, MAX_SHORT)?,
                    severity: *severity,
                    recorded: by.clone(),
                    entered_in_error: None,
                    updated: None,
                });
                // Adding an allergy states that the patient has allergies. Written every
                // time, so a concurrent "no known allergies" always meets it as a conflict.
                plan.allergy_status = Some(AllergyStatement {
                    status: AllergyStatus::AllergiesRecorded,
                    recorded: by.clone(),
                });
                resolved(plan, SafetyField::Allergies);
                vec![Field::Allergies, Field::AllergyStatus]
            }
            Edit::RecordNoKnownAllergies => {
                if plan.active_allergies().next().is_some() {
                    return Err(EditError::AllergiesListed);
                }
                plan.allergy_status = Some(AllergyStatement {
                    status: AllergyStatus::NoKnownAllergies,
                    recorded: by.clone(),
                });
                resolved(plan, SafetyField::Allergies);
                vec![Field::AllergyStatus]
            }
            Edit::AddContact {
                id,
                role,
                name,
                phone,
            } => {
                unique_id(id, plan.key_contacts.iter().map(|c| &c.id))?;
                plan.key_contacts.push(Contact {
                    id: id.clone(),
                    role: required("contact role", role)?,
                    name: required("contact name", name)?,
                    phone: optional("phone", phone, MAX_SHORT)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                    relationship: None,
                    updated: None,
                });
                vec![Field::KeyContacts]
            }
            Edit::AddPersonalContact {
                id,
                relationship,
                name,
                phone,
            } => {
                unique_id(id, plan.key_contacts.iter().map(|c| &c.id))?;
                plan.key_contacts.push(Contact {
                    id: id.clone(),
                    role: relationship.label().to_owned(),
                    name: required("contact name", name)?,
                    phone: optional("phone", phone, MAX_SHORT)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                    relationship: Some(*relationship),
                    updated: None,
                });
                vec![Field::KeyContacts]
            }
            Edit::MarkEnteredInError { list, id } => mark_entered_in_error(plan, *list, id, &by)?,
            Edit::UpdateCondition {
                id,
                name,
                treatment,
            } => {
                let c = live_entry!(plan.conditions, id);
                update(&mut c.name, name, |v| required("condition", v))?;
                update(&mut c.treatment, treatment, |v| {
                    optional("treatment", v, MAX_LONG)
                })?;
                c.updated = Some(by.clone());
                vec![Field::Conditions]
            }
            Edit::UpdateMedication {
                id,
                name,
                dose,
                notes,
                location,
            } => {
                let m = live_entry!(plan.medications, id);
                update(&mut m.name, name, |v| required("medication", v))?;
                update(&mut m.dose, dose, |v| optional("dose", v, MAX_SHORT))?;
                update(&mut m.notes, notes, |v| optional("notes", v, MAX_LONG))?;
                if location.is_some() && !m.anticipatory {
                    return Err(EditError::NotApplicable {
                        field: "where the medicine is kept",
                    });
                }
                update(&mut m.location, location, |v| {
                    required("where the medicine is kept", v)
                })?;
                m.updated = Some(by.clone());
                vec![Field::Medications]
            }
            Edit::UpdateAllergy {
                id,
                substance,
                reaction,
                severity,
            } => {
                let a = live_entry!(plan.allergies, id);
                update(&mut a.substance, substance, |v| required("allergen", v))?;
                update(&mut a.reaction, reaction, |v| {
                    optional("reaction", v, MAX_SHORT)
                })?;
                if let Some(severity) = severity {
                    a.severity = *severity;
                }
                a.updated = Some(by.clone());
                vec![Field::Allergies]
            }
            Edit::UpdateContact {
                id,
                role,
                relationship,
                name,
                phone,
            } => {
                let c = live_entry!(plan.key_contacts, id);
                match (relationship, role) {
                    (Some(_), Some(_)) => {
                        return Err(EditError::NotApplicable {
                            field: "a role beside a relationship",
                        });
                    }
                    (Some(relationship), None) if c.relationship.is_some() => {
                        c.relationship = Some(*relationship);
                        c.role = relationship.label().to_owned();
                    }
                    (Some(_), None) => {
                        return Err(EditError::NotApplicable {
                            field: "relationship",
                        });
                    }
                    (None, Some(_)) if c.relationship.is_some() => {
                        return Err(EditError::NotApplicable { field: "role" });
                    }
                    (None, role) => update(&mut c.role, role, |v| required("contact role", v))?,
                }
                update(&mut c.name, name, |v| required("contact name", v))?;
                update(&mut c.phone, phone, |v| optional("phone", v, MAX_SHORT))?;
                c.updated = Some(by.clone());
                vec![Field::KeyContacts]
            }
            Edit::UpdateCareTeamMember {
                id,
                kind,
                role,
                name,
                organisation,
                phone,
                hours,
            } => {
                let m = live_entry!(plan.care_team, id);
                if let Some(kind) = kind {
                    m.kind = *kind;
                }
                update(&mut m.role, role, |v| required("role", v))?;
                update(&mut m.name, name, |v| optional("name", v, MAX_SHORT))?;
                update(&mut m.organisation, organisation, |v| {
                    optional("organisation", v, MAX_SHORT)
                })?;
                update(&mut m.phone, phone, |v| optional("phone", v, MAX_SHORT))?;
                update(&mut m.hours, hours, |v| optional("hours", v, MAX_SHORT))?;
                if m.kind != TeamContactKind::Member && m.phone.is_empty() {
                    return Err(EditError::Required { field: "phone" });
                }
                m.updated = Some(by.clone());
                vec![Field::CareTeam]
            }
            Edit::UpdateEscalationPlan {
                id,
                condition,
                rescue_pack,
            } => {
                let e = live_entry!(plan.escalation_plans, id);
                update(&mut e.condition, condition, |v| required("condition", v))?;
                update(&mut e.rescue_pack, rescue_pack, |v| {
                    optional("rescue pack", v, MAX_SHORT * 2)
                })?;
                e.updated = Some(by.clone());
                vec![Field::EscalationPlans]
            }
            Edit::UpdateGoal {
                id,
                what_matters,
                goal,
                owner,
            } => {
                let g = live_goal(plan, id)?;
                update(&mut g.what_matters, what_matters, |v| {
                    optional("what matters", v, MAX_LONG)
                })?;
                update(&mut g.goal, goal, |v| required("goal", v))?;
                update(&mut g.owner, owner, |v| optional("owner", v, MAX_SHORT))?;
                g.updated = Some(by.clone());
                vec![Field::Goals]
            }
            Edit::SetDnacpr { status } => {
                set_resuscitation(
                    plan,
                    ResuscitationDecision {
                        status: *status,
                        respect_form: false,
                        decision_date: None,
                        decided_by: String::new(),
                        original_location: String::new(),
                        recorded: by.clone(),
                    },
                );
                vec![Field::Dnacpr]
            }
            Edit::SetResuscitation {
                status,
                respect_form,
                decision_date,
                decided_by,
                original_location,
            } => {
                let decision_date = decision_date
                    .as_deref()
                    .filter(|d| !d.trim().is_empty())
                    .map(|d| past_date("decision date", d, today))
                    .transpose()?;
                let decided_by = optional("decided by", decided_by, MAX_SHORT)?;
                let original_location =
                    optional("location of the original", original_location, MAX_SHORT)?;
                // A crew may act on a DNACPR only if they can see who decided it, when,
                // and where the signed original is.
                if *status == DnacprStatus::DoNotAttemptCpr {
                    if decision_date.is_none() {
                        return Err(EditError::DnacprIncomplete("a decision date"));
                    }
                    if decided_by.is_empty() {
                        return Err(EditError::DnacprIncomplete("the clinician who decided"));
                    }
                    if original_location.is_empty() {
                        return Err(EditError::DnacprIncomplete(
                            "where the original form is kept",
                        ));
                    }
                }
                set_resuscitation(
                    plan,
                    ResuscitationDecision {
                        status: *status,
                        respect_form: *respect_form,
                        decision_date,
                        decided_by,
                        original_location,
                        recorded: by.clone(),
                    },
                );
                vec![Field::Dnacpr]
            }
            Edit::SetAdrt {
                in_place,
                details,
                original_location,
            } => {
                let details = optional("ADRT details", details, MAX_LONG)?;
                if *in_place && details.is_empty() {
                    return Err(EditError::Required {
                        field: "ADRT details",
                    });
                }
                plan.adrt = crate::plan::Adrt {
                    in_place: *in_place,
                    details,
                    original_location: optional(
                        "location of the original",
                        original_location,
                        MAX_SHORT,
                    )?,
                    recorded: Some(by.clone()),
                };
                vec![Field::Adrt]
            }
            Edit::SetFocusOfCare {
                focus,
                notes,
                prognosis,
            } => {
                plan.focus_of_care = crate::plan::FocusOfCare {
                    focus: *focus,
                    notes: optional("focus of care notes", notes, MAX_LONG)?,
                    prognosis: optional("prognosis", prognosis, MAX_LONG)?,
                    recorded: Some(by.clone()),
                };
                vec![Field::FocusOfCare]
            }
            Edit::SetCeilingOfTreatment { ceiling, notes } => {
                plan.ceiling_of_treatment = Some(CeilingOfTreatment {
                    ceiling: *ceiling,
                    notes: optional("ceiling of treatment notes", notes, MAX_LONG)?,
                    recorded: by.clone(),
                });
                resolved(plan, SafetyField::CeilingOfTreatment);
                vec![Field::CeilingOfTreatment]
            }
            Edit::SetAdmissionWanted { wanted, notes } => {
                plan.admission_wanted = Some(AdmissionDecision {
                    wanted: *wanted,
                    notes: optional("admission notes", notes, MAX_LONG)?,
                    recorded: by.clone(),
                });
                resolved(plan, SafetyField::AdmissionWanted);
                vec![Field::AdmissionWanted]
            }
            Edit::SetPreferredPlaceOfCare { place } => {
                plan.preferred_place_of_care =
                    optional("preferred place of care", place, MAX_SHORT)?;
                vec![Field::PreferredPlaceOfCare]
            }
            Edit::SetPreferredPlaceOfDeath { place } => {
                plan.preferred_place_of_death = Some(PlaceOfDeath {
                    place: required("preferred place of death", place)?,
                    recorded: by.clone(),
                });
                resolved(plan, SafetyField::PreferredPlaceOfDeath);
                vec![Field::PreferredPlaceOfDeath]
            }
            Edit::SetExacerbationPlan { text } => {
                set_text(plan, &TextTarget::ExacerbationPlan, |t, field| {
                    replace_text(t, field, text)
                })?
            }
            Edit::SpliceExacerbationPlan {
                index,
                delete,
                insert,
            } => set_text(plan, &TextTarget::ExacerbationPlan, |t, field| {
                splice_text(t, field, *index, *delete, insert)
            })?,
            Edit::SetText { target, text } => {
                set_text(plan, target, |t, field| replace_text(t, field, text))?
            }
            Edit::SpliceText {
                target,
                index,
                delete,
                insert,
            } => set_text(plan, target, |t, field| {
                splice_text(t, field, *index, *delete, insert)
            })?,
            Edit::SetBaseline {
                pulse_bpm,
                systolic_mmhg,
                diastolic_mmhg,
                respiratory_rate,
                spo2_percent,
                temperature_decidegrees,
            } => {
                plan.baseline = checked_baseline(BaselineObservations {
                    pulse_bpm: *pulse_bpm,
                    systolic_mmhg: *systolic_mmhg,
                    diastolic_mmhg: *diastolic_mmhg,
                    respiratory_rate: *respiratory_rate,
                    spo2_percent: *spo2_percent,
                    temperature_decidegrees: *temperature_decidegrees,
                    recorded: Some(by.clone()),
                    ..BaselineObservations::default()
                })?;
                vec![Field::Baseline]
            }
            Edit::RecordBaseline {
                observed_on,
                pulse_bpm,
                systolic_mmhg,
                diastolic_mmhg,
                respiratory_rate,
                spo2_percent,
                temperature_decidegrees,
                peak_flow_l_min,
                weight_decikg,
                known_af,
                usual_cognition,
                usual_mobility,
            } => {
                plan.baseline = checked_baseline(BaselineObservations {
                    pulse_bpm: *pulse_bpm,
                    systolic_mmhg: *systolic_mmhg,
                    diastolic_mmhg: *diastolic_mmhg,
                    respiratory_rate: *respiratory_rate,
                    spo2_percent: *spo2_percent,
                    temperature_decidegrees: *temperature_decidegrees,
                    recorded: Some(by.clone()),
                    peak_flow_l_min: *peak_flow_l_min,
                    weight_decikg: *weight_decikg,
                    known_af: *known_af,
                    usual_cognition: optional("usual cognition", usual_cognition, MAX_SHORT * 2)?,
                    usual_mobility: optional("usual mobility", usual_mobility, MAX_SHORT * 2)?,
                    observed_on: Some(past_date("observation date", observed_on, today)?),
                })?;
                vec![Field::Baseline]
            }
            Edit::AddEscalationPlan {
                id,
                condition,
                plan: text,
                rescue_pack,
            } => {
                unique_id(id, plan.escalation_plans.iter().map(|e| &e.id))?;
                if text.chars().count() > MAX_LONG {
                    return Err(EditError::TooLong {
                        field: "escalation plan",
                        max: MAX_LONG,
                    });
                }
                plan.escalation_plans.push(EscalationPlan {
                    id: id.clone(),
                    condition: required("condition", condition)?,
                    plan: autosurgeon::Text::with_value(text),
                    rescue_pack: optional("rescue pack", rescue_pack, MAX_SHORT * 2)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                    updated: None,
                });
                vec![Field::EscalationPlans]
            }
            Edit::AddGoal {
                id,
                what_matters,
                goal,
                owner,
            } => {
                unique_id(id, plan.goals.iter().map(|g| &g.id))?;
                plan.goals.push(Goal {
                    id: id.clone(),
                    what_matters: optional("what matters", what_matters, MAX_LONG)?,
                    goal: required("goal", goal)?,
                    owner: optional("owner", owner, MAX_SHORT)?,
                    status: GoalStatus::Agreed,
                    actions: Vec::new(),
                    recorded: by.clone(),
                    updated: None,
                    entered_in_error: None,
                });
                vec![Field::Goals]
            }
            Edit::SetGoalStatus { id, status } => {
                let goal = live_goal(plan, id)?;
                goal.status = *status;
                goal.updated = Some(by.clone());
                vec![Field::Goals]
            }
            Edit::AddGoalAction {
                goal_id,
                id,
                action,
                owner,
            } => {
                let action = required("action", action)?;
                let owner = optional("owner", owner, MAX_SHORT)?;
                let goal = live_goal(plan, goal_id)?;
                unique_id(id, goal.actions.iter().map(|a| &a.id))?;
                goal.actions.push(GoalAction {
                    id: id.clone(),
                    action,
                    owner,
                    status: ActionStatus::Planned,
                    recorded: by.clone(),
                    updated: None,
                });
                vec![Field::Goals]
            }
            Edit::SetGoalActionStatus {
                goal_id,
                id,
                status,
            } => {
                let goal = live_goal(plan, goal_id)?;
                let action = goal
                    .actions
                    .iter_mut()
                    .find(|a| &a.id == id)
                    .ok_or_else(|| EditError::UnknownEntry(id.clone()))?;
                action.status = *status;
                action.updated = Some(by.clone());
                vec![Field::Goals]
            }
            Edit::RecordReview {
                id,
                date,
                face_to_face,
                reviewer,
                attendees,
                notes,
                changes,
                still_in_top_5_percent,
                outcome,
                next_review_due,
            } => record_review(
                plan,
                ReviewInput {
                    id,
                    date,
                    face_to_face: *face_to_face,
                    reviewer,
                    attendees,
                    notes,
                    changes,
                    still_in_top_5_percent: *still_in_top_5_percent,
                    outcome: *outcome,
                    next_review_due: next_review_due.as_deref(),
                },
                &by,
                today,
            )?,
            Edit::AddMdtDiscussion {
                id,
                date,
                attendees,
                outcome,
                referrals,
            } => {
                unique_id(id, plan.mdt_discussions.iter().map(|m| &m.id))?;
                plan.mdt_discussions.push(MdtDiscussion {
                    id: id.clone(),
                    date: past_date("MDT date", date, today)?,
                    attendees: required("attendees", attendees)?,
                    outcome: required_long("outcome", outcome)?,
                    referrals: optional("referrals", referrals, MAX_LONG)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                });
                vec![Field::MdtDiscussions]
            }
            Edit::AddAdvice {
                id,
                from_name,
                from_role,
                advice,
            } => {
                unique_id(id, plan.advice.iter().map(|a| &a.id))?;
                plan.advice.push(crate::plan::Advice {
                    id: id.clone(),
                    from_name: required("advice from", from_name)?,
                    from_role: optional("role", from_role, MAX_SHORT)?,
                    advice: required_long("advice", advice)?,
                    recorded: by.clone(),
                    entered_in_error: None,
                });
                vec![Field::Advice]
            }
            Edit::MarkComplete => {
                let status = plan.enrolment.status;
                if !matches!(status, PlanStatus::Draft | PlanStatus::UnderReview) {
                    return Err(EditError::InvalidTransition {
                        from: status,
                        action: "marked complete",
                    });
                }
                complete(plan, &by, today)?;
                vec![Field::Enrolment]
            }
            Edit::StartReview => {
                let status = plan.enrolment.status;
                if status != PlanStatus::Complete {
                    return Err(EditError::InvalidTransition {
                        from: status,
                        action: "put under review",
                    });
                }
                plan.enrolment.status = PlanStatus::UnderReview;
                plan.enrolment.review_started = Some(by.clone());
                vec![Field::Enrolment]
            }
            Edit::EndPlan { reason, date } => {
                let date = past_date("end date", date, today)?;
                plan.enrolment.status = PlanStatus::Ended;
                plan.enrolment.next_review_due = None;
                plan.enrolment.ended = Some(PlanEnd {
                    reason: *reason,
                    date,
                    recorded: by.clone(),
                });
                vec![Field::Enrolment]
            }
            Edit::ResolveConflict { field, keep } => resolve(plan, *field, keep, &by)?,
            Edit::RecordPaperCopy { fingerprint } => {
                let now = plan.summary_fingerprint();
                if !fingerprint.trim().eq_ignore_ascii_case(&now.whole) {
                    return Err(EditError::PrintOutOfDate);
                }
                plan.paper_copy = Some(crate::PaperCopy {
                    fingerprint: now.whole,
                    sections: now.sections.concat(),
                    plan_version: plan.plan_version.clone(),
                    printed: by.clone(),
                });
                vec![Field::PaperCopy]
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

fn set_resuscitation(plan: &mut CarePlan, decision: ResuscitationDecision) {
    plan.dnacpr = decision.status;
    plan.resuscitation = Some(decision);
    resolved(plan, SafetyField::Dnacpr);
}

fn resolve(
    plan: &mut CarePlan,
    field: SafetyField,
    keep: &str,
    by: &Attribution,
) -> Result<Vec<Field>, EditError> {
    let conflict = plan.conflict(field).ok_or(EditError::NoConflict(field))?;
    let kept = conflict
        .values
        .iter()
        .find(|v| v.id == keep)
        .ok_or_else(|| EditError::UnknownConflictValue {
            field,
            id: keep.to_owned(),
        })?
        .value
        .clone();
    // The kept value is re-recorded as the resolver's decision: they are the clinician who
    // looked at both and chose, and the history keeps who first recorded each.
    let touched = match kept {
        DecisionValue::Resuscitation(mut r) => {
            r.recorded = by.clone();
            set_resuscitation(plan, r);
            Field::Dnacpr
        }
        DecisionValue::AllergyStatement(AllergyStatement { status, .. }) => {
            if status == AllergyStatus::NoKnownAllergies && plan.active_allergies().next().is_some()
            {
                return Err(EditError::AllergiesListed);
            }
            plan.allergy_status = Some(AllergyStatement {
                status,
                recorded: by.clone(),
            });
            Field::AllergyStatus
        }
        DecisionValue::AllergyEntry(_) => {
            plan.allergy_status = Some(AllergyStatement {
                status: AllergyStatus::AllergiesRecorded,
                recorded: by.clone(),
            });
            Field::AllergyStatus
        }
        DecisionValue::CeilingOfTreatment(mut c) => {
            c.recorded = by.clone();
            plan.ceiling_of_treatment = Some(c);
            Field::CeilingOfTreatment
        }
        DecisionValue::AdmissionWanted(mut a) => {
            a.recorded = by.clone();
            plan.admission_wanted = Some(a);
            Field::AdmissionWanted
        }
        DecisionValue::PreferredPlaceOfDeath(mut p) => {
            p.recorded = by.clone();
            plan.preferred_place_of_death = Some(p);
            Field::PreferredPlaceOfDeath
        }
        DecisionValue::Consent(mut c) => {
            c.recorded = Some(by.clone());
            // A kept withdrawal is the resolver's decision too: the consent register is
            // written whole, and a change may carry no other clinician's name.
            if let Some(w) = &mut c.withdrawn {
                w.recorded = by.clone();
            }
            plan.consent = c;
            Field::Consent
        }
    };
    resolved(plan, field);
    Ok(vec![touched])
}

fn complete(plan: &mut CarePlan, by: &Attribution, today: Date) -> Result<(), EditError> {
    let problems = plan.completion_problems();
    if !problems.is_empty() {
        return Err(EditError::NotReadyToComplete(problems));
    }
    let e = &mut plan.enrolment;
    e.status = PlanStatus::Complete;
    e.completed = Some(by.clone());
    if e.next_review_due.is_none() {
        e.next_review_due = Some(today.add_months(e.review_interval()).to_string());
    }
    Ok(())
}

struct ReviewInput<'a> {
    id: &'a str,
    date: &'a str,
    face_to_face: bool,
    reviewer: &'a str,
    attendees: &'a str,
    notes: &'a str,
    changes: &'a str,
    still_in_top_5_percent: Option<bool>,
    outcome: ReviewOutcome,
    next_review_due: Option<&'a str>,
}

fn record_review(
    plan: &mut CarePlan,
    r: ReviewInput<'_>,
    by: &Attribution,
    today: Date,
) -> Result<Vec<Field>, EditError> {
    let status = plan.enrolment.status;
    if !matches!(status, PlanStatus::Complete | PlanStatus::UnderReview) {
        return Err(EditError::InvalidTransition {
            from: status,
            action: "reviewed",
        });
    }
    unique_id(r.id, plan.reviews.iter().map(|v| &v.id))?;
    let date = past_date("review date", r.date, today)?;
    let review_day = Date::parse(&date).expect("just checked");
    if r.notes.chars().count() > MAX_LONG {
        return Err(EditError::TooLong {
            field: "review notes",
            max: MAX_LONG,
        });
    }
    let reviewer = required("reviewer", r.reviewer)?;
    let attendees = optional("attendees", r.attendees, MAX_SHORT * 2)?;
    let changes = optional("changes", r.changes, MAX_LONG)?;
    if r.outcome == ReviewOutcome::MoveToAnnualReview {
        plan.enrolment.review_interval_months = Some(12);
    }
    let next = match (r.outcome, r.next_review_due) {
        (ReviewOutcome::EndCaseManagement, _) => None,
        (_, Some(next)) => {
            let next = date_field("next review due", next)?;
            if next <= review_day {
                return Err(EditError::DateNotAfter {
                    field: "next review due",
                    after: "the review date",
                });
            }
            Some(next.to_string())
        }
        (_, None) => Some(
            review_day
                .add_months(plan.enrolment.review_interval())
                .to_string(),
        ),
    };
    plan.reviews.push(Review {
        id: r.id.to_owned(),
        date: date.clone(),
        face_to_face: r.face_to_face,
        reviewer,
        attendees,
        notes: autosurgeon::Text::with_value(r.notes),
        changes,
        still_in_top_5_percent: r.still_in_top_5_percent,
        outcome: r.outcome,
        next_review_due: next.clone(),
        recorded: by.clone(),
        entered_in_error: None,
    });
    if r.outcome == ReviewOutcome::EndCaseManagement {
        plan.enrolment.status = PlanStatus::Ended;
        plan.enrolment.next_review_due = None;
        plan.enrolment.ended = Some(PlanEnd {
            reason: EndReason::NoLongerHighRisk,
            date,
            recorded: by.clone(),
        });
    } else {
        // Continuing means the plan in the home is complete again, so the same rules hold.
        plan.enrolment.next_review_due = None;
        complete(plan, by, today)?;
        plan.enrolment.next_review_due = next;
    }
    Ok(vec![Field::Reviews, Field::Enrolment])
}

fn live_goal<'a>(plan: &'a mut CarePlan, id: &str) -> Result<&'a mut Goal, EditError> {
    let goal = plan
        .goals
        .iter_mut()
        .find(|g| g.id == id)
        .ok_or_else(|| EditError::UnknownEntry(id.to_owned()))?;
    if goal.entered_in_error.is_some() {
        return Err(EditError::AlreadyEnteredInError(id.to_owned()));
    }
    Ok(goal)
}

fn mark_entered_in_error(
    plan: &mut CarePlan,
    list: EntryList,
    id: &str,
    by: &Attribution,
) -> Result<Vec<Field>, EditError> {
    macro_rules! slot {
        ($field:ident) => {
            plan.$field
                .iter_mut()
                .find(|e| e.id == id)
                .map(|e| &mut e.entered_in_error)
        };
    }
    let (slot, field) = match list {
        EntryList::Conditions => (slot!(conditions), Field::Conditions),
        EntryList::Medications => (slot!(medications), Field::Medications),
        EntryList::KeyContacts => (slot!(key_contacts), Field::KeyContacts),
        EntryList::CareTeam => (slot!(care_team), Field::CareTeam),
        EntryList::Allergies => (slot!(allergies), Field::Allergies),
        EntryList::EscalationPlans => (slot!(escalation_plans), Field::EscalationPlans),
        EntryList::Goals => (slot!(goals), Field::Goals),
        EntryList::Reviews => (slot!(reviews), Field::Reviews),
        EntryList::MdtDiscussions => (slot!(mdt_discussions), Field::MdtDiscussions),
        EntryList::Advice => (slot!(advice), Field::Advice),
    };
    let slot = slot.ok_or_else(|| EditError::UnknownEntry(id.to_owned()))?;
    if slot.is_some() {
        return Err(EditError::AlreadyEnteredInError(id.to_owned()));
    }
    *slot = Some(EnteredInError { by: by.clone() });
    let mut touched = vec![field];
    // With its last allergy withdrawn the plan no longer says anything about allergies:
    // neither "allergies recorded" nor, without someone checking, "none known".
    if list == EntryList::Allergies
        && plan.active_allergies().next().is_none()
        && plan
            .allergy_status
            .as_ref()
            .is_some_and(|s| s.status == AllergyStatus::AllergiesRecorded)
        && plan.conflict(SafetyField::Allergies).is_none()
    {
        plan.allergy_status = Some(AllergyStatement {
            status: AllergyStatus::NotRecorded,
            recorded: by.clone(),
        });
        touched.push(Field::AllergyStatus);
    }
    Ok(touched)
}

fn set_text(
    plan: &mut CarePlan,
    target: &TextTarget,
    change: impl FnOnce(&mut autosurgeon::Text, &'static str) -> Result<(), EditError>,
) -> Result<Vec<Field>, EditError> {
    let (text, name, field) = match target {
        TextTarget::ExacerbationPlan => (
            &mut plan.exacerbation_plan,
            "exacerbation plan",
            Field::ExacerbationPlan,
        ),
        TextTarget::SelfManagementAdvice => (
            &mut plan.self_management_advice,
            "self-management advice",
            Field::SelfManagementAdvice,
        ),
        TextTarget::EquipmentAndServices => (
            &mut plan.equipment_and_services,
            "equipment and services",
            Field::EquipmentAndServices,
        ),
        TextTarget::EscalationPlan { id } => {
            let e = plan
                .escalation_plans
                .iter_mut()
                .find(|e| &e.id == id)
                .ok_or_else(|| EditError::UnknownEntry(id.clone()))?;
            (&mut e.plan, "escalation plan", Field::EscalationPlans)
        }
        TextTarget::ReviewNotes { id } => {
            let r = plan
                .reviews
                .iter_mut()
                .find(|r| &r.id == id)
                .ok_or_else(|| EditError::UnknownEntry(id.clone()))?;
            (&mut r.notes, "review notes", Field::Reviews)
        }
    };
    change(text, name)?;
    Ok(vec![field])
}

fn replace_text(
    text: &mut autosurgeon::Text,
    field: &'static str,
    value: &str,
) -> Result<(), EditError> {
    // Not trimmed: this is what is in the editor while someone types, and a trailing space
    // is the start of their next word.
    if value.chars().count() > MAX_LONG {
        return Err(EditError::TooLong {
            field,
            max: MAX_LONG,
        });
    }
    text.update(value);
    Ok(())
}

fn splice_text(
    text: &mut autosurgeon::Text,
    field: &'static str,
    index: usize,
    delete: usize,
    insert: &str,
) -> Result<(), EditError> {
    let current = text.as_str();
    let end = index
        .checked_add(delete)
        .filter(|&end| end <= current.len());
    let fits =
        end.is_some_and(|end| current.is_char_boundary(index) && current.is_char_boundary(end));
    if !fits {
        return Err(EditError::SpliceOutOfRange { index, delete });
    }
    if current.len() - delete + insert.len() > MAX_LONG {
        return Err(EditError::TooLong {
            field,
            max: MAX_LONG,
        });
    }
    text.splice(index, delete as isize, insert);
    Ok(())
}

/// Checks every observation against a plausible range for an adult at rest, so a slip of
/// the finger (a pulse of 800) is caught before a crew compares against it.
pub(crate) fn checked_baseline(b: BaselineObservations) -> Result<BaselineObservations, EditError> {
    plausible("pulse", b.pulse_bpm, 20, 250)?;
    plausible("systolic blood pressure", b.systolic_mmhg, 50, 300)?;
    plausible("diastolic blood pressure", b.diastolic_mmhg, 20, 200)?;
    plausible("respiratory rate", b.respiratory_rate, 4, 70)?;
    plausible("SpO2", b.spo2_percent, 50, 100)?;
    plausible(
        "temperature (tenths of °C)",
        b.temperature_decidegrees,
        300,
        450,
    )?;
    plausible("peak flow (L/min)", b.peak_flow_l_min, 30, 900)?;
    plausible("weight (tenths of kg)", b.weight_decikg, 200, 3000)?;
    if let (Some(s), Some(d)) = (b.systolic_mmhg, b.diastolic_mmhg)
        && d >= s
    {
        return Err(EditError::DiastolicAboveSystolic);
    }
    Ok(b)
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
use live_entry;

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

#[cfg(test)]
mod tests;
