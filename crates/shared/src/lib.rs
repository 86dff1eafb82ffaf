//! Red Folder's pure core: the care-plan document, its typed edits, the emergency
//! summary projection, the wire protocol and the sync engine.
//!
//! Nothing here does I/O or reads a clock: time and identities come in as arguments, and
//! the sync engine turns bytes into bytes. The same code runs in the server (natively)
//! and in the tablet app (compiled to `wasm32-unknown-unknown`).
//!
//! A [`CarePlan`] holds every group of `docs/domain.md` "What a plan holds"; it changes only
//! through validated [`Edit`]s. Lists merge as lists and long text character by character;
//! nothing is deleted, only marked entered-in-error. Safety-critical decisions (DNACPR,
//! allergies, ceiling of treatment, admission, preferred place of death, consent) never
//! resolve silently: concurrent differing values are kept with their authors and listed by
//! [`PlanDoc::conflicts`] until a clinician resolves them. [`PlanDoc::history`],
//! [`PlanDoc::field_history`] and [`PlanDoc::plan_as_of`] read the plan's audit trail, and
//! [`emergency_summary`] with [`render_html`] prints the yellow pages.
//!
//! Two devices editing one plan and syncing directly through [`Session`]s:
//!
//! ```
//! use redfolder_shared::{ActorId, Edit, Editor, NewPlan, PlanDoc, Received, Session, DnacprStatus};
//! use redfolder_shared::protocol::Frame;
//!
//! let editor = Editor { user_id: "u1".into(), user_name: "Nurse One".into() };
//! let new = NewPlan {
//!     nhs_number: "9434765919".into(),
//!     name: "Ada Example".into(),
//!     date_of_birth: "1938-02-28".into(),
//!     address: "1 High Street".into(),
//! };
//! let now = 1_795_960_800_000;
//! let mut a = PlanDoc::create(ActorId::from(b"device-a".as_slice()), &new, &editor, now).unwrap();
//! let mut b = PlanDoc::empty(ActorId::from(b"device-b".as_slice()));
//! a.apply(&Edit::SetDnacpr { status: DnacprStatus::DoNotAttemptCpr }, &editor, now).unwrap();
//!
//! let (mut sa, mut sb) = (Session::new(), Session::new());
//! // Exchange frames until neither side has anything to say.
//! loop {
//!     let mut quiet = true;
//!     for (from, to, s_from, s_to) in [(&mut a, &mut b, &mut sa, &mut sb)] {
//!         while let Some(Frame::Sync { doc_id, epoch, seq, message }) = s_from.generate(from.automerge(), "p1") {
//!             quiet = false;
//!             s_to.receive(to.automerge(), &doc_id, epoch, seq, &message).unwrap();
//!         }
//!     }
//!     for (from, to, s_from, s_to) in [(&mut b, &mut a, &mut sb, &mut sa)] {
//!         while let Some(Frame::Sync { doc_id, epoch, seq, message }) = s_from.generate(from.automerge(), "p1") {
//!             quiet = false;
//!             s_to.receive(to.automerge(), &doc_id, epoch, seq, &message).unwrap();
//!         }
//!     }
//!     if quiet { break; }
//! }
//! assert_eq!(b.plan().unwrap().dnacpr, DnacprStatus::DoNotAttemptCpr);
//! ```

pub mod check;
mod date;
mod decision;
mod doc;
mod edit;
mod history;
mod lifecycle;
mod nhs;
mod plan;
pub mod protocol;
mod read;
pub mod referral;
mod review;
mod schema;
mod summary;
pub mod sync;
pub mod sync_message;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use automerge::{ActorId, ChangeHash};
pub use date::Date;
pub use decision::{
    AdmissionDecision, AdmissionWish, AllergyStatement, AllergyStatus, CeilingOfTreatment,
    Conflict, ConflictingValue, Consent, ConsentGivenBy, ConsentRecipient, ConsentWithdrawal,
    DecisionValue, DnacprReading, DnacprStatus, PlaceOfDeath, Reading, RegisterState,
    ResuscitationDecision, SafetyField, TreatmentCeiling, conflict_label, conflict_line,
};
pub use doc::{ApplyError, ChangeNote, DocError, NewPlan, PlanDoc};
pub use edit::{Edit, EditError, Editor, EntryList, TextTarget};
pub use history::{AttributionProblem, ChangeRecord, FieldChange, change_note};
pub use lifecycle::{
    CaseManager, CohortCategory, CompletionProblem, DEFAULT_REVIEW_INTERVAL_MONTHS, EndReason,
    Enrolment, GpMeeting, MentalHealthAssessment, MentalHealthStatus, NoWiderAction, PlanEnd,
    PlanStatus, ReviewOutcome, Tier,
};
pub use nhs::{NhsNumber, NhsNumberError};
pub use plan::{
    ActionStatus, Adrt, Advice, Allergy, AllergySeverity, Attribution, BaselineObservations,
    CareFocus, CarePlan, CareTeamMember, Condition, Contact, EnteredInError, EscalationPlan,
    FocusOfCare, Goal, GoalAction, GoalStatus, MdtDiscussion, Medication, Patient, Relationship,
    Residence, Review, SCHEMA_VERSION, Sex, TeamContactKind,
};
pub use review::{
    DUE_SOON_DAYS, DueState, NextReview, OVER_75_REVIEW_MONTHS, ReviewBasis, ReviewDue,
    days_between,
};
pub use schema::{Field, GENESIS_ACTOR, genesis_change};
pub use summary::{
    ENDED_SUMMARY_SERVED_DAYS, EmergencySummary, PAPER_SECTIONS, PaperCodeError, PaperCopy,
    PaperReading, PaperState, SummaryAllergy, SummaryBaseline, SummaryCondition, SummaryContact,
    SummaryDecision, SummaryEnded, SummaryEscalation, SummaryFingerprint, SummaryMedication,
    SummaryValue, emergency_summary, escape_html, render_html, render_text,
};
pub use sync::{ClientEngine, ClientEvent, Received, RefusedChange, Session, StoredDoc, SyncError};
