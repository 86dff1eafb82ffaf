//! Typed edits: the only way callers change a plan.
//!
//! An [`Edit`] is validated against the current [`CarePlan`] before anything is written,
//! so an invalid edit returns an [`EditError`] and leaves the document untouched.

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::nhs::{NhsNumber, NhsNumberError};
use crate::plan::{
    Attribution, BaselineObservations, CarePlan, Condition, Contact, DnacprStatus, EnteredInError,
    Medication, Patient,
};

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
}

/// One change a clinician makes to a plan. Serialised as JSON with an `op` tag, e.g.
/// `{"op":"set_dnacpr","status":"do_not_attempt_cpr"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    SetPatient {
        nhs_number: String,
        name: String,
        date_of_birth: String,
        address: String,
    },
    SetConsent {
        share_with_mdt: bool,
        share_with_emergency_services: bool,
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
    AddContact {
        id: String,
        role: String,
        name: String,
        phone: String,
    },
    MarkEnteredInError {
        list: EntryList,
        id: String,
    },
    SetDnacpr {
        status: DnacprStatus,
    },
    SetPreferredPlaceOfCare {
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
    SetBaseline {
        pulse_bpm: Option<u32>,
        systolic_mmhg: Option<u32>,
        diastolic_mmhg: Option<u32>,
        respiratory_rate: Option<u32>,
        spo2_percent: Option<u32>,
        temperature_decidegrees: Option<u32>,
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
    #[error("{field} of {value} is outside the plausible range {min}–{max}")]
    Implausible {
        field: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error("diastolic pressure must be below systolic")]
    DiastolicAboveSystolic,
    #[error("an entry with id {0:?} already exists")]
    DuplicateId(String),
    #[error("no entry with id {0:?}")]
    UnknownEntry(String),
    #[error("entry {0:?} is already marked entered in error")]
    AlreadyEnteredInError(String),
    #[error(
        "the text splice at {index} (deleting {delete}) is outside the text or splits a character"
    )]
    SpliceOutOfRange { index: usize, delete: usize },
}

const MAX_SHORT: usize = 200;
const MAX_LONG: usize = 20_000;

/// The top-level plan fields an edit writes; the document reconciles only these, so
/// concurrent edits to other fields are never rewritten.
pub(crate) type Touched = &'static [&'static str];

