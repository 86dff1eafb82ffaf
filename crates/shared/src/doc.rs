//! [`PlanDoc`]: one patient's plan as an Automerge document.

use automerge::{ActorId, AutoCommit, ChangeHash, transaction::CommitOptions};

use crate::decision::Conflict;
use crate::edit::{Edit, EditError, Editor};
use crate::plan::{CarePlan, SCHEMA_VERSION};
use crate::schema::{Field, ensure_genesis, read_plan, write_field};

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
    #[error("a care plan has no field {0:?}")]
    UnknownField(String),
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeNote {
    pub user_id: String,
    pub user_name: String,
    /// Milliseconds since the Unix epoch; Automerge's own change time is in seconds.
    /// Absent from changes made before schema version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
}

/// One patient's care plan document.
#[derive(Debug)]
pub struct PlanDoc {
    pub(crate) doc: AutoCommit,
}

impl PlanDoc {
    /// Starts a plan for a patient in a single change authored by `editor` (on top of the
    /// shared genesis change, see [`crate::genesis_change`]).
    pub fn create(
        actor: ActorId,
        new: &NewPlan,
        editor: &Editor,
        now_ms: i64,
    ) -> Result<PlanDoc, ApplyError> {
        let mut doc = AutoCommit::new().with_actor(actor);
        ensure_genesis(&mut doc).map_err(DocError::from)?;
        let mut plan = read_plan(&doc, false)?;
        plan.schema_version = SCHEMA_VERSION;
        let set_patient = Edit::SetPatient {
            nhs_number: new.nhs_number.clone(),
            name: new.name.clone(),
            date_of_birth: new.date_of_birth.clone(),
            address: new.address.clone(),
        };
        let before = plan.clone();
        let mut touched = set_patient.apply_to(&mut plan, editor, now_ms)?;
        // The containers version 1 already had are created here, in the plan's first
        // change, which every replica receives before it can edit: never concurrently.
        touched.extend([
            Field::SchemaVersion,
            Field::Conditions,
            Field::Medications,
            Field::KeyContacts,
            Field::ExacerbationPlan,
            Field::PreferredPlaceOfCare,
        ]);
        let mut created = PlanDoc { doc };
        created.write(&before, &plan, touched)?;
        commit(&mut created.doc, editor, now_ms);
        Ok(created)
    }

    /// An empty document, to be filled by sync.
    pub fn empty(actor: ActorId) -> PlanDoc {
        PlanDoc {
            doc: AutoCommit::new().with_actor(actor),
        }
    }

