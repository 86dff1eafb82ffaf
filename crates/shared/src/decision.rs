//! Safety-critical decisions, which must never resolve silently under concurrent edits.
//!
//! Each one lives at its own top-level key as a *register*: every edit that sets it writes
//! a new map object holding the whole decision and who recorded it. Two replicas that set
//! it at the same time therefore leave two objects at the key, each intact with its own
//! author, and Automerge keeps both (its multi-value register, read with `get_all`). The
//! plan lists such a key as a [`Conflict`] until a clinician, having seen both values,
//! writes the field again: only then does the new object supersede them.
//!
//! Nothing else ever writes these keys, so no unrelated edit can resolve a conflict by
//! accident (Automerge resolves one whenever the winning value is put again).

use std::borrow::Cow;

use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use autosurgeon::{Hydrate, HydrateError, Reconcile};
use serde::{Deserialize, Serialize};

use crate::plan::{Allergy, Attribution, CarePlan};
use crate::read::Cached;

mod reading;

pub use reading::{DnacprReading, Reading, RegisterState, conflict_label, conflict_line};

/// DNACPR recommendation as the crew needs to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

/// A DNACPR or ReSPECT recommendation.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ResuscitationDecision {
    pub status: DnacprStatus,
    /// Recorded on a ReSPECT form (rather than a DNACPR form).
    pub respect_form: bool,
    /// When the recommendation was made, `YYYY-MM-DD`.
    pub decision_date: Option<String>,
    /// The clinician who made the recommendation.
    pub decided_by: String,
    /// Where the original signed form is, e.g. "red folder, kitchen drawer".
    pub original_location: String,
    pub recorded: Attribution,
}

/// The last statement about allergies.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AllergyStatement {
    pub status: AllergyStatus,
    pub recorded: Attribution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AllergyStatus {
    NotRecorded,
    NoKnownAllergies,
    AllergiesRecorded,
}

impl AllergyStatus {
    pub fn label(self) -> &'static str {
        match self {
            AllergyStatus::NotRecorded => "Allergies not recorded",
            AllergyStatus::NoKnownAllergies => "No known allergies",
            AllergyStatus::AllergiesRecorded => "Allergies recorded",
        }
    }
}

/// How far treatment should escalate.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CeilingOfTreatment {
    pub ceiling: TreatmentCeiling,
    pub notes: String,
    pub recorded: Attribution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TreatmentCeiling {
    /// Full escalation including intensive care.
    FullEscalation,
    /// Hospital ward care, not intensive care.
    WardBasedCare,
    /// Treatment at home or in the community, not hospital.
    CommunityCare,
    /// Comfort and symptom control only.
    ComfortCareOnly,
}

impl TreatmentCeiling {
    pub fn label(self) -> &'static str {
        match self {
            TreatmentCeiling::FullEscalation => "Full escalation including intensive care",
            TreatmentCeiling::WardBasedCare => "Ward-based care, not intensive care",
            TreatmentCeiling::CommunityCare => "Treat at home or in the community",
            TreatmentCeiling::ComfortCareOnly => "Comfort and symptom control only",
        }
    }
}

/// Whether the patient wants to be admitted to hospital.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AdmissionDecision {
    pub wanted: AdmissionWish,
    pub notes: String,
    pub recorded: Attribution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AdmissionWish {
    Wanted,
    NotWanted,
}

impl AdmissionWish {
    pub fn label(self) -> &'static str {
        match self {
            AdmissionWish::Wanted => "Admission wanted if needed",
            AdmissionWish::NotWanted => "Does not want hospital admission",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlaceOfDeath {
    pub place: String,
    pub recorded: Attribution,
}

/// Who may receive the plan.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Reconcile, Hydrate, Serialize, Deserialize,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConsentRecipient {
    Mdt,
    OutOfHours,
    Ambulance,
    EmergencyDepartment,
    VoluntarySector,
}

impl ConsentRecipient {
    pub const ALL: [ConsentRecipient; 5] = [
        ConsentRecipient::Mdt,
        ConsentRecipient::OutOfHours,
        ConsentRecipient::Ambulance,
        ConsentRecipient::EmergencyDepartment,
        ConsentRecipient::VoluntarySector,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ConsentRecipient::Mdt => "MDT",
            ConsentRecipient::OutOfHours => "out-of-hours",
            ConsentRecipient::Ambulance => "ambulance",
            ConsentRecipient::EmergencyDepartment => "A&E",
            ConsentRecipient::VoluntarySector => "voluntary sector",
        }
    }

