//! Red Folder's pure core: the care-plan document, its typed edits, the emergency
//! summary projection, the wire protocol and the sync engine.
//!
//! Nothing here does I/O or reads a clock: time and identities come in as arguments, and
//! the sync engine turns bytes into bytes. The same code runs in the server (natively)
//! and in the tablet app (compiled to `wasm32-unknown-unknown`).
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

mod date;
mod doc;
mod edit;
mod nhs;
mod plan;
pub mod protocol;
mod summary;
pub mod sync;

pub use automerge::{ActorId, ChangeHash};
pub use date::Date;
pub use doc::{ApplyError, ChangeNote, DocError, NewPlan, PlanDoc};
pub use edit::{Edit, EditError, Editor, EntryList};
pub use nhs::{NhsNumber, NhsNumberError};
pub use plan::{
    Attribution, BaselineObservations, CarePlan, Condition, Consent, Contact, DnacprStatus,
    EnteredInError, Medication, Patient, SCHEMA_VERSION,
};
pub use summary::{
    EmergencySummary, SummaryBaseline, SummaryCondition, SummaryContact, SummaryMedication,
    emergency_summary,
};
pub use sync::{ClientEngine, ClientEvent, Received, Session, StoredDoc, SyncError};
