//! The care plan: the typed shape of one patient's Automerge document.
//!
//! Callers never touch Automerge paths: they read a [`CarePlan`] (hydrated from the
//! document by [`crate::PlanDoc::plan`]) and change it through [`crate::Edit`]s. The groups
//! follow "What a plan holds" in `docs/domain.md`; the emergency decisions whose concurrent
//! divergence must never resolve silently live in [`crate::decision`].

use autosurgeon::{Hydrate, Reconcile, Text};
use serde::{Deserialize, Serialize, Serializer};

use crate::decision::{
    AdmissionDecision, AllergyStatement, CeilingOfTreatment, Conflict, Consent, DnacprStatus,
    PlaceOfDeath, ResuscitationDecision,
};
use crate::lifecycle::Enrolment;

/// The schema version written into every plan this build creates or migrates.
///
/// Version 1 (the walking skeleton) held patient, consent, conditions, medications, key
/// contacts, a DNACPR status, preferred place of care, one exacerbation plan and a baseline.
/// Version 2 adds every other group and stores safety-critical decisions as registers.
pub const SCHEMA_VERSION: u64 = 2;

/// One patient's case management plan, as it stands in one replica.
///
/// Serialises to the JSON the app draws: text fields become plain strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CarePlan {
    /// The version the document was last written with (1 for an unmigrated old plan).
    pub schema_version: u64,
    pub patient: Patient,
    pub enrolment: Enrolment,
    pub care_team: Vec<CareTeamMember>,
    /// Personal contacts (next of kin, main carer, LPA holders); version-1 plans also kept
    /// professional numbers here.
    pub key_contacts: Vec<Contact>,
    pub conditions: Vec<Condition>,
    pub medications: Vec<Medication>,
    pub allergies: Vec<Allergy>,
    /// The last allergy statement ("no known allergies", "allergies recorded"); read it
    /// through [`CarePlan::allergy_status`], which also accounts for the list.
    pub allergy_status: Option<AllergyStatement>,
    pub baseline: BaselineObservations,
    /// General exacerbation plan (version 1); collaborative text.
    #[serde(serialize_with = "text_as_str")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub exacerbation_plan: Text,
    /// Escalation plans per condition (rescue packs).
    pub escalation_plans: Vec<EscalationPlan>,
    pub goals: Vec<Goal>,
    #[serde(serialize_with = "text_as_str")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub self_management_advice: Text,
    #[serde(serialize_with = "text_as_str")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub equipment_and_services: Text,
    /// The resuscitation status, kept as its own field because the server and app read it.
    /// Equal to `resuscitation`'s status, or `NotRecorded`.
    pub dnacpr: DnacprStatus,
    pub resuscitation: Option<ResuscitationDecision>,
    pub adrt: Adrt,
    pub focus_of_care: FocusOfCare,
    pub ceiling_of_treatment: Option<CeilingOfTreatment>,
    pub admission_wanted: Option<AdmissionDecision>,
    pub preferred_place_of_care: String,
    pub preferred_place_of_death: Option<PlaceOfDeath>,
    pub reviews: Vec<Review>,
    pub mdt_discussions: Vec<MdtDiscussion>,
    pub advice: Vec<Advice>,
    pub consent: Consent,
    /// "No wider action needed": the patient needs no MDT discussion (step 10).
    pub no_wider_action: Option<crate::NoWiderAction>,
    /// The face-to-face meeting with the GP (section 4.2).
    pub gp_meeting: Option<crate::GpMeeting>,
    /// The mental health assessment, or why none is indicated (section 4.2).
    pub mental_health_assessment: Option<crate::MentalHealthAssessment>,
    /// Who last changed the plan and when.
    pub last_updated: Option<Attribution>,
    /// The last print of the yellow pages recorded for the home.
    pub paper_copy: Option<crate::PaperCopy>,
    /// Safety-critical fields that replicas set differently at the same time, each with
    /// every value and its author. Derived when the plan is read; never stored.
    pub conflicts: Vec<Conflict>,
    /// The document heads the plan was read at: sorted hex hashes joined by commas, the
    /// same string the server calls the plan version.
    pub plan_version: String,
}

pub(crate) fn text_as_str<S: Serializer>(text: &Text, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(text.as_str())
}