    fn is_emergency(self) -> bool {
        matches!(
            self,
            ConsentRecipient::OutOfHours
                | ConsentRecipient::Ambulance
                | ConsentRecipient::EmergencyDepartment
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConsentGivenBy {
    Patient,
    LpaHolder,
    BestInterestsDecision,
}

impl ConsentGivenBy {
    pub fn label(self) -> &'static str {
        match self {
            ConsentGivenBy::Patient => "the patient",
            ConsentGivenBy::LpaHolder => "LPA holder",
            ConsentGivenBy::BestInterestsDecision => "best-interests decision",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConsentWithdrawal {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub recorded: Attribution,
}

/// What the patient agreed to share, and who recorded it.
///
/// `share_with_mdt` and `share_with_emergency_services` are what version 1 stored and what
/// the server reads; they are kept equal to `recipients` (and false once withdrawn).
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Consent {
    pub share_with_mdt: bool,
    pub share_with_emergency_services: bool,
    /// Who wrote this consent record last (recording, withdrawing or resolving it).
    pub recorded: Option<Attribution>,
    #[autosurgeon(missing = "Default::default")]
    pub recipients: Vec<ConsentRecipient>,
    #[autosurgeon(missing = "Default::default")]
    pub given_by: Option<ConsentGivenBy>,
    #[autosurgeon(missing = "Default::default")]
    pub capacity_note: String,
    /// When consent was given, `YYYY-MM-DD`.
    #[autosurgeon(missing = "Default::default")]
    pub consent_date: Option<String>,
    #[autosurgeon(missing = "Default::default")]
    pub withdrawn: Option<ConsentWithdrawal>,
}

impl Consent {
    /// Whether the plan may be shared with `recipient` now.
    pub fn permits(&self, recipient: ConsentRecipient) -> bool {
        self.withdrawn.is_none() && self.recipients.contains(&recipient)
    }

    /// Sets `recipients` and the two version-1 flags that summarise them.
    pub(crate) fn set_recipients(&mut self, mut recipients: Vec<ConsentRecipient>) {
        recipients.sort();
        recipients.dedup();
        self.recipients = recipients;
        self.sync_flags();
    }

    fn sync_flags(&mut self) {
        let live = self.withdrawn.is_none();
        self.share_with_mdt = live && self.recipients.contains(&ConsentRecipient::Mdt);
        self.share_with_emergency_services =
            live && self.recipients.iter().any(|r| r.is_emergency());
    }

    /// A version-1 consent has flags but no recipients: derive them, so old plans read the
    /// same as new ones. A version-2 consent always has flags equal to its recipients, so
    /// this changes nothing there.
    fn normalised(mut self) -> Consent {
        if self.recipients.is_empty() {
            if self.share_with_mdt {
                self.recipients.push(ConsentRecipient::Mdt);
            }
            if self.share_with_emergency_services {
                self.recipients.extend([
                    ConsentRecipient::OutOfHours,
                    ConsentRecipient::Ambulance,
                    ConsentRecipient::EmergencyDepartment,
                ]);
            }
        }
        self.recipients.sort();
        self.recipients.dedup();
        self.sync_flags();
        self
    }

    pub fn status_label(&self) -> String {
        if let Some(w) = &self.withdrawn {
            return format!("Consent withdrawn on {}", w.date);
        }
        if self.recorded.is_none() {
            return "Consent not recorded".to_owned();
        }
        if self.recipients.is_empty() {
            return "Consent recorded: share with no one".to_owned();
        }
        let to: Vec<&str> = self.recipients.iter().map(|r| r.label()).collect();
        format!("Consent to share with {}", to.join(", "))
    }
}

/// The safety-critical fields: never resolved silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SafetyField {
    Dnacpr,
    Allergies,
    CeilingOfTreatment,
    AdmissionWanted,
    PreferredPlaceOfDeath,
    Consent,
}

impl SafetyField {
    pub const ALL: [SafetyField; 6] = [
        SafetyField::Dnacpr,
        SafetyField::Allergies,
        SafetyField::CeilingOfTreatment,
        SafetyField::AdmissionWanted,
        SafetyField::PreferredPlaceOfDeath,
        SafetyField::Consent,
    ];

    /// The top-level document key of the register.
    pub fn key(self) -> &'static str {
        match self {
            SafetyField::Dnacpr => "dnacpr",
            SafetyField::Allergies => "allergy_status",
            SafetyField::CeilingOfTreatment => "ceiling_of_treatment",
            SafetyField::AdmissionWanted => "admission_wanted",
            SafetyField::PreferredPlaceOfDeath => "preferred_place_of_death",
            SafetyField::Consent => "consent",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SafetyField::Dnacpr => "DNACPR/ReSPECT",
            SafetyField::Allergies => "allergies",
            SafetyField::CeilingOfTreatment => "ceiling of treatment",
            SafetyField::AdmissionWanted => "admission wanted",
            SafetyField::PreferredPlaceOfDeath => "preferred place of death",
            SafetyField::Consent => "consent",
        }
    }
}

impl std::fmt::Display for SafetyField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A safety-critical field that replicas set differently without seeing each other's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Conflict {
    pub field: SafetyField,
    /// Every value currently held, oldest first.
    pub values: Vec<ConflictingValue>,
}

/// One of the values in a [`Conflict`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictingValue {
    /// Identifies the value for [`crate::Edit::ResolveConflict`]; the same on every replica.
    pub id: String,
    /// How the value reads, e.g. "DNACPR in place: do not attempt CPR".
    pub label: String,
    pub recorded: Attribution,
    pub value: DecisionValue,
}

/// The typed value behind a [`ConflictingValue`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DecisionValue {
    Resuscitation(ResuscitationDecision),
    AllergyStatement(AllergyStatement),
    /// An allergy entry the list holds while another replica said "no known allergies".
    AllergyEntry(Allergy),
    CeilingOfTreatment(CeilingOfTreatment),
    AdmissionWanted(AdmissionDecision),
    PreferredPlaceOfDeath(PlaceOfDeath),
    Consent(Consent),
}

