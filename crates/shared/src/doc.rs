//! [`PlanDoc`]: one patient's plan as an Automerge document.

use automerge::{ActorId, AutoCommit, ChangeHash, ROOT, transaction::CommitOptions};
use autosurgeon::{hydrate, reconcile, reconcile_prop};

use crate::edit::{Edit, EditError, Editor};
use crate::plan::{BaselineObservations, CarePlan, Consent, DnacprStatus, Patient, SCHEMA_VERSION};

/// Errors reading or writing the underlying Automerge document.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("the document does not hold a care plan yet")]
    Empty,
    #[error("the document is not a valid care plan: {0}")]
    Schema(String),
    #[error(
        "the document's schema version {found} is newer than this app understands ({supported})"
    )]
    NewerSchema { found: u64, supported: u64 },
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// Errors from [`PlanDoc::apply`]: either the edit was invalid or the document was.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Invalid(#[from] EditError),
    #[error(transparent)]
    Doc(#[from] DocError),
}

/// The details needed to start a new plan.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewPlan {
    pub nhs_number: String,
    pub name: String,
    pub date_of_birth: String,
    pub address: String,
}

/// The commit message written with every change, so history can say who made it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChangeNote {
    pub user_id: String,
    pub user_name: String,
}

/// One patient's care plan document.
#[derive(Debug)]
pub struct PlanDoc {
    doc: AutoCommit,
}

impl PlanDoc {
    /// Starts a plan for a patient in a single change authored by `editor`.
    pub fn create(
        actor: ActorId,
        new: &NewPlan,
        editor: &Editor,
        now_ms: i64,
    ) -> Result<PlanDoc, ApplyError> {
        let mut plan = CarePlan {
            schema_version: SCHEMA_VERSION,
            patient: Patient {
                nhs_number: String::new(),
                name: String::new(),
                date_of_birth: String::new(),
                address: String::new(),
            },
            consent: Consent::default(),
            conditions: Vec::new(),
            medications: Vec::new(),
            dnacpr: DnacprStatus::NotRecorded,
            preferred_place_of_care: String::new(),
            exacerbation_plan: autosurgeon::Text::with_value(""),
            baseline: BaselineObservations::default(),
            key_contacts: Vec::new(),
            last_updated: None,
        };
        let set_patient = Edit::SetPatient {
            nhs_number: new.nhs_number.clone(),
            name: new.name.clone(),
            date_of_birth: new.date_of_birth.clone(),
            address: new.address.clone(),
        };
        set_patient.apply_to(&mut plan, editor, now_ms)?;
        let mut doc = AutoCommit::new().with_actor(actor);
        reconcile(&mut doc, &plan).map_err(|e| DocError::Schema(e.to_string()))?;
        commit(&mut doc, editor, now_ms);
        Ok(PlanDoc { doc })
    }

    /// An empty document, to be filled by sync.
    pub fn empty(actor: ActorId) -> PlanDoc {
        PlanDoc {
            doc: AutoCommit::new().with_actor(actor),
        }
    }

    /// Loads a saved document (the output of [`PlanDoc::save`], or several concatenated
    /// incremental saves).
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<PlanDoc, DocError> {
        Ok(PlanDoc {
            doc: AutoCommit::load(bytes)?.with_actor(actor),
        })
    }

    /// Whether the document holds anything yet (a device that has not synced it holds nothing).
    pub fn is_empty(&mut self) -> bool {
        self.doc.get_heads().is_empty()
    }

    /// The plan as it stands.
    pub fn plan(&self) -> Result<CarePlan, DocError> {
        if automerge::ReadDoc::length(&self.doc, ROOT) == 0 {
            return Err(DocError::Empty);
        }
        let plan: CarePlan = hydrate(&self.doc).map_err(|e| DocError::Schema(e.to_string()))?;
        if plan.schema_version > SCHEMA_VERSION {
            return Err(DocError::NewerSchema {
                found: plan.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(plan)
    }

    /// Validates `edit` and, if valid, records it as one change. Invalid edits change nothing.
    pub fn apply(
        &mut self,
        edit: &Edit,
        editor: &Editor,
        now_ms: i64,
    ) -> Result<ChangeHash, ApplyError> {
        let mut plan = self.plan()?;
        let touched = edit.apply_to(&mut plan, editor, now_ms)?;
        let result = touched
            .iter()
            .copied()
            .chain(["last_updated"])
            .try_for_each(|prop| reconcile_field(&mut self.doc, &plan, prop));
        if let Err(e) = result {
            self.doc.rollback();
            return Err(DocError::Schema(e.to_string()).into());
        }
        // An edit that changes nothing (the same value set again) still records who
        // confirmed it, through `last_updated`, so there is always a change to commit.
        Ok(commit(&mut self.doc, editor, now_ms))
    }

    /// Compacted save of the whole document.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    pub fn actor(&self) -> &ActorId {
        self.doc.get_actor()
    }

    /// The underlying Automerge document, for the sync engine and storage adapters.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
}

fn reconcile_field(
    doc: &mut AutoCommit,
    plan: &CarePlan,
    prop: &str,
) -> Result<(), autosurgeon::ReconcileError> {
    match prop {
        "patient" => reconcile_prop(doc, ROOT, "patient", &plan.patient),
        "consent" => reconcile_prop(doc, ROOT, "consent", &plan.consent),
        "conditions" => reconcile_prop(doc, ROOT, "conditions", &plan.conditions),
        "medications" => reconcile_prop(doc, ROOT, "medications", &plan.medications),
        "key_contacts" => reconcile_prop(doc, ROOT, "key_contacts", &plan.key_contacts),
        "dnacpr" => reconcile_prop(doc, ROOT, "dnacpr", plan.dnacpr),
        "preferred_place_of_care" => reconcile_prop(
            doc,
            ROOT,
            "preferred_place_of_care",
            &plan.preferred_place_of_care,
        ),
        "exacerbation_plan" => {
            reconcile_prop(doc, ROOT, "exacerbation_plan", &plan.exacerbation_plan)
        }
        "baseline" => reconcile_prop(doc, ROOT, "baseline", &plan.baseline),
        "last_updated" => reconcile_prop(doc, ROOT, "last_updated", &plan.last_updated),
        other => unreachable!("edit touched unknown plan field {other}"),
    }
}

fn commit(doc: &mut AutoCommit, editor: &Editor, now_ms: i64) -> ChangeHash {
    let note = ChangeNote {
        user_id: editor.user_id.clone(),
        user_name: editor.user_name.clone(),
    };
    let message = serde_json::to_string(&note).expect("a change note always serialises");
    let options = CommitOptions::default()
        .with_message(message)
        .with_time(now_ms / 1000);
    match doc.commit_with(options) {
        Some(hash) => hash,
        // Nothing pending means the edit was a no-op; record an empty change so the
        // caller still gets a hash that names this confirmation.
        None => doc.empty_change(
            CommitOptions::default()
                .with_message(serde_json::to_string(&note).expect("serialises"))
                .with_time(now_ms / 1000),
        ),
    }
}
