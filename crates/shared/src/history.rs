//! Who changed what, when, and what a plan said at any past moment.
//!
//! Every change carries a [`ChangeNote`] naming the signed-in user (see `doc.rs`), so the
//! Automerge history doubles as the plan's audit trail: [`PlanDoc::history`] lists the
//! changes with the top-level fields each touched, [`PlanDoc::field_history`] answers
//! "who changed this field, when, from what", and [`PlanDoc::plan_as_of`] rebuilds the plan
//! as it stood at a given time.
//!
//! Automerge does not authenticate actor ids, so attribution is only as good as the binding
//! of each device's actor to its signed-in user. [`PlanDoc::unbound_changes`] is the check
//! a server applies to what a connection submits; [`PlanDoc::attribution_problems`] audits a
//! whole document.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use automerge::{AutoCommit, Change, ChangeHash, ObjId as ExId, Prop, ROOT, ReadDoc};
use serde::{Serialize, Serializer};

use crate::doc::{ChangeNote, DocError, PlanDoc};
use crate::plan::{Attribution, CarePlan};
use crate::schema::{genesis_change, read_plan};

/// One change in a plan's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    #[serde(serialize_with = "hex")]
    pub hash: ChangeHash,
    /// The device actor, in hex.
    pub actor: String,
    /// `None` for the genesis change, which no user makes.
    pub by: Option<Attribution>,
    /// Top-level document keys the change wrote, e.g. `["medications", "last_updated"]`.
    pub fields: Vec<String>,
}

/// One change to one field: who, when, and the value before and after, as the plan's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    #[serde(serialize_with = "hex")]
    pub hash: ChangeHash,
    pub by: Option<Attribution>,
    /// The field as its author saw it just before (null if the plan did not exist yet).
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// A change whose author cannot be trusted or determined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum AttributionProblem {
    /// The change carries no readable [`ChangeNote`].
    Unattributed {
        #[serde(serialize_with = "hex")]
        hash: ChangeHash,
    },
    /// One actor made changes in the names of several users, so none of them is certain.
    SharedActor {
        actor: String,
        user_ids: Vec<String>,
    },
}

fn hex<S: Serializer>(hash: &ChangeHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hash.to_string())
}

/// The note a change carries, if it is one of ours.
pub fn change_note(change: &Change) -> Option<ChangeNote> {
    serde_json::from_str(change.message()?).ok()
}

pub(crate) fn attribution_of(change: &Change) -> Option<Attribution> {
    let note = change_note(change)?;
    Some(Attribution {
        user_id: note.user_id,
        user_name: note.user_name,
        at_ms: note
            .at_ms
            .unwrap_or_else(|| change.timestamp().saturating_mul(1000)),
    })
}

/// Who wrote the operation `id`, from its change's note.
pub(crate) fn author_of_op(doc: &AutoCommit, id: &ExId) -> Attribution {
    doc.hash_for_opid(id)
        .and_then(|h| ReadDoc::get_change_by_hash(doc, &h))
        .and_then(|c| attribution_of(&c))
        .unwrap_or_else(|| Attribution {
            user_id: String::new(),
            user_name: "unknown".to_owned(),
            at_ms: 0,
        })
}

/// The document key behind a field of the plan's JSON (most are the same).
fn doc_key(field: &str) -> Option<&'static str> {
    const KEYS: &[&str] = &[
        "schema_version",
        "patient",
        "enrolment",
        "care_team",
        "key_contacts",
        "conditions",
        "medications",
        "allergies",
        "allergy_status",
        "baseline",
        "exacerbation_plan",
        "escalation_plans",
        "goals",
        "self_management_advice",
        "equipment_and_services",
        "dnacpr",
        "adrt",
        "focus_of_care",
        "ceiling_of_treatment",
        "admission_wanted",
        "preferred_place_of_care",
        "preferred_place_of_death",
        "reviews",
        "mdt_discussions",
        "advice",
        "consent",
        "last_updated",
        "no_wider_action",
        "gp_meeting",
        "mental_health_assessment",
    ];
    if field == "resuscitation" {
        return Some("dnacpr");
    }
    KEYS.iter().copied().find(|k| *k == field)
}

impl PlanDoc {
    /// Every change, oldest first (dependencies before dependants).
    pub fn history(&mut self) -> Vec<ChangeRecord> {
        let changes = self.doc.get_changes(&[]);
        changes
            .iter()
            .map(|c| ChangeRecord {
                hash: c.hash(),
                actor: c.actor_id().to_hex_string(),
                by: attribution_of(c),
                fields: self.fields_written(c).into_iter().collect(),
            })
            .collect()
    }