impl Edit {
    /// Validates the edit against `plan` and applies it to that in-memory copy.
    pub(crate) fn apply_to(
        &self,
        plan: &mut CarePlan,
        editor: &Editor,
        now_ms: i64,
    ) -> Result<Touched, EditError> {
        let by = editor.at(now_ms);
        let touched: Touched = match self {
            Edit::SetPatient {
                nhs_number,
                name,
                date_of_birth,
                address,
            } => {
                let nhs = NhsNumber::parse(nhs_number)?;
                plan.patient = Patient {
                    nhs_number: nhs.digits(),
                    name: required("name", name)?,
                    date_of_birth: past_date("date of birth", date_of_birth, now_ms)?,
                    address: optional("address", address, MAX_SHORT * 2)?,
                };
                &["patient"]
            }
            Edit::SetConsent {
                share_with_mdt,
                share_with_emergency_services,
            } => {
                plan.consent.share_with_mdt = *share_with_mdt;
                plan.consent.share_with_emergency_services = *share_with_emergency_services;
                plan.consent.recorded = Some(by.clone());
                &["consent"]
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
                });
                &["conditions"]
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
                });
                &["medications"]
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
                });
                &["key_contacts"]
            }
            Edit::MarkEnteredInError { list, id } => {
                let mark = EnteredInError { by: by.clone() };
                let slot = match list {
                    EntryList::Conditions => plan
                        .conditions
                        .iter_mut()
                        .find(|c| &c.id == id)
                        .map(|c| &mut c.entered_in_error),
                    EntryList::Medications => plan
                        .medications
                        .iter_mut()
                        .find(|m| &m.id == id)
                        .map(|m| &mut m.entered_in_error),
                    EntryList::KeyContacts => plan
                        .key_contacts
                        .iter_mut()
                        .find(|c| &c.id == id)
                        .map(|c| &mut c.entered_in_error),
                };
                let slot = slot.ok_or_else(|| EditError::UnknownEntry(id.clone()))?;
                if slot.is_some() {
                    return Err(EditError::AlreadyEnteredInError(id.clone()));
                }
                *slot = Some(mark);
                match list {
                    EntryList::Conditions => &["conditions"],
                    EntryList::Medications => &["medications"],
                    EntryList::KeyContacts => &["key_contacts"],
                }
            }
            Edit::SetDnacpr { status } => {
                plan.dnacpr = *status;
                &["dnacpr"]
            }
            Edit::SetPreferredPlaceOfCare { place } => {
                plan.preferred_place_of_care =
                    optional("preferred place of care", place, MAX_SHORT)?;
                &["preferred_place_of_care"]
            }
            Edit::SetExacerbationPlan { text } => {
                // Not trimmed: this is what is in the editor while someone types, and a
                // trailing space is the start of their next word.
                if text.chars().count() > MAX_LONG {
                    return Err(EditError::TooLong {
                        field: "exacerbation plan",
                        max: MAX_LONG,
                    });
                }
                plan.exacerbation_plan.update(text);
                &["exacerbation_plan"]
            }
            Edit::SpliceExacerbationPlan {
                index,
                delete,
                insert,
            } => {
                let current = plan.exacerbation_plan.as_str();
                let end = index
                    .checked_add(*delete)
                    .filter(|&end| end <= current.len());
                let fits = end.is_some_and(|end| {
                    current.is_char_boundary(*index) && current.is_char_boundary(end)
                });
                if !fits {
                    return Err(EditError::SpliceOutOfRange {
                        index: *index,
                        delete: *delete,
                    });
                }
                if current.len() - delete + insert.len() > MAX_LONG {
                    return Err(EditError::TooLong {
                        field: "exacerbation plan",
                        max: MAX_LONG,
                    });
                }
                plan.exacerbation_plan
                    .splice(*index, *delete as isize, insert);
                &["exacerbation_plan"]
            }
            Edit::SetBaseline {
                pulse_bpm,
                systolic_mmhg,
                diastolic_mmhg,
                respiratory_rate,
                spo2_percent,
                temperature_decidegrees,
            } => {
                plausible("pulse", *pulse_bpm, 20, 250)?;
                plausible("systolic blood pressure", *systolic_mmhg, 50, 300)?;
                plausible("diastolic blood pressure", *diastolic_mmhg, 20, 200)?;
                plausible("respiratory rate", *respiratory_rate, 4, 70)?;
                plausible("SpO2", *spo2_percent, 50, 100)?;
                plausible(
                    "temperature (tenths of °C)",
                    *temperature_decidegrees,
                    300,
                    450,
                )?;
                if let (Some(s), Some(d)) = (systolic_mmhg, diastolic_mmhg)
                    && d >= s
                {
                    return Err(EditError::DiastolicAboveSystolic);
                }
                plan.baseline = BaselineObservations {
                    pulse_bpm: *pulse_bpm,
                    systolic_mmhg: *systolic_mmhg,
                    diastolic_mmhg: *diastolic_mmhg,
                    respiratory_rate: *respiratory_rate,
                    spo2_percent: *spo2_percent,
                    temperature_decidegrees: *temperature_decidegrees,
                    recorded: Some(by.clone()),
                };
                &["baseline"]
            }
        };
        plan.last_updated = Some(by);
        Ok(touched)
    }
}

fn required(field: &'static str, value: &str) -> Result<String, EditError> {
    let value = optional(field, value, MAX_SHORT)?;
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

fn past_date(field: &'static str, value: &str, now_ms: i64) -> Result<String, EditError> {
    let date = Date::parse(value.trim()).ok_or_else(|| EditError::InvalidDate {
        field,
        value: value.to_owned(),
    })?;
    if date > Date::from_unix_ms(now_ms) {
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
