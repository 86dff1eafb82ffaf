//! The care plan: the typed shape of one patient's Automerge document.
//!
//! Callers never touch Automerge paths: they read a [`CarePlan`] (hydrated from the
//! document) and change it through [`crate::Edit`]s applied by [`crate::PlanDoc`].

use autosurgeon::{Hydrate, Reconcile, Text};
use serde::{Deserialize, Serialize};

/// The schema version written into every plan this build creates.
pub const SCHEMA_VERSION: u64 = 1;

/// One patient's case management plan.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct CarePlan {
    pub schema_version: u64,
    pub patient: Patient,
    pub consent: Consent,
    pub conditions: Vec<Condition>,
    pub medications: Vec<Medication>,
    pub dnacpr: DnacprStatus,
    pub preferred_place_of_care: String,
    /// Collaborative text: concurrent character edits from two tablets both survive.
    pub exacerbation_plan: Text,
    pub baseline: BaselineObservations,
    pub key_contacts: Vec<Contact>,
    /// Who last changed the plan and when (milliseconds since the Unix epoch).
    pub last_updated: Option<Attribution>,
}

/// Patient identity as recorded in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Patient {
    /// Ten digits, already checked with [`crate::NhsNumber::parse`].
    pub nhs_number: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub address: String,
}

/// What the patient agreed to share, and who recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Consent {
    pub share_with_mdt: bool,
    pub share_with_emergency_services: bool,
    pub recorded: Option<Attribution>,
}

/// A user and a moment: who did something and when.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Attribution {
    pub user_id: String,
    pub user_name: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// Marks an entry as entered in error; entries are never deleted.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct EnteredInError {
    pub by: Attribution,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Condition {
    #[key]
    pub id: String,
    pub name: String,
    pub treatment: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Medication {
    #[key]
    pub id: String,
    pub name: String,
    pub dose: String,
    /// Free text such as "anticipatory: kept in the fridge".
    pub notes: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Contact {
    #[key]
    pub id: String,
    /// For example "next of kin", "main carer", "case manager", "GP bypass", "key safe".
    pub role: String,
    pub name: String,
    pub phone: String,
    pub recorded: Attribution,
    pub entered_in_error: Option<EnteredInError>,
}

/// DNACPR recommendation as the crew needs to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnacprStatus {
    /// Nothing recorded: the crew follows its usual protocol.
    NotRecorded,
    /// The patient is for attempted CPR.
    ForAttemptedCpr,
    /// A DNACPR recommendation is in place.
    DoNotAttemptCpr,
}

impl DnacprStatus {
    pub fn label(self) -> &'static str {
        match self {
            DnacprStatus::NotRecorded => "Not recorded",
            DnacprStatus::ForAttemptedCpr => "For attempted CPR",
            DnacprStatus::DoNotAttemptCpr => "DNACPR in place: do not attempt CPR",
        }
    }
}

/// The patient's usual observations, so a crew can tell what is abnormal for them.
#[derive(Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct BaselineObservations {
    pub pulse_bpm: Option<u32>,
    pub systolic_mmhg: Option<u32>,
    pub diastolic_mmhg: Option<u32>,
    pub respiratory_rate: Option<u32>,
    pub spo2_percent: Option<u32>,
    /// Tenths of a degree Celsius, so the document holds exact integers (368 = 36.8 °C).
    pub temperature_decidegrees: Option<u32>,
    pub recorded: Option<Attribution>,
}

impl CarePlan {
    /// Entries that are not marked entered-in-error, in document order.
    pub fn active_conditions(&self) -> impl Iterator<Item = &Condition> {
        self.conditions
            .iter()
            .filter(|c| c.entered_in_error.is_none())
    }

    pub fn active_medications(&self) -> impl Iterator<Item = &Medication> {
        self.medications
            .iter()
            .filter(|m| m.entered_in_error.is_none())
    }

    pub fn active_contacts(&self) -> impl Iterator<Item = &Contact> {
        self.key_contacts
            .iter()
            .filter(|c| c.entered_in_error.is_none())
    }
}