    /// Each change that wrote `field` (a key of the plan's JSON, e.g. `"resuscitation"`,
    /// `"medications"`), oldest first, with the value before and after it.
    pub fn field_history(&mut self, field: &str) -> Result<Vec<FieldChange>, DocError> {
        let key = doc_key(field).ok_or_else(|| DocError::UnknownField(field.to_owned()))?;
        let changes = self.doc.get_changes(&[]);
        let mut out = Vec::new();
        for c in &changes {
            if !self.fields_written(c).contains(key) {
                continue;
            }
            let value = |plan: Result<CarePlan, DocError>| -> Result<serde_json::Value, DocError> {
                match plan {
                    Ok(plan) => Ok(serde_json::to_value(&plan)
                        .expect("a plan always serialises")
                        .get(field)
                        .cloned()
                        .unwrap_or_default()),
                    Err(DocError::Empty) => Ok(serde_json::Value::Null),
                    Err(e) => Err(e),
                }
            };
            let before = if c.deps().is_empty() {
                serde_json::Value::Null
            } else {
                value(self.plan_at(c.deps()))?
            };
            let after = value(self.plan_at(&[c.hash()]))?;
            out.push(FieldChange {
                hash: c.hash(),
                by: attribution_of(c),
                before,
                after,
            });
        }
        Ok(out)
    }

    /// The plan as it stood at `heads` (for example a version the server acknowledged).
    pub fn plan_at(&mut self, heads: &[ChangeHash]) -> Result<CarePlan, DocError> {
        let past = self.doc.fork_at(heads)?;
        read_plan(&past, true)
    }

    /// The plan as it stood at `at_ms`: every change made at or before that moment (by its
    /// author's clock) together with what it built on.
    pub fn plan_as_of(&mut self, at_ms: i64) -> Result<CarePlan, DocError> {
        let changes = self.doc.get_changes(&[]);
        let mut included: HashSet<ChangeHash> = HashSet::new();
        let mut heads: BTreeSet<ChangeHash> = BTreeSet::new();
        for c in &changes {
            let at = attribution_of(c).map_or(0, |a| a.at_ms);
            if at <= at_ms && c.deps().iter().all(|d| included.contains(d)) {
                included.insert(c.hash());
                for d in c.deps() {
                    heads.remove(d);
                }
                heads.insert(c.hash());
            }
        }
        if heads.is_empty() {
            return Err(DocError::Empty);
        }
        let heads: Vec<ChangeHash> = heads.into_iter().collect();
        self.plan_at(&heads)
    }

    /// Changes after `since` that were not made by `actor` in the name of `user_id`: what
    /// a server refuses from a connection bound to that device and user. The genesis
    /// change is the same for everyone and never counts.
    pub fn unbound_changes(
        &mut self,
        since: &[ChangeHash],
        actor: &automerge::ActorId,
        user_id: &str,
    ) -> Vec<ChangeHash> {
        let genesis = genesis_change().hash();
        self.doc
            .get_changes(since)
            .iter()
            .filter(|c| c.hash() != genesis)
            .filter(|c| {
                c.actor_id() != actor || change_note(c).is_none_or(|n| n.user_id != user_id)
            })
            .map(|c| c.hash())
            .collect()
    }

    /// Changes without a readable author, and actors that acted for more than one user.
    pub fn attribution_problems(&mut self) -> Vec<AttributionProblem> {
        let genesis = genesis_change().hash();
        let mut problems = Vec::new();
        let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in self.doc.get_changes(&[]) {
            if c.hash() == genesis {
                continue;
            }
            match change_note(&c) {
                None => problems.push(AttributionProblem::Unattributed { hash: c.hash() }),
                Some(n) => {
                    users
                        .entry(c.actor_id().to_hex_string())
                        .or_default()
                        .insert(n.user_id);
                }
            }
        }
        problems.extend(
            users
                .into_iter()
                .filter(|(_, u)| u.len() > 1)
                .map(|(actor, u)| AttributionProblem::SharedActor {
                    actor,
                    user_ids: u.into_iter().collect(),
                }),
        );
        problems
    }

    /// Top-level keys a change wrote, from the difference it made to its own parents.
    pub(crate) fn fields_written(&mut self, c: &Change) -> BTreeSet<String> {
        let patches = self.doc.diff(c.deps(), &[c.hash()]);
        patches
            .iter()
            .filter_map(|p| match p.path.first() {
                Some((_, Prop::Map(key))) => Some(key.clone()),
                Some(_) => None,
                None if p.obj == ROOT => match &p.action {
                    automerge::PatchAction::PutMap { key, .. }
                    | automerge::PatchAction::DeleteMap { key } => Some(key.clone()),
                    automerge::PatchAction::Conflict {
                        prop: Prop::Map(key),
                    } => Some(key.clone()),
                    _ => None,
                },
                None => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
