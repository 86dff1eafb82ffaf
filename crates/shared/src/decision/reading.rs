//! How a safety-critical register reads to a person: the one projection every surface
//! (emergency summary, print, crew lookup, caseload, plan editor, API, FHIR, feed) shows.
//!
//! A plan keeps Automerge's deterministic winner in its typed fields (`CarePlan::dnacpr`,
//! `CarePlan::resuscitation`, …) because edits and migrations need *a* value to build on.
//! That winner is arbitrary when replicas disagree, so nothing a clinician or crew reads may
//! come from those fields directly: it comes from a [`Reading`] (or, for the DNACPR flag
//! that badges and filters test, a [`DnacprReading`]), which is either the settled value,
//! "not recorded", or every conflicting value with who recorded it, and never one side.

use serde::{Deserialize, Serialize};

use super::{AllergyStatus, ConflictingValue, Decision, DecisionValue, DnacprStatus, SafetyField};
use crate::plan::{Attribution, CarePlan};

/// What a register's value amounts to for a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RegisterState {
    NotRecorded,
    Recorded,
    /// Replicas recorded different values and no clinician has chosen between them.
    Conflicting,
}

/// One safety-critical register as a reader must see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reading {
    pub field: SafetyField,
    pub state: RegisterState,
    /// What to show in the value's place: the settled value, "Not recorded", or
    /// "Conflicting: A / B — confirm with the care team".
    pub label: String,
    /// Who recorded the settled value; `None` when not recorded or conflicting.
    pub recorded: Option<Attribution>,
    /// When conflicting: every value held, oldest first, each with who recorded it.
    pub values: Vec<ConflictingValue>,
}

impl Reading {
    pub fn is_conflicting(&self) -> bool {
        self.state == RegisterState::Conflicting
    }
}

/// The DNACPR flag as badges, filters and old clients test it: one of the three recorded
/// statuses only when settled, otherwise `conflicting`. Never Automerge's winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DnacprReading {
    NotRecorded,
    ForAttemptedCpr,
    DoNotAttemptCpr,
    /// Replicas recorded different resuscitation decisions: confirm with the care team.
    Conflicting,
}

impl DnacprReading {
    /// The snake_case code the API, the caseload column and the app use.
    pub fn as_str(self) -> &'static str {
        match self {
            DnacprReading::NotRecorded => "not_recorded",
            DnacprReading::ForAttemptedCpr => "for_attempted_cpr",
            DnacprReading::DoNotAttemptCpr => "do_not_attempt_cpr",
            DnacprReading::Conflicting => "conflicting",
        }
    }
}

impl From<DnacprStatus> for DnacprReading {
    fn from(s: DnacprStatus) -> Self {
        match s {
            DnacprStatus::NotRecorded => DnacprReading::NotRecorded,
            DnacprStatus::ForAttemptedCpr => DnacprReading::ForAttemptedCpr,
            DnacprStatus::DoNotAttemptCpr => DnacprReading::DoNotAttemptCpr,
        }
    }
}

/// The short form of a value for a one-line label: the decision without its details.
fn short_label(v: &DecisionValue) -> String {
    match v {
        DecisionValue::Resuscitation(r) => {
            let mut s = r.status.label().to_owned();
            if r.respect_form {
                s.push_str(" (ReSPECT form)");
            }
            s
        }
        DecisionValue::AllergyStatement(a) => a.status.label().to_owned(),
        DecisionValue::AllergyEntry(a) => format!("Allergy: {}", a.substance),
        DecisionValue::CeilingOfTreatment(c) => c.ceiling.label().to_owned(),
        DecisionValue::AdmissionWanted(a) => a.wanted.label().to_owned(),
        DecisionValue::PreferredPlaceOfDeath(p) => p.place.clone(),
        DecisionValue::Consent(c) => c.status_label(),
    }
}

/// "Conflicting: A / B — confirm with the care team". The short forms are used unless two
/// values would then read alike (values that differ only in their details), in which case
/// the full labels are, so the line never reads as one settled value.
pub fn conflict_label(values: &[ConflictingValue]) -> String {
    let mut short: Vec<String> = values.iter().map(|v| short_label(&v.value)).collect();
    let mut distinct = short.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < short.len() {
        short = values.iter().map(|v| v.label.clone()).collect();
    }
    conflict_line(&short)
}