/// A decision type stored as a register.
pub(crate) trait Decision: Hydrate + Clone {
    const FIELD: SafetyField;
    fn recorded(&self) -> &Attribution;
    fn label(&self) -> String;
    /// Whether two values say the same thing (who recorded them does not matter).
    fn same_decision(&self, other: &Self) -> bool;
    fn into_value(self) -> DecisionValue;
}

impl Decision for ResuscitationDecision {
    const FIELD: SafetyField = SafetyField::Dnacpr;
    fn recorded(&self) -> &Attribution {
        &self.recorded
    }
    fn label(&self) -> String {
        let mut s = self.status.label().to_owned();
        if self.respect_form {
            s.push_str(" (ReSPECT form)");
        }
        if let Some(d) = &self.decision_date {
            s.push_str(&format!(", decided {d}"));
        }
        if !self.decided_by.is_empty() {
            s.push_str(&format!(" by {}", self.decided_by));
        }
        if !self.original_location.is_empty() {
            s.push_str(&format!("; original: {}", self.original_location));
        }
        s
    }
    fn same_decision(&self, o: &Self) -> bool {
        (
            self.status,
            self.respect_form,
            &self.decision_date,
            &self.decided_by,
            &self.original_location,
        ) == (
            o.status,
            o.respect_form,
            &o.decision_date,
            &o.decided_by,
            &o.original_location,
        )
    }
    fn into_value(self) -> DecisionValue {
        DecisionValue::Resuscitation(self)
    }
}

