//! How a [`CarePlan`] maps onto the Automerge document, and how older documents migrate.
//!
//! ## Containers and the genesis change
//! A list or text created at the same key by two replicas is two objects, and only one of
//! them can be read: whatever the other replica wrote into its copy is lost. Version 1
//! avoided that by creating every container in the plan's first change, before any replica
//! could see the plan. Version 2 adds containers that version-1 documents lack, and two
//! tablets could each add them to the same old plan while offline.
//!
//! So version 2's new containers are created by one fixed change, the *genesis* change:
//! same actor, same operations, no dependencies and a fixed time, hence byte-identical and
//! with the same hash wherever it is made. Every replica that upgrades a plan applies that
//! same change and Automerge stores it once; new plans start from it too. Scalars and
//! registers need no such care, and the keys version 1 already had are left where they are.
//!
//! ## Reading old documents
//! A newer build reads an older document as it is, filling what is missing with defaults,
//! without writing anything: only an edit migrates a plan (genesis change plus the new
//! schema version, in the edit's own change).

use std::sync::OnceLock;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ObjType, ROOT, ReadDoc};
use autosurgeon::{Hydrate, HydrateError, ReconcileError, Text, hydrate_prop, reconcile_prop};

use crate::decision::read_decisions;
use crate::doc::DocError;
use crate::lifecycle::Enrolment;
use crate::plan::{Attribution, CarePlan, Patient, SCHEMA_VERSION};
use crate::read::Cached;

/// The actor of the genesis change; no device ever uses it.
pub const GENESIS_ACTOR: &[u8] = b"redfolder-schema-genesis";

/// Containers new in version 2, created by the genesis change.
const GENESIS_CONTAINERS: &[(&str, ObjType)] = &[
    ("enrolment", ObjType::Map),
    ("care_team", ObjType::List),
    ("allergies", ObjType::List),
    ("escalation_plans", ObjType::List),
    ("goals", ObjType::List),
    ("self_management_advice", ObjType::Text),
    ("equipment_and_services", ObjType::Text),
    ("adrt", ObjType::Map),
    ("focus_of_care", ObjType::Map),
    ("reviews", ObjType::List),
    ("mdt_discussions", ObjType::List),
    ("advice", ObjType::List),
];

/// The genesis change. A server that binds actors to devices must accept this one change
/// from anyone: compare its hash with `genesis_change().hash()`.
pub fn genesis_change() -> &'static Change {
    static GENESIS: OnceLock<Change> = OnceLock::new();
    GENESIS.get_or_init(|| {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
        for (key, kind) in GENESIS_CONTAINERS {
            doc.put_object(ROOT, *key, *kind)
                .expect("a fresh document takes any key");
        }
        doc.commit_with(
            CommitOptions::default()
                .with_message(r#"{"schema_containers":2}"#)
                .with_time(0),
        );
        doc.get_last_local_change()
            .expect("the genesis change was just committed")
    })
}

/// Adds the genesis change if the document lacks it (a no-op on any version-2 document).
pub(crate) fn ensure_genesis(doc: &mut AutoCommit) -> Result<(), automerge::AutomergeError> {
    let genesis = genesis_change();
    if doc.get_change_by_hash(&genesis.hash()).is_none() {
        doc.apply_changes([genesis.clone()])?;
    }
    Ok(())
}

/// Whether the document holds a plan yet (a device that has not synced it holds nothing).
pub(crate) fn has_plan(doc: &AutoCommit) -> bool {
    matches!(doc.get(ROOT, "patient"), Ok(Some(_)))
}

fn schema(e: impl std::fmt::Display) -> DocError {
    DocError::Schema(e.to_string())
}

/// `key`'s value, or `T::default()` when the document does not have the key (yet).
fn prop_or_default<T: Hydrate + Default>(doc: &Cached<'_>, key: &str) -> Result<T, HydrateError> {
    match autosurgeon::ReadDoc::get(doc, &ROOT, key)? {
        None => Ok(T::default()),
        Some(_) => hydrate_prop(doc, ROOT, key),
    }
}

fn text_or_empty(doc: &Cached<'_>, key: &str) -> Result<Text, HydrateError> {
    match autosurgeon::ReadDoc::get(doc, &ROOT, key)? {
        None => Ok(Text::with_value("")),
        Some(_) => hydrate_prop(doc, ROOT, key),
    }
}

