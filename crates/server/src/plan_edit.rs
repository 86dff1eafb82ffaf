//! Changes the server makes to a plan on a user's behalf over HTTP (advice a specialist
//! adds in a virtual clinic, say), committed exactly as a device's changes are: made by an
//! actor of their own bound to the caller's device, applied to a copy, validated and
//! projected, committed with their audit entries in one transaction, then announced to
//! every connected device and, where the summary changed, to the emergency feed.

use redfolder_shared::{ActorId, Edit, Editor, PlanDoc};

use crate::access::PlanAccess;
use crate::audit::AuditEvent;
use crate::commit::{self, Outcome, Submission};
use crate::domain::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use crate::sync::DocCache;

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

/// Applies `edits` to plan `patient_id` as `principal`, acting as `access`, and commits
/// them with `audit` through the one commit path. Access must have been checked by the
/// caller.
pub(crate) async fn apply_edits(
    state: &AppState,
    principal: &Principal,
    access: PlanAccess,
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
    let actors = [actor.to_hex_string()];
    let submission = Submission {
        principal,
        access,
        doc_id: patient_id,
        before: &before,
        actors: &actors,
        audit,
        origin: state.next_connection_id(),
        now_ms: now,
    };
    let (_doc, outcome) = commit::commit(state, doc, candidate, &submission).await?;
    match outcome {
        Outcome::Committed => Ok(Applied::Committed),
        Outcome::Failed(e) => Err(ApiError::Internal(e)),
        Outcome::Refused { message } => Ok(Applied::Refused(message)),
        Outcome::NoSuchPlan => Ok(Applied::NoSuchPlan),
        Outcome::ActorTaken(_) => Err(ApiError::Conflict(
            "the plan changed at the same moment: try again".to_owned(),
        )),
    }
}