impl Decision for AllergyStatement {
    const FIELD: SafetyField = SafetyField::Allergies;
    fn recorded(&self) -> &Attribution {
        &self.recorded
    }
    fn label(&self) -> String {
        self.status.label().to_owned()
    }
    fn same_decision(&self, o: &Self) -> bool {
        self.status == o.status
    }
    fn into_value(self) -> DecisionValue {
        DecisionValue::AllergyStatement(self)
    }
}

impl Decision for CeilingOfTreatment {
    const FIELD: SafetyField = SafetyField::CeilingOfTreatment;
    fn recorded(&self) -> &Attribution {
        &self.recorded
    }
    fn label(&self) -> String {
        with_notes(self.ceiling.label(), &self.notes)
    }
    fn same_decision(&self, o: &Self) -> bool {
        (self.ceiling, &self.notes) == (o.ceiling, &o.notes)
    }
    fn into_value(self) -> DecisionValue {
        DecisionValue::CeilingOfTreatment(self)
    }
}

impl Decision for AdmissionDecision {
    const FIELD: SafetyField = SafetyField::AdmissionWanted;
    fn recorded(&self) -> &Attribution {
        &self.recorded
    }
    fn label(&self) -> String {
        with_notes(self.wanted.label(), &self.notes)
    }
    fn same_decision(&self, o: &Self) -> bool {
        (self.wanted, &self.notes) == (o.wanted, &o.notes)
    }
    fn into_value(self) -> DecisionValue {
        DecisionValue::AdmissionWanted(self)
    }
}

impl Decision for PlaceOfDeath {
    const FIELD: SafetyField = SafetyField::PreferredPlaceOfDeath;
    fn recorded(&self) -> &Attribution {
        &self.recorded
    }
    fn label(&self) -> String {
        self.place.clone()
    }
    fn same_decision(&self, o: &Self) -> bool {
        self.place == o.place
    }
    fn into_value(self) -> DecisionValue {
        DecisionValue::PreferredPlaceOfDeath(self)
    }
}

/// Consent's register also holds version-1 consents, which may lack `recorded`.
impl Decision for Consent {
    const FIELD: SafetyField = SafetyField::Consent;
    /// Whoever wrote this value (every consent edit sets `recorded`, withdrawal too).
    fn recorded(&self) -> &Attribution {
        static NOBODY: std::sync::OnceLock<Attribution> = std::sync::OnceLock::new();
        self.recorded.as_ref().unwrap_or_else(|| {
            NOBODY.get_or_init(|| Attribution {
                user_id: String::new(),
                user_name: "not recorded".to_owned(),
                at_ms: 0,
            })
        })
    }
    fn label(&self) -> String {
        let mut s = self.status_label();
        if let Some(g) = self.given_by {
            s.push_str(&format!(" (given by {})", g.label()));
        }
        s
    }
    /// Only what decides sharing: two notes worded differently are not a conflict.
    fn same_decision(&self, o: &Self) -> bool {
        (&self.recipients, self.given_by, self.withdrawn.is_some())
            == (&o.recipients, o.given_by, o.withdrawn.is_some())
    }
    fn into_value(self) -> DecisionValue {
        DecisionValue::Consent(self)
    }
}

fn with_notes(label: &str, notes: &str) -> String {
    if notes.is_empty() {
        label.to_owned()
    } else {
        format!("{label} ({notes})")
    }
}

/// One value held at a register key.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<T> {
    pub(crate) id: String,
    pub(crate) value: T,
}