/// Every edit writes `last_updated`, so concurrent edits leave several values there; the
/// latest by its author's clock is the honest answer to "last updated when, by whom".
fn latest_update(doc: &Cached<'_>) -> Result<Option<Attribution>, HydrateError> {
    let mut latest: Option<Attribution> = None;
    for (value, id) in doc.doc().get_all(ROOT, "last_updated")? {
        if !matches!(value, automerge::Value::Object(ObjType::Map)) {
            continue;
        }
        let a = Attribution::hydrate_map(doc, &id)?;
        if latest
            .as_ref()
            .is_none_or(|l| (a.at_ms, &a.user_id) > (l.at_ms, &l.user_id))
        {
            latest = Some(a);
        }
    }
    Ok(latest)
}

/// Concurrent prints leave several values in the `paper_copy` register; the latest print
/// by its printer's clock is the paper most likely to be in the home's folder.
fn latest_paper_copy(doc: &Cached<'_>) -> Result<Option<crate::PaperCopy>, HydrateError> {
    let mut latest: Option<crate::PaperCopy> = None;
    for (value, id) in doc.doc().get_all(ROOT, "paper_copy")? {
        if !matches!(value, automerge::Value::Object(ObjType::Map)) {
            continue;
        }
        let c = crate::PaperCopy::hydrate_map(doc, &id)?;
        if latest.as_ref().is_none_or(|l| {
            (c.printed.at_ms, &c.printed.user_id) > (l.printed.at_ms, &l.printed.user_id)
        }) {
            latest = Some(c);
        }
    }
    Ok(latest)
}

