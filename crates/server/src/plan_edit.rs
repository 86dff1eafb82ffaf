//! Changes the server makes to a plan on a user's behalf over HTTP (advice a specialist
//! adds in a virtual clinic, say), committed exactly as a device's changes are: made by an
//! actor of their own bound to the caller's device, applied to a copy, validated and
//! projected, committed with their audit entries in one transaction, then announced to
//! every connected device and, where the summary changed, to the emergency feed.

use redfolder_shared::{ActorId, Edit, Editor, PlanDoc};

use crate::audit::AuditEvent;
use crate::domain::{Committer, Principal, project, server_actor};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{CommitOutcome, CommitRequest};
use crate::sync::{DocCache, DocNotice};

/// What became of a set of edits.
#[derive(Debug)]
pub(crate) enum Applied {
    /// Committed; devices have been told.
    Committed,
    /// The plan refused an edit (the reason is the core's); nothing was stored.
    Refused(String),
    /// No plan with that id.
    NoSuchPlan,
}

/// Applies `edits` to plan `patient_id` as `principal` and commits them with `audit`.
/// Access must have been checked by the caller.
pub(crate) async fn apply_edits(
    state: &AppState,
    principal: &Principal,
    patient_id: &str,
    edits: &[Edit],
    audit: &[AuditEvent],
    now: i64,
) -> Result<Applied, ApiError> {
    let user = &principal.user;
    let editor = Editor {
        user_id: user.id.clone(),
        user_name: user.name.clone(),
    };
    let committer = Committer {
        user_id: user.id.clone(),
        name: user.name.clone(),
        organisation: user.organisation_name.clone(),
    };
    let Some(mut doc) = state.docs().lock(state.store(), patient_id).await? else {
        return Ok(Applied::NoSuchPlan);
    };
    DocCache::refresh(state.store(), &mut doc).await?;
    let actor_bytes = *uuid::Uuid::new_v4().as_bytes();
    let actor = ActorId::from(actor_bytes.as_slice());
    let before = doc.doc.heads();
    let mut candidate = PlanDoc::empty(actor.clone());
    *candidate.automerge() = doc.doc.automerge().clone();
    candidate.automerge().set_actor(actor.clone());
    if let Err(e) = candidate.apply_all(edits, &editor, now) {
        return Ok(Applied::Refused(e.to_string()));
    }
    let projection = project(&mut candidate)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("an edited plan is not valid: {e}")))?;
    let changes = candidate.automerge().save_after(&before);
    let actors = [actor.to_hex_string()];
    let request = CommitRequest {
        doc_id: patient_id,
        seen_chunk_id: doc.last_chunk_id,
        changes: &changes,
        actors: &actors,
        device_id: &principal.device_id,
        user_id: &user.id,
        committer: &committer,
        audit,
        now_ms: now,
    };
    let outcome = state
        .store()
        .commit_changes(&request, |foreign| {
            if foreign.is_empty() {
                return Ok(projection);
            }
            for chunk in foreign {
                candidate.automerge().load_incremental(&chunk.data)?;
            }
            project(&mut candidate)
                .map_err(|e| anyhow::anyhow!("the merged plan is not valid: {e}"))
        })
        .await?;
    match outcome {
        CommitOutcome::Committed {
            last_chunk_id,
            chunks,
            fed,
        } => {
            candidate.automerge().set_actor(server_actor());
            doc.doc = candidate;
            doc.last_chunk_id = last_chunk_id;
            doc.chunks = chunks;
            drop(doc);
            state.notify(DocNotice {
                doc_id: patient_id.into(),
                origin: state.next_connection_id(),
            });
            if fed {
                state.feed_changed();
            }
            Ok(Applied::Committed)
        }
        CommitOutcome::NoSuchPlan => Ok(Applied::NoSuchPlan),
        CommitOutcome::ActorTaken(_) => Err(ApiError::Conflict(
            "the plan changed at the same moment: try again".to_owned(),
        )),
    }
}