/// Every value at `key`, with Automerge's deterministic winner last.
///
/// `legacy` reads a scalar that a version-1 replica wrote in place of a register object;
/// its author comes from the change that wrote it.
pub(crate) fn read_register<T: Decision>(
    cached: &Cached<'_>,
    legacy: impl Fn(&ScalarValue, Attribution) -> Option<T>,
) -> Result<Vec<Candidate<T>>, HydrateError> {
    let key = T::FIELD.key();
    let doc = cached.doc();
    let winner = doc.get(ROOT, key)?.map(|(_, id)| id);
    let mut out = Vec::new();
    for (value, id) in doc.get_all(ROOT, key)? {
        let parsed = match value {
            Value::Object(ObjType::Map) => Some(T::hydrate_map(cached, &id)?),
            Value::Scalar(s) => legacy(s.as_ref(), crate::history::author_of_op(doc, &id)),
            Value::Object(_) => None,
        };
        if let Some(value) = parsed {
            out.push(Candidate {
                id: id.to_string(),
                value,
            });
        }
    }
    // Put the winner last so callers can take it with `last()`.
    if let Some(w) = winner.map(|w| w.to_string())
        && let Some(pos) = out.iter().position(|c| c.id == w)
    {
        let win = out.remove(pos);
        out.push(win);
    }
    Ok(out)
}

/// A version-1 DNACPR status, stored as a bare string.
pub(crate) fn legacy_dnacpr(s: &ScalarValue, by: Attribution) -> Option<ResuscitationDecision> {
    let status = DnacprStatus::hydrate_scalar(Cow::Borrowed(s)).ok()?;
    Some(ResuscitationDecision {
        status,
        respect_form: false,
        decision_date: None,
        decided_by: String::new(),
        original_location: String::new(),
        recorded: by,
    })
}

pub(crate) fn no_legacy<T>(_: &ScalarValue, _: Attribution) -> Option<T> {
    None
}

/// The conflict among `candidates`, if they say different things.
pub(crate) fn conflict_of<T: Decision>(candidates: &[Candidate<T>]) -> Option<Conflict> {
    let first = candidates.first()?;
    if candidates
        .iter()
        .all(|c| c.value.same_decision(&first.value))
    {
        return None;
    }
    Some(conflict_from(
        T::FIELD,
        candidates.iter().map(|c| ConflictingValue {
            id: c.id.clone(),
            label: c.value.label(),
            recorded: c.value.recorded().clone(),
            value: c.value.clone().into_value(),
        }),
    ))
}

pub(crate) fn conflict_from(
    field: SafetyField,
    values: impl Iterator<Item = ConflictingValue>,
) -> Conflict {
    let mut values: Vec<ConflictingValue> = values.collect();
    values.sort_by(|a, b| {
        (a.recorded.at_ms, &a.recorded.user_id, &a.id).cmp(&(
            b.recorded.at_ms,
            &b.recorded.user_id,
            &b.id,
        ))
    });
    Conflict { field, values }
}

/// The registers of a plan as read from the document.
pub(crate) struct Decisions {
    pub(crate) resuscitation: Option<ResuscitationDecision>,
    pub(crate) allergy_status: Option<AllergyStatement>,
    pub(crate) ceiling_of_treatment: Option<CeilingOfTreatment>,
    pub(crate) admission_wanted: Option<AdmissionDecision>,
    pub(crate) preferred_place_of_death: Option<PlaceOfDeath>,
    pub(crate) consent: Consent,
    pub(crate) conflicts: Vec<Conflict>,
}

pub(crate) fn read_decisions(
    doc: &Cached<'_>,
    allergies: &[Allergy],
) -> Result<Decisions, HydrateError> {
    let mut conflicts = Vec::new();
    let resus = read_register::<ResuscitationDecision>(doc, legacy_dnacpr)?;
    conflicts.extend(conflict_of(&resus));
    let ceiling = read_register::<CeilingOfTreatment>(doc, no_legacy)?;
    conflicts.extend(conflict_of(&ceiling));
    let admission = read_register::<AdmissionDecision>(doc, no_legacy)?;
    conflicts.extend(conflict_of(&admission));
    let death = read_register::<PlaceOfDeath>(doc, no_legacy)?;
    conflicts.extend(conflict_of(&death));

    let allergy = read_register::<AllergyStatement>(doc, no_legacy)?;
    conflicts.extend(allergy_conflict(&allergy, allergies));

    let consents: Vec<Candidate<Consent>> = read_register::<Consent>(doc, no_legacy)?
        .into_iter()
        .map(|c| Candidate {
            id: c.id,
            value: c.value.normalised(),
        })
        .collect();
    let consent_conflict = conflict_of(&consents);
    let consent = match &consent_conflict {
        Some(_) => most_restrictive(&consents),
        None => consents.last().map(|c| c.value.clone()).unwrap_or_default(),
    };
    conflicts.extend(consent_conflict);
    conflicts.sort_by_key(|c| c.field);

    Ok(Decisions {
        resuscitation: resus.last().map(|c| c.value.clone()),
        allergy_status: allergy.last().map(|c| c.value.clone()),
        ceiling_of_treatment: ceiling.last().map(|c| c.value.clone()),
        admission_wanted: admission.last().map(|c| c.value.clone()),
        preferred_place_of_death: death.last().map(|c| c.value.clone()),
        consent,
        conflicts,
    })
}