/// Reads the plan. `require_patient` is false only while creating one.
pub(crate) fn read_plan(doc: &AutoCommit, require_patient: bool) -> Result<CarePlan, DocError> {
    if require_patient && !has_plan(doc) {
        return Err(DocError::Empty);
    }
    let schema_version: u64 = match doc.get(ROOT, "schema_version").map_err(schema)? {
        None => SCHEMA_VERSION,
        Some(_) => hydrate_prop(doc, ROOT, "schema_version").map_err(schema)?,
    };
    if schema_version > SCHEMA_VERSION {
        return Err(DocError::NewerSchema {
            found: schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    let cached = Cached::new(doc);
    let plan = (|| -> Result<CarePlan, HydrateError> {
        let doc = &cached;
        let allergies: Vec<crate::plan::Allergy> = prop_or_default(doc, "allergies")?;
        let decisions = read_decisions(doc, &allergies)?;
        let patient: Patient = prop_or_default(doc, "patient")?;
        let enrolment: Enrolment = prop_or_default(doc, "enrolment")?;
        let mut heads: Vec<String> = doc
            .doc()
            .base_heads()
            .iter()
            .map(|h| h.to_string())
            .collect();
        heads.sort();
        Ok(CarePlan {
            schema_version,
            patient,
            enrolment: enrolment.normalised(),
            care_team: prop_or_default(doc, "care_team")?,
            key_contacts: prop_or_default(doc, "key_contacts")?,
            conditions: prop_or_default(doc, "conditions")?,
            medications: prop_or_default(doc, "medications")?,
            allergies,
            allergy_status: decisions.allergy_status,
            baseline: prop_or_default(doc, "baseline")?,
            exacerbation_plan: text_or_empty(doc, "exacerbation_plan")?,
            escalation_plans: prop_or_default(doc, "escalation_plans")?,
            goals: prop_or_default(doc, "goals")?,
            self_management_advice: text_or_empty(doc, "self_management_advice")?,
            equipment_and_services: text_or_empty(doc, "equipment_and_services")?,
            dnacpr: decisions
                .resuscitation
                .as_ref()
                .map_or(crate::DnacprStatus::NotRecorded, |r| r.status),
            resuscitation: decisions.resuscitation,
            adrt: prop_or_default(doc, "adrt")?,
            focus_of_care: prop_or_default(doc, "focus_of_care")?,
            ceiling_of_treatment: decisions.ceiling_of_treatment,
            admission_wanted: decisions.admission_wanted,
            preferred_place_of_care: prop_or_default(doc, "preferred_place_of_care")?,
            preferred_place_of_death: decisions.preferred_place_of_death,
            reviews: prop_or_default(doc, "reviews")?,
            mdt_discussions: prop_or_default(doc, "mdt_discussions")?,
            advice: prop_or_default(doc, "advice")?,
            consent: decisions.consent,
            no_wider_action: prop_or_default(doc, "no_wider_action")?,
            gp_meeting: prop_or_default(doc, "gp_meeting")?,
            mental_health_assessment: prop_or_default(doc, "mental_health_assessment")?,
            last_updated: latest_update(doc)?,
            paper_copy: latest_paper_copy(doc)?,
            conflicts: decisions.conflicts,
            plan_version: heads.join(","),
        })
    })()
    .map_err(schema)?;
    Ok(plan)
}

/// A top-level field of the plan's document. Edits write only the fields they touch, so
/// concurrent edits to other fields are never rewritten, and registers are written only by
/// their own edits; the server's write rules ([`crate::check`]) name fields the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    SchemaVersion,
    Patient,
    Enrolment,
    CareTeam,
    KeyContacts,
    Conditions,
    Medications,
    Allergies,
    AllergyStatus,
    Baseline,
    ExacerbationPlan,
    EscalationPlans,
    Goals,
    SelfManagementAdvice,
    EquipmentAndServices,
    Dnacpr,
    Adrt,
    FocusOfCare,
    CeilingOfTreatment,
    AdmissionWanted,
    PreferredPlaceOfCare,
    PreferredPlaceOfDeath,
    Reviews,
    MdtDiscussions,
    Advice,
    Consent,
    LastUpdated,
    PaperCopy,
    NoWiderAction,
    GpMeeting,
    MentalHealthAssessment,
}

impl Field {
    /// Every field, in document order.
    pub const ALL: [Field; 31] = [
        Field::SchemaVersion,
        Field::Patient,
        Field::Enrolment,
        Field::CareTeam,
        Field::KeyContacts,
        Field::Conditions,
        Field::Medications,
        Field::Allergies,
        Field::AllergyStatus,
        Field::Baseline,
        Field::ExacerbationPlan,
        Field::EscalationPlans,
        Field::Goals,
        Field::SelfManagementAdvice,
        Field::EquipmentAndServices,
        Field::Dnacpr,
        Field::Adrt,
        Field::FocusOfCare,
        Field::CeilingOfTreatment,
        Field::AdmissionWanted,
        Field::PreferredPlaceOfCare,
        Field::PreferredPlaceOfDeath,
        Field::Reviews,
        Field::MdtDiscussions,
        Field::Advice,
        Field::Consent,
        Field::LastUpdated,
        Field::PaperCopy,
        Field::NoWiderAction,
        Field::GpMeeting,
        Field::MentalHealthAssessment,
    ];

    /// The key the field is stored under at the document's root.
    pub fn key(self) -> &'static str {
        match self {
            Field::SchemaVersion => "schema_version",
            Field::Patient => "patient",
            Field::Enrolment => "enrolment",
            Field::CareTeam => "care_team",
            Field::KeyContacts => "key_contacts",
            Field::Conditions => "conditions",
            Field::Medications => "medications",
            Field::Allergies => "allergies",
            Field::AllergyStatus => "allergy_status",
            Field::Baseline => "baseline",
            Field::ExacerbationPlan => "exacerbation_plan",
            Field::EscalationPlans => "escalation_plans",
            Field::Goals => "goals",
            Field::SelfManagementAdvice => "self_management_advice",
            Field::EquipmentAndServices => "equipment_and_services",
            Field::Dnacpr => "dnacpr",
            Field::Adrt => "adrt",
            Field::FocusOfCare => "focus_of_care",
            Field::CeilingOfTreatment => "ceiling_of_treatment",
            Field::AdmissionWanted => "admission_wanted",
            Field::PreferredPlaceOfCare => "preferred_place_of_care",
            Field::PreferredPlaceOfDeath => "preferred_place_of_death",
            Field::Reviews => "reviews",
            Field::MdtDiscussions => "mdt_discussions",
            Field::Advice => "advice",
            Field::Consent => "consent",
            Field::LastUpdated => "last_updated",
            Field::PaperCopy => "paper_copy",
            Field::NoWiderAction => "no_wider_action",
            Field::GpMeeting => "gp_meeting",
            Field::MentalHealthAssessment => "mental_health_assessment",
        }
    }

    /// The field stored under root key `key`, if the plan has one there.
    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }

    /// How a clinician reads the field's name (in a refusal, say).
    pub fn label(self) -> &'static str {
        match self {
            Field::SchemaVersion => "the plan's schema version",
            Field::Patient => "patient identity",
            Field::Enrolment => "enrolment",
            Field::CareTeam => "the care team",
            Field::KeyContacts => "key contacts",
            Field::Conditions => "conditions",
            Field::Medications => "medications",
            Field::Allergies => "allergies",
            Field::AllergyStatus => "the allergy status",
            Field::Baseline => "baseline observations",
            Field::ExacerbationPlan => "the exacerbation plan",
            Field::EscalationPlans => "escalation plans",
            Field::Goals => "goals",
            Field::SelfManagementAdvice => "self-management advice",
            Field::EquipmentAndServices => "equipment and services",
            Field::Dnacpr => "DNACPR",
            Field::Adrt => "the advance decision to refuse treatment",
            Field::FocusOfCare => "the focus of care",
            Field::CeilingOfTreatment => "the ceiling of treatment",
            Field::AdmissionWanted => "whether admission is wanted",
            Field::PreferredPlaceOfCare => "the preferred place of care",
            Field::PreferredPlaceOfDeath => "the preferred place of death",
            Field::Reviews => "reviews",
            Field::MdtDiscussions => "MDT discussions",
            Field::Advice => "advice",
            Field::Consent => "consent",
            Field::LastUpdated => "the last-updated stamp",
            Field::PaperCopy => "the paper copy in the home",
            Field::NoWiderAction => "the statement that no wider action is needed",
            Field::GpMeeting => "the face-to-face meeting with the GP",
            Field::MentalHealthAssessment => "the mental health assessment",
        }
    }
}