/// "Conflicting: A / B — confirm with the care team" from the values' labels as given.
pub fn conflict_line<S: AsRef<str>>(labels: &[S]) -> String {
    let labels: Vec<&str> = labels.iter().map(AsRef::as_ref).collect();
    format!(
        "Conflicting: {} \u{2014} confirm with the care team",
        labels.join(" / ")
    )
}

impl CarePlan {
    /// How `field` reads: the settled value, not recorded, or every conflicting value.
    pub fn reading(&self, field: SafetyField) -> Reading {
        if let Some(c) = self.conflict(field) {
            return Reading {
                field,
                state: RegisterState::Conflicting,
                label: conflict_label(&c.values),
                recorded: None,
                values: c.values.clone(),
            };
        }
        let settled = |label: Option<(String, Option<&Attribution>)>| match label {
            Some((label, by)) => Reading {
                field,
                state: RegisterState::Recorded,
                label,
                recorded: by.cloned(),
                values: Vec::new(),
            },
            None => Reading {
                field,
                state: RegisterState::NotRecorded,
                label: "Not recorded".to_owned(),
                recorded: None,
                values: Vec::new(),
            },
        };
        match field {
            SafetyField::Dnacpr => {
                let mut r = settled(
                    self.resuscitation
                        .as_ref()
                        .filter(|r| r.status != DnacprStatus::NotRecorded)
                        .map(|r| (r.label(), Some(&r.recorded))),
                );
                if r.state == RegisterState::NotRecorded {
                    DnacprStatus::NotRecorded.label().clone_into(&mut r.label);
                }
                r
            }
            SafetyField::Allergies => {
                let status = self.allergy_status();
                let label = match status {
                    AllergyStatus::NotRecorded => None,
                    AllergyStatus::AllergiesRecorded => Some(
                        self.active_allergies()
                            .map(|a| a.substance.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    AllergyStatus::NoKnownAllergies => Some(status.label().to_owned()),
                };
                let by = self.allergy_status.as_ref().map(|s| &s.recorded);
                let mut r = settled(label.map(|l| (l, by)));
                if r.state == RegisterState::NotRecorded {
                    AllergyStatus::NotRecorded.label().clone_into(&mut r.label);
                }
                r
            }
            SafetyField::CeilingOfTreatment => settled(
                self.ceiling_of_treatment
                    .as_ref()
                    .map(|c| (c.label(), Some(&c.recorded))),
            ),
            SafetyField::AdmissionWanted => settled(
                self.admission_wanted
                    .as_ref()
                    .map(|a| (a.label(), Some(&a.recorded))),
            ),
            SafetyField::PreferredPlaceOfDeath => settled(
                self.preferred_place_of_death
                    .as_ref()
                    .map(|p| (p.label(), Some(&p.recorded))),
            ),
            SafetyField::Consent => match &self.consent.recorded {
                Some(by) => settled(Some((self.consent.status_label(), Some(by)))),
                None => {
                    let mut r = settled(None);
                    r.label = self.consent.status_label();
                    r
                }
            },
        }
    }

    /// Every safety-critical register's reading, in [`SafetyField::ALL`] order.
    pub fn readings(&self) -> Vec<Reading> {
        SafetyField::ALL.iter().map(|f| self.reading(*f)).collect()
    }

    /// The DNACPR flag as badges and filters test it: `Conflicting` while resuscitation
    /// decisions conflict, never one of them.
    pub fn dnacpr_reading(&self) -> DnacprReading {
        if self.conflict(SafetyField::Dnacpr).is_some() {
            DnacprReading::Conflicting
        } else {
            self.dnacpr.into()
        }
    }

    /// The CPR line of banners and badges: the settled status, or "Conflicting: A / B —
    /// confirm with the care team".
    pub fn dnacpr_label(&self) -> String {
        match self.dnacpr_reading() {
            DnacprReading::Conflicting => self.reading(SafetyField::Dnacpr).label,
            _ => self.dnacpr.label().to_owned(),
        }
    }
}