/// A user and a moment: who did something and when.
///
/// Written as a whole: a new attribution is a new map object in the document, never the
/// old one's fields overwritten (see the `Reconcile` impl), so two clinicians' concurrent
/// attributions conflict as wholes and the plan never shows one's name with the other's time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Attribution {
    pub user_id: String,
    pub user_name: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl autosurgeon::Reconcile for Attribution {
    /// Who and when: an attribution with another key is another attribution, written as a
    /// new object (autosurgeon replaces an object whose key differs).
    type Key<'a> = (String, i64);

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        let mut map = reconciler.map()?;
        map.put("user_id", &self.user_id)?;
        map.put("user_name", &self.user_name)?;
        map.put("at_ms", self.at_ms)?;
        Ok(())
    }

    fn hydrate_key<'a, D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: autosurgeon::Prop<'_>,
    ) -> Result<autosurgeon::reconcile::LoadKey<Self::Key<'a>>, autosurgeon::ReconcileError> {
        use autosurgeon::reconcile::LoadKey;
        let user: LoadKey<String> =
            autosurgeon::hydrate_key(doc, obj, prop.clone(), "user_id".into())?;
        let at: LoadKey<i64> = autosurgeon::hydrate_key(doc, obj, prop, "at_ms".into())?;
        Ok(match (user, at) {
            (LoadKey::Found(user), LoadKey::Found(at)) => LoadKey::Found((user, at)),
            _ => LoadKey::KeyNotFound,
        })
    }

    fn key(&self) -> autosurgeon::reconcile::LoadKey<Self::Key<'_>> {
        autosurgeon::reconcile::LoadKey::Found((self.user_id.clone(), self.at_ms))
    }
}

/// Marks an entry as entered in error; entries are never deleted.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnteredInError {
    pub by: Attribution,
}

/// Patient identity and what a visitor needs to know to reach and talk with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Patient {
    /// Ten digits, already checked with [`crate::NhsNumber::parse`].
    pub nhs_number: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub address: String,
    #[autosurgeon(missing = "Default::default")]
    pub preferred_name: String,
    #[autosurgeon(missing = "Default::default")]
    pub sex: Option<Sex>,
    #[autosurgeon(missing = "Default::default")]
    pub phone: String,
    /// How to get in: key safe, door codes, pets.
    #[autosurgeon(missing = "Default::default")]
    pub access_notes: String,
    #[autosurgeon(missing = "Default::default")]
    pub residence: Option<Residence>,
    /// ODS code of the registered GP practice.
    #[autosurgeon(missing = "Default::default")]
    pub gp_practice_ods: String,
    #[autosurgeon(missing = "Default::default")]
    pub gp_practice_name: String,
    #[autosurgeon(missing = "Default::default")]
    pub named_gp: String,
    #[autosurgeon(missing = "Default::default")]
    pub communication_needs: String,
    /// Language an interpreter is needed for; empty when none is needed.
    #[autosurgeon(missing = "Default::default")]
    pub interpreter_language: String,
}

/// Administrative sex, as FHIR's `AdministrativeGender`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

pub use residence::Residence;

mod residence {
    // The scheme's own words ("own home", "residential home", "nursing home") end alike,
    // and the lint also fires inside the derives' output, which an attribute on the enum
    // does not reach.
    #![allow(clippy::enum_variant_names)]

    use autosurgeon::{Hydrate, Reconcile};
    use serde::{Deserialize, Serialize};

    /// Where the patient lives, which decides the cohort category and who visits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
    #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
    #[serde(rename_all = "snake_case")]
    pub enum Residence {
        OwnHome,
        ResidentialHome,
        NursingHome,
    }

    impl Residence {
        pub fn label(self) -> &'static str {
            match self {
                Residence::OwnHome => "own home",
                Residence::ResidentialHome => "residential home",
                Residence::NursingHome => "nursing home",
            }
        }
    }
}

/// A professional involved in the patient's care, or a number the crew may need.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CareTeamMember {
    #[key]
    pub id: String,
    pub kind: TeamContactKind,
    /// For example "district nurse", "social worker", "heart failure nurse".
    pub role: String,
    pub name: String,
    pub organisation: String,
    pub phone: String,
    /// When they can be reached, e.g. "Mon–Fri 08:00–18:30".
    pub hours: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
    /// Who last corrected the entry in place, and when (absent until someone does).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Attribution>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TeamContactKind {
    Member,
    /// The practice's direct line for professionals.
    GpBypass,
    OutOfHours,
}