/// A list entry's id, which matches it between the plan before and after an edit.
trait Entry: autosurgeon::Reconcile + PartialEq {
    fn entry_id(&self) -> &str;
}

macro_rules! entries {
    ($($ty:ty),*) => {
        $(impl Entry for $ty {
            fn entry_id(&self) -> &str {
                &self.id
            }
        })*
    };
}

entries!(
    crate::plan::CareTeamMember,
    crate::plan::Contact,
    crate::plan::Condition,
    crate::plan::Medication,
    crate::plan::Allergy,
    crate::plan::EscalationPlan,
    crate::plan::Goal,
    crate::plan::Review,
    crate::plan::MdtDiscussion,
    crate::plan::Advice
);

/// Writes a list by touching only the entries that changed or were added: the same
/// result as reconciling the whole list (new entries go at the end, changed entries are
/// updated in place), without re-reading every other entry. Falls back to a whole
/// reconcile when the lists do not line up (which edits never cause).
fn write_list<T: Entry>(
    doc: &mut AutoCommit,
    key: &str,
    before: &[T],
    after: &[T],
) -> Result<(), ReconcileError> {
    let list = match doc.get(ROOT, key)? {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => return reconcile_prop(doc, ROOT, key, after),
    };
    let aligned = after.len() >= before.len()
        && automerge::ReadDoc::length(doc, &list) == before.len()
        && before
            .iter()
            .zip(after)
            .all(|(b, a)| b.entry_id() == a.entry_id());
    if !aligned {
        return reconcile_prop(doc, ROOT, key, after);
    }
    for (index, (b, a)) in before.iter().zip(after).enumerate() {
        if b != a {
            reconcile_prop(doc, &list, index, a)?;
        }
    }
    for (offset, a) in after[before.len()..].iter().enumerate() {
        autosurgeon::reconcile_insert(doc, list.clone(), before.len() + offset, a)?;
    }
    Ok(())
}