/// Allergies conflict when "no known allergies" stands beside a statement or an entry
/// saying there are some. "Not recorded" (what marking the last allergy entered-in-error
/// leaves) claims nothing, so it conflicts with neither.
fn allergy_conflict(
    statements: &[Candidate<AllergyStatement>],
    allergies: &[Allergy],
) -> Option<Conflict> {
    let says = |s: AllergyStatus| statements.iter().any(|c| c.value.status == s);
    if !says(AllergyStatus::NoKnownAllergies) {
        return None;
    }
    if says(AllergyStatus::AllergiesRecorded) {
        let claims = statements
            .iter()
            .filter(|c| c.value.status != AllergyStatus::NotRecorded);
        return Some(conflict_from(
            SafetyField::Allergies,
            claims.map(|c| ConflictingValue {
                id: c.id.clone(),
                label: c.value.label(),
                recorded: c.value.recorded.clone(),
                value: c.value.clone().into_value(),
            }),
        ));
    }
    // Belt and braces: an "allergies recorded" statement accompanies every added allergy,
    // but should "no known allergies" ever stand alone beside a live entry, say so.
    let winner_nka = statements
        .last()
        .is_some_and(|c| c.value.status == AllergyStatus::NoKnownAllergies);
    let live: Vec<&Allergy> = allergies
        .iter()
        .filter(|a| a.entered_in_error.is_none())
        .collect();
    if !winner_nka || live.is_empty() {
        return None;
    }
    let nka = statements
        .iter()
        .filter(|c| c.value.status == AllergyStatus::NoKnownAllergies)
        .map(|c| ConflictingValue {
            id: c.id.clone(),
            label: c.value.label(),
            recorded: c.value.recorded.clone(),
            value: c.value.clone().into_value(),
        });
    let entries = live.into_iter().map(|a| ConflictingValue {
        id: format!("allergy:{}", a.id),
        label: format!("Allergy: {}", a.substance),
        recorded: a.recorded.clone(),
        value: DecisionValue::AllergyEntry(a.clone()),
    });
    Some(conflict_from(SafetyField::Allergies, nka.chain(entries)))
}

/// While consents conflict, share only with recipients every value allows, and not at
/// all if any value withdrew consent: the safe reading until a clinician resolves it.
fn most_restrictive(consents: &[Candidate<Consent>]) -> Consent {
    let Some(winner) = consents.last() else {
        return Consent::default();
    };
    let mut merged = winner.value.clone();
    let common: Vec<ConsentRecipient> = ConsentRecipient::ALL
        .into_iter()
        .filter(|r| consents.iter().all(|c| c.value.recipients.contains(r)))
        .collect();
    if merged.withdrawn.is_none() {
        merged.withdrawn = consents.iter().find_map(|c| c.value.withdrawn.clone());
    }
    merged.set_recipients(common);
    merged
}

impl CarePlan {
    /// The allergy status a reader should act on. A live allergy entry always means
    /// allergies are recorded, whatever the last statement said.
    pub fn allergy_status(&self) -> AllergyStatus {
        if self.active_allergies().next().is_some() {
            return AllergyStatus::AllergiesRecorded;
        }
        match &self.allergy_status {
            Some(s) if s.status != AllergyStatus::AllergiesRecorded => s.status,
            _ => AllergyStatus::NotRecorded,
        }
    }
}

#[cfg(test)]
mod tests;