/// A personal contact (RelatedPerson).
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Contact {
    #[key]
    pub id: String,
    /// For example "next of kin", "main carer", "case manager", "GP bypass", "key safe".
    pub role: String,
    pub name: String,
    pub phone: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
    /// Set by [`crate::Edit::AddPersonalContact`]; version-1 contacts have only `role`.
    #[autosurgeon(missing = "Default::default")]
    pub relationship: Option<Relationship>,
    /// Who last corrected the entry in place, and when (absent until someone does).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Attribution>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    NextOfKin,
    MainCarer,
    /// Holds a lasting power of attorney for health and welfare.
    LpaHealthAndWelfare,
    Other,
}

impl Relationship {
    pub fn label(self) -> &'static str {
        match self {
            Relationship::NextOfKin => "next of kin",
            Relationship::MainCarer => "main carer",
            Relationship::LpaHealthAndWelfare => "LPA (health and welfare)",
            Relationship::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Condition {
    #[key]
    pub id: String,
    pub name: String,
    pub treatment: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
    /// Who last corrected the entry in place, and when (absent until someone does).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Attribution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Medication {
    #[key]
    pub id: String,
    pub name: String,
    pub dose: String,
    /// Free text such as "anticipatory: kept in the fridge".
    pub notes: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
    /// An anticipatory ("just in case") medicine.
    #[autosurgeon(missing = "Default::default")]
    pub anticipatory: bool,
    /// Where it is kept in the home.
    #[autosurgeon(missing = "Default::default")]
    pub location: String,
    /// Who last corrected the entry in place, and when (absent until someone does).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Attribution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Allergy {
    #[key]
    pub id: String,
    pub substance: String,
    pub reaction: String,
    pub severity: AllergySeverity,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
    /// Who last corrected the entry in place, and when (absent until someone does).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Attribution>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AllergySeverity {
    Mild,
    Moderate,
    Severe,
    Unknown,
}

/// The patient's usual observations, so a crew can tell what is abnormal for them.
///
/// A baseline is one set taken at one visit: each edit writes the whole set as a new
/// object, so two nurses recording at the same time never leave a mixture of both.
#[derive(Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BaselineObservations {
    pub pulse_bpm: Option<u32>,
    pub systolic_mmhg: Option<u32>,
    pub diastolic_mmhg: Option<u32>,
    pub respiratory_rate: Option<u32>,
    pub spo2_percent: Option<u32>,
    /// Tenths of a degree Celsius, so the document holds exact integers (368 = 36.8 °C).
    pub temperature_decidegrees: Option<u32>,
    pub recorded: Option<Attribution>,
    #[autosurgeon(missing = "Default::default")]
    pub peak_flow_l_min: Option<u32>,
    /// Tenths of a kilogram (725 = 72.5 kg).
    #[autosurgeon(missing = "Default::default")]
    pub weight_decikg: Option<u32>,
    #[autosurgeon(missing = "Default::default")]
    pub known_af: Option<bool>,
    #[autosurgeon(missing = "Default::default")]
    pub usual_cognition: String,
    #[autosurgeon(missing = "Default::default")]
    pub usual_mobility: String,
    /// The day the observations were taken (`YYYY-MM-DD`), which may precede `recorded`.
    #[autosurgeon(missing = "Default::default")]
    pub observed_on: Option<String>,
}

/// What to do when one condition gets worse, e.g. a COPD rescue pack.
impl BaselineObservations {
    /// Whether both hold the same readings, whenever and by whomever they were taken.
    pub fn same_readings(&self, other: &BaselineObservations) -> bool {
        BaselineObservations {
            recorded: None,
            observed_on: None,
            ..self.clone()
        } == BaselineObservations {
            recorded: None,
            observed_on: None,
            ..other.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EscalationPlan {
    #[key]
    pub id: String,
    pub condition: String,
    /// Collaborative text.
    #[serde(serialize_with = "text_as_str")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub plan: Text,
    /// What the rescue pack holds and where it is.
    pub rescue_pack: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
    /// Who last corrected the entry in place, and when (absent until someone does).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Attribution>,
}

/// What matters to the patient, the goal agreed, and the actions towards it.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Goal {
    #[key]
    pub id: String,
    pub what_matters: String,
    pub goal: String,
    pub owner: String,
    pub status: GoalStatus,
    pub actions: Vec<GoalAction>,
    pub recorded: Attribution,
    pub updated: Option<Attribution>,
    pub entered_in_error: Option<EnteredInError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GoalAction {
    #[key]
    pub id: String,
    pub action: String,
    pub owner: String,
    pub status: ActionStatus,
    pub recorded: Attribution,
    pub updated: Option<Attribution>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    Agreed,
    InProgress,
    Achieved,
    NoLongerRelevant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Planned,
    Done,
    Cancelled,
}

/// A case review (Encounter).
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Review {
    #[key]
    pub id: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub face_to_face: bool,
    pub reviewer: String,
    pub attendees: String,
    /// Findings; collaborative text.
    #[serde(serialize_with = "text_as_str")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub notes: Text,
    pub changes: String,
    /// Still in the top 5 % of the risk tool; `None` when not checked.
    pub still_in_top_5_percent: Option<bool>,
    pub outcome: crate::lifecycle::ReviewOutcome,
    pub next_review_due: Option<String>,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
}

/// A multidisciplinary team discussion of this patient.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MdtDiscussion {
    #[key]
    pub id: String,
    pub date: String,
    pub attendees: String,
    pub outcome: String,
    pub referrals: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
}

/// Advice from a specialist or MDT member, attributed to whoever gave it.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Advice {
    #[key]
    pub id: String,
    pub from_name: String,
    pub from_role: String,
    pub advice: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
}

/// Advance decision to refuse treatment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Adrt {
    #[autosurgeon(missing = "Default::default")]
    pub in_place: bool,
    /// Which treatments are refused and in what circumstances.
    #[autosurgeon(missing = "Default::default")]
    pub details: String,
    #[autosurgeon(missing = "Default::default")]
    pub original_location: String,
    #[autosurgeon(missing = "Default::default")]
    pub recorded: Option<Attribution>,
}

/// The overall focus of care (as on a ReSPECT form) and the prognosis behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FocusOfCare {
    #[autosurgeon(missing = "Default::default")]
    pub focus: Option<CareFocus>,
    #[autosurgeon(missing = "Default::default")]
    pub notes: String,
    #[autosurgeon(missing = "Default::default")]
    pub prognosis: String,
    #[autosurgeon(missing = "Default::default")]
    pub recorded: Option<Attribution>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CareFocus {
    /// Prioritise sustaining life, even at the expense of some comfort.
    SustainLife,
    /// Balance both.
    Balanced,
    /// Prioritise comfort, even at the expense of some life-sustaining treatment.
    Comfort,
}

impl CareFocus {
    pub fn label(self) -> &'static str {
        match self {
            CareFocus::SustainLife => "prioritise sustaining life",
            CareFocus::Balanced => "balance sustaining life and comfort",
            CareFocus::Comfort => "prioritise comfort",
        }
    }
}

macro_rules! active {
    ($name:ident, $field:ident, $ty:ty) => {
        /// Entries not marked entered-in-error, in document order.
        pub fn $name(&self) -> impl Iterator<Item = &$ty> {
            self.$field.iter().filter(|e| e.entered_in_error.is_none())
        }
    };
}

impl CarePlan {
    active!(active_conditions, conditions, Condition);
    active!(active_medications, medications, Medication);
    active!(active_contacts, key_contacts, Contact);
    active!(active_care_team, care_team, CareTeamMember);
    active!(active_allergies, allergies, Allergy);
    active!(active_escalation_plans, escalation_plans, EscalationPlan);
    active!(active_goals, goals, Goal);
    active!(active_reviews, reviews, Review);
    active!(active_mdt_discussions, mdt_discussions, MdtDiscussion);
    active!(active_advice, advice, Advice);

    /// Whether `field` currently holds values that replicas set differently.
    pub fn conflict(&self, field: crate::SafetyField) -> Option<&Conflict> {
        self.conflicts.iter().find(|c| c.field == field)
    }
}