/// Writes one field of `plan` (read as `before` and since edited) into the document.
pub(crate) fn write_field(
    doc: &mut AutoCommit,
    before: &CarePlan,
    plan: &CarePlan,
    field: Field,
) -> Result<(), ReconcileError> {
    macro_rules! list {
        ($key:literal, $field:ident) => {
            write_list(doc, $key, &before.$field, &plan.$field)
        };
    }
    match field {
        Field::SchemaVersion => reconcile_prop(doc, ROOT, "schema_version", plan.schema_version),
        Field::Patient => reconcile_prop(doc, ROOT, "patient", &plan.patient),
        Field::Enrolment => {
            // The case manager and the completed, review-started and ended stamps are each
            // one record with its own attribution: written whole, as a new object, so two
            // tablets setting one concurrently keep one coherent record each rather than
            // merging key by key into a name from one and an author from the other.
            let (b, a) = (&before.enrolment, &plan.enrolment);
            let records = [
                (
                    "case_manager",
                    b.case_manager != a.case_manager && a.case_manager.is_some(),
                ),
                (
                    "completed",
                    b.completed != a.completed && a.completed.is_some(),
                ),
                (
                    "review_started",
                    b.review_started != a.review_started && a.review_started.is_some(),
                ),
                ("ended", b.ended != a.ended && a.ended.is_some()),
            ];
            if let Some((automerge::Value::Object(ObjType::Map), enrolment)) =
                doc.get(ROOT, "enrolment")?
            {
                for (key, changed) in records {
                    if changed {
                        doc.put_object(&enrolment, key, ObjType::Map)?;
                    }
                }
            }
            reconcile_prop(doc, ROOT, "enrolment", &plan.enrolment)
        }
        Field::CareTeam => list!("care_team", care_team),
        Field::KeyContacts => list!("key_contacts", key_contacts),
        Field::Conditions => list!("conditions", conditions),
        Field::Medications => list!("medications", medications),
        Field::Allergies => list!("allergies", allergies),
        Field::AllergyStatus => fresh(doc, "allergy_status", plan.allergy_status.as_ref()),
        // A baseline is one coherent set: written whole, as a new object.
        Field::Baseline => fresh(doc, "baseline", Some(&plan.baseline)),
        Field::ExacerbationPlan => {
            reconcile_prop(doc, ROOT, "exacerbation_plan", &plan.exacerbation_plan)
        }
        Field::EscalationPlans => list!("escalation_plans", escalation_plans),
        Field::Goals => list!("goals", goals),
        Field::SelfManagementAdvice => reconcile_prop(
            doc,
            ROOT,
            "self_management_advice",
            &plan.self_management_advice,
        ),
        Field::EquipmentAndServices => reconcile_prop(
            doc,
            ROOT,
            "equipment_and_services",
            &plan.equipment_and_services,
        ),
        Field::Dnacpr => fresh(doc, "dnacpr", plan.resuscitation.as_ref()),
        Field::Adrt => reconcile_prop(doc, ROOT, "adrt", &plan.adrt),
        Field::FocusOfCare => reconcile_prop(doc, ROOT, "focus_of_care", &plan.focus_of_care),
        Field::CeilingOfTreatment => fresh(
            doc,
            "ceiling_of_treatment",
            plan.ceiling_of_treatment.as_ref(),
        ),
        Field::AdmissionWanted => fresh(doc, "admission_wanted", plan.admission_wanted.as_ref()),
        Field::PreferredPlaceOfCare => reconcile_prop(
            doc,
            ROOT,
            "preferred_place_of_care",
            &plan.preferred_place_of_care,
        ),
        Field::PreferredPlaceOfDeath => fresh(
            doc,
            "preferred_place_of_death",
            plan.preferred_place_of_death.as_ref(),
        ),
        Field::Reviews => list!("reviews", reviews),
        Field::MdtDiscussions => list!("mdt_discussions", mdt_discussions),
        Field::Advice => list!("advice", advice),
        Field::Consent => fresh(doc, "consent", Some(&plan.consent)),
        Field::LastUpdated => reconcile_prop(doc, ROOT, "last_updated", &plan.last_updated),
        Field::PaperCopy => fresh(doc, "paper_copy", plan.paper_copy.as_ref()),
        // Each is one record with its own attribution, written whole (a register).
        Field::NoWiderAction => fresh(doc, "no_wider_action", plan.no_wider_action.as_ref()),
        Field::GpMeeting => fresh(doc, "gp_meeting", plan.gp_meeting.as_ref()),
        Field::MentalHealthAssessment => fresh(
            doc,
            "mental_health_assessment",
            plan.mental_health_assessment.as_ref(),
        ),
    }
}

/// Writes `value` as a new map object at `key`, superseding every value this replica has
/// seen there and none it has not: a register write (see [`crate::decision`]).
fn fresh<T: autosurgeon::Reconcile>(
    doc: &mut AutoCommit,
    key: &str,
    value: Option<&T>,
) -> Result<(), ReconcileError> {
    let Some(value) = value else {
        return Ok(());
    };
    doc.put_object(ROOT, key, ObjType::Map)?;
    reconcile_prop(doc, ROOT, key, value)
}

#[cfg(test)]
mod tests;
