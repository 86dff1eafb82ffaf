//! Red Folder in FHIR R4 (UK Core): a care plan as a `collection` Bundle, the emergency
//! summary as a `document` Bundle, and a GP system's Bundle as plan edits.
//!
//! Pure like `redfolder-shared`: no I/O, no clock, no randomness. Time comes from the
//! plan's own attributions (or an argument), new entry ids from a caller's generator.
//! Resource ids derive from plan entry ids (`condition-<id>`), and every entry's
//! `fullUrl` is a `urn:uuid:` derived from the patient and that id, so the same plan
//! exports to the same bundle and every reference resolves inside it: people and
//! practices are Practitioner and Organization resources of the bundle. Every resource
//! claims its UK Core profile. `docs/fhir.md` describes the mapping element by element.
//!
//! ```
//! use redfolder_shared::{ActorId, Edit, Editor, NewPlan, PlanDoc};
//!
//! let editor = Editor { user_id: "u1".into(), user_name: "Nurse One".into() };
//! let new = NewPlan {
//!     nhs_number: "9434765919".into(),
//!     name: "Ada Example".into(),
//!     date_of_birth: "1938-02-28".into(),
//!     address: "1 High Street".into(),
//! };
//! let mut doc = PlanDoc::create(ActorId::from(b"a".as_slice()), &new, &editor, 1_795_960_800_000).unwrap();
//! let edit = Edit::AddCondition { id: "c1".into(), name: "COPD".into(), treatment: "inhalers".into() };
//! doc.apply(&edit, &editor, 1_795_960_900_000).unwrap();
//! let bundle = redfolder_fhir::plan_bundle("p1", &doc.plan().unwrap());
//! assert_eq!(bundle["type"], "collection");
//!
//! // A GP system's export of the same patient reads back as the same condition.
//! let import = redfolder_fhir::parse_import(&bundle).unwrap();
//! assert_eq!(import.conditions[0].name, "COPD");
//! ```

pub mod bundle;
mod document;
mod export;
mod import;
mod profile;
mod referral;
mod referral_export;
mod util;

pub use document::summary_document;
pub use export::plan_bundle;
pub use import::clinic::{
    ClinicObservations, ClinicReading, MEASURES, Measure, MeasureKind, measure,
    parse_clinic_observations,
};
pub use import::{
    Import, ImportEdits, ImportProblem, ImportRefused, ImportedAllergy, ImportedCondition,
    ImportedMedication, ImportedPatient, ImportedResuscitation, import_edits, parse_import,
};
pub use referral::{
    ImportedAttachment, ImportedReferral, MAX_ATTACHMENTS, ServiceRequestError,
    parse_service_request,
};
pub use referral_export::{
    AttachmentRef, Decision, REFERRAL_SYSTEM, ReferralRecord, ReviewOutcome, service_request,
};

/// The FHIR identifier system of NHS numbers.
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// The FHIR identifier system of ODS organisation codes.
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
/// SNOMED CT "Not for attempted cardiopulmonary resuscitation".
pub const SNOMED_DNACPR: &str = "450476008";
/// SNOMED CT "For attempted cardiopulmonary resuscitation".
pub const SNOMED_FOR_CPR: &str = "304252001";
/// SNOMED CT "No known allergy".
pub const SNOMED_NO_KNOWN_ALLERGY: &str = "716186003";