    /// Loads a saved document (the output of [`PlanDoc::save`], or several concatenated
    /// incremental saves). Documents of an older schema version load and read as they are.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<PlanDoc, DocError> {
        Ok(PlanDoc {
            doc: AutoCommit::load(bytes)?.with_actor(actor),
        })
    }

    /// Whether the document holds anything yet (a device that has not synced it holds nothing).
    pub fn is_empty(&mut self) -> bool {
        self.doc.get_heads().is_empty()
    }

    /// The plan as it stands, with its unresolved conflicts.
    pub fn plan(&self) -> Result<CarePlan, DocError> {
        read_plan(&self.doc, true)
    }

    /// Safety-critical fields that replicas set differently and no one has resolved yet.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, DocError> {
        Ok(self.plan()?.conflicts)
    }

    /// The plan as `edits` would leave it, validated as [`PlanDoc::apply_all`] validates
    /// them, without writing anything: what a print of the yellow pages made in the same
    /// visit would say, for instance.
    pub fn preview(
        &self,
        edits: &[Edit],
        editor: &Editor,
        now_ms: i64,
    ) -> Result<CarePlan, ApplyError> {
        let mut plan = self.plan()?;
        for edit in edits {
            edit.apply_to(&mut plan, editor, now_ms)?;
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
        self.apply_all(std::slice::from_ref(edit), editor, now_ms)
    }

    /// Validates `edits` in order and records them as one change (a home visit, say), or
    /// records nothing if any is invalid. Upgrades an older plan in the same change.
    pub fn apply_all(
        &mut self,
        edits: &[Edit],
        editor: &Editor,
        now_ms: i64,
    ) -> Result<ChangeHash, ApplyError> {
        let mut plan = self.plan()?;
        let mut before = plan.clone();
        let migrating = plan.schema_version < SCHEMA_VERSION;
        let mut touched = Vec::new();
        for edit in edits {
            touched.extend(edit.apply_to(&mut plan, editor, now_ms)?);
        }
        if migrating {
            // The edits are valid, so the upgrade can go ahead: add the new containers,
            // then apply the edits again on top of them (the first pass wrote nothing).
            ensure_genesis(&mut self.doc).map_err(DocError::from)?;
            plan = self.plan()?;
            before = plan.clone();
            touched.clear();
            for edit in edits {
                touched.extend(edit.apply_to(&mut plan, editor, now_ms)?);
            }
            plan.schema_version = SCHEMA_VERSION;
            touched.push(Field::SchemaVersion);
        }
        self.write(&before, &plan, touched)?;
        // An edit that changes nothing (the same value set again) still records who
        // confirmed it, through `last_updated`, so there is always a change to commit.
        Ok(commit(&mut self.doc, editor, now_ms))
    }

    /// Upgrades an older plan to this build's schema version in one change, if needed.
    pub fn migrate(
        &mut self,
        editor: &Editor,
        now_ms: i64,
    ) -> Result<Option<ChangeHash>, DocError> {
        let plan = self.plan()?;
        if plan.schema_version >= SCHEMA_VERSION {
            return Ok(None);
        }
        ensure_genesis(&mut self.doc)?;
        let before = self.plan()?;
        let mut plan = before.clone();
        plan.schema_version = SCHEMA_VERSION;
        self.write(&before, &plan, vec![Field::SchemaVersion])?;
        Ok(Some(commit(&mut self.doc, editor, now_ms)))
    }

    fn write(
        &mut self,
        before: &CarePlan,
        plan: &CarePlan,
        mut fields: Vec<Field>,
    ) -> Result<(), DocError> {
        fields.sort();
        fields.dedup();
        let result = fields
            .into_iter()
            .try_for_each(|field| write_field(&mut self.doc, before, plan, field));
        if let Err(e) = result {
            self.doc.rollback();
            return Err(DocError::Schema(e.to_string()));
        }
        Ok(())
    }

    /// Compacted save of the whole document.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Compacted save of the whole document without Automerge's per-column DEFLATE: what
    /// the server stores. It is about three times larger alone, but a batch of them
    /// compresses to about a quarter of a batch of [`PlanDoc::save`]s, because a compressor
    /// that sees many documents at once finds what they share (field names, clinicians,
    /// phrasing), which per-column compression hides. See docs/benchmarks.md.
    pub fn save_uncompressed(&mut self) -> Vec<u8> {
        self.doc.save_nocompress()
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

fn commit(doc: &mut AutoCommit, editor: &Editor, now_ms: i64) -> ChangeHash {
    let note = ChangeNote {
        user_id: editor.user_id.clone(),
        user_name: editor.user_name.clone(),
        at_ms: Some(now_ms),
    };
    let message = serde_json::to_string(&note).expect("a change note always serialises");
    let options = || {
        CommitOptions::default()
            .with_message(message.clone())
            .with_time(now_ms.div_euclid(1000))
    };
    match doc.commit_with(options()) {
        Some(hash) => hash,
        // Nothing pending means the edit was a no-op; record an empty change so the
        // caller still gets a hash that names this confirmation.
        None => doc.empty_change(options()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DnacprStatus, EntryList, emergency_summary};

    const NOW: i64 = 1_795_960_800_000; // 2026-11-29

    fn editor(n: u8) -> Editor {
        Editor {
            user_id: format!("u{n}"),
            user_name: format!("Nurse {n}"),
        }
    }

    fn new_plan() -> PlanDoc {
        let new = NewPlan {
            nhs_number: "943 476 5919".into(),
            name: "Ada Example".into(),
            date_of_birth: "1938-02-28".into(),
            address: "1 High Street".into(),
        };
        PlanDoc::create(ActorId::from(b"server".as_slice()), &new, &editor(0), NOW).unwrap()
    }

    fn fork(doc: &mut PlanDoc, actor: &str) -> PlanDoc {
        PlanDoc {
            doc: doc.doc.fork().with_actor(ActorId::from(actor.as_bytes())),
        }
    }

    #[test]
    fn create_stores_the_checked_identity() {
        let plan = new_plan().plan().unwrap();
        assert_eq!(plan.patient.nhs_number, "9434765919");
        assert_eq!(plan.schema_version, SCHEMA_VERSION);
        assert_eq!(plan.last_updated.unwrap().user_name, "Nurse 0");
    }

    #[test]
    fn invalid_edits_are_refused_and_change_nothing() {
        let mut doc = new_plan();
        let heads = doc.heads();
        let patient = |nhs: &str, dob: &str, name: &str| Edit::SetPatient {
            nhs_number: nhs.into(),
            name: name.into(),
            date_of_birth: dob.into(),
            address: String::new(),
        };
        let baseline = |pulse, sys, dia| Edit::SetBaseline {
            pulse_bpm: pulse,
            systolic_mmhg: sys,
            diastolic_mmhg: dia,
            respiratory_rate: None,
            spo2_percent: None,
            temperature_decidegrees: None,
        };
        let cases: Vec<(Edit, &str)> = vec![
            (
                patient("9434765918", "1938-02-28", "A"),
                "invalid NHS number: the check digit of this NHS number is wrong",
            ),
            (
                patient("9434765919", "2030-01-01", "A"),
                "date of birth cannot be in the future",
            ),
            (
                patient("9434765919", "28/02/1938", "A"),
                "date of birth must be a date written YYYY-MM-DD, not \"28/02/1938\"",
            ),
            (
                patient("9434765919", "1938-02-28", "  "),
                "name is required",
            ),
            (
                baseline(Some(400), None, None),
                "pulse of 400 is outside the plausible range 20–250",
            ),
            (
                baseline(None, Some(80), Some(90)),
                "diastolic pressure must be below systolic",
            ),
            (
                Edit::AddMedication {
                    id: String::new(),
                    name: "x".into(),
                    dose: String::new(),
                    notes: String::new(),
                },
                "id is required",
            ),
            (
                Edit::MarkEnteredInError {
                    list: EntryList::Medications,
                    id: "nope".into(),
                },
                "no entry with id \"nope\"",
            ),
            (
                Edit::SpliceExacerbationPlan {
                    index: 5,
                    delete: 0,
                    insert: "x".into(),
                },
                "the text splice at 5 (deleting 0) is outside the text or splits a character",
            ),
        ];
        for (edit, message) in cases {
            let err = doc.apply(&edit, &editor(1), NOW).unwrap_err();
            assert_eq!(err.to_string(), message);
            assert_eq!(doc.heads(), heads, "{edit:?} changed the document");
        }
    }

    #[test]
    fn duplicate_ids_and_double_marking_are_refused() {
        let mut doc = new_plan();
        let add = Edit::AddMedication {
            id: "m1".into(),
            name: "Furosemide".into(),
            dose: "40 mg".into(),
            notes: String::new(),
        };
        doc.apply(&add, &editor(1), NOW).unwrap();
        assert!(matches!(
            doc.apply(&add, &editor(1), NOW),
            Err(ApplyError::Invalid(EditError::DuplicateId(_)))
        ));
        let mark = Edit::MarkEnteredInError {
            list: EntryList::Medications,
            id: "m1".into(),
        };
        doc.apply(&mark, &editor(1), NOW).unwrap();
        assert!(matches!(
            doc.apply(&mark, &editor(1), NOW),
            Err(ApplyError::Invalid(EditError::AlreadyEnteredInError(_)))
        ));
        // Marked, not deleted: the entry is still in the plan but not in the summary.
        let plan = doc.plan().unwrap();
        assert_eq!(plan.medications.len(), 1);
        assert_eq!(
            plan.medications[0]
                .entered_in_error
                .as_ref()
                .unwrap()
                .by
                .user_id,
            "u1"
        );
        assert!(emergency_summary(&plan).medications.is_empty());
    }

    #[test]
    fn concurrent_list_and_field_edits_all_survive_a_merge() {
        let mut base = new_plan();
        base.apply(
            &Edit::SetExacerbationPlan {
                text: "Start rescue pack. Call matron.".into(),
            },
            &editor(0),
            NOW,
        )
        .unwrap();
        let mut a = fork(&mut base, "tablet-a");
        let mut b = fork(&mut base, "tablet-b");
        let med = |id: &str| Edit::AddMedication {
            id: id.into(),
            name: id.into(),
            dose: String::new(),
            notes: String::new(),
        };
        a.apply(&med("from-a"), &editor(1), NOW + 1).unwrap();
        b.apply(&med("from-b"), &editor(2), NOW + 1).unwrap();
        a.apply(
            &Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
            &editor(1),
            NOW + 2,
        )
        .unwrap();
        b.apply(
            &Edit::SetPreferredPlaceOfCare {
                place: "Home".into(),
            },
            &editor(2),
            NOW + 2,
        )
        .unwrap();
        // Both type into the same text at different places.
        a.apply(
            &Edit::SetExacerbationPlan {
                text: "If breathless: Start rescue pack. Call matron.".into(),
            },
            &editor(1),
            NOW + 3,
        )
        .unwrap();
        b.apply(
            &Edit::SpliceExacerbationPlan {
                index: 31,
                delete: 0,
                insert: " Then GP.".into(),
            },
            &editor(2),
            NOW + 3,
        )
        .unwrap();
        a.doc.merge(&mut b.doc).unwrap();
        b.doc.merge(&mut a.doc).unwrap();
        let (pa, pb) = (a.plan().unwrap(), b.plan().unwrap());
        assert_eq!(pa, pb);
        let ids: Vec<&str> = pa.medications.iter().map(|m| m.id.as_str()).collect();
        assert!(
            ids.contains(&"from-a") && ids.contains(&"from-b"),
            "{ids:?}"
        );
        assert_eq!(pa.dnacpr, DnacprStatus::DoNotAttemptCpr);
        assert_eq!(pa.preferred_place_of_care, "Home");
        assert_eq!(
            pa.exacerbation_plan.as_str(),
            "If breathless: Start rescue pack. Call matron. Then GP."
        );
    }

    #[test]
    fn saved_documents_load_with_their_content() {
        let mut doc = new_plan();
        doc.apply(
            &Edit::SetConsent {
                share_with_mdt: true,
                share_with_emergency_services: true,
            },
            &editor(1),
            NOW,
        )
        .unwrap();
        let loaded = PlanDoc::load(&doc.save(), ActorId::random()).unwrap();
        let consent = loaded.plan().unwrap().consent;
        assert!(consent.share_with_emergency_services);
        assert_eq!(consent.recorded.unwrap().user_id, "u1");
        assert!(matches!(
            PlanDoc::empty(ActorId::random()).plan(),
            Err(DocError::Empty)
        ));
        assert!(PlanDoc::load(b"not automerge", ActorId::random()).is_err());
    }
}
