//! The one way a plan changes on the server.
//!
//! Every entry point — a device's sync, an HTTP edit such as a specialist's clinic advice,
//! a FHIR import — builds a *candidate*: a copy of the committed document with the new
//! changes applied. [`commit`] then
//!
//! 1. checks the changes against every rule of the plan with the shared core's
//!    [`redfolder_shared::check`] (the same code the tablet runs), from the plan as the
//!    submitter saw it before and after;
//! 2. projects the candidate (caseload row, emergency summary), refusing a document that no
//!    longer reads as a plan;
//! 3. commits changes, projections and audit entries in one transaction, in which the store
//!    refuses an NHS number another live plan holds;
//! 4. only then adopts the candidate into the cache and announces it to devices and, where
//!    the summary changed, to the emergency feed.
//!
//! A refusal stores nothing and is audited with its rule; the caller tells the submitter
//! in its own transport's words.

use redfolder_shared::check::{self, Submitter};
use redfolder_shared::{ChangeHash, PlanDoc};

use crate::access::PlanAccess;
use crate::audit::{AuditEvent, action};
use crate::domain::{Committer, Principal, project, server_actor};
use crate::state::AppState;
use crate::store::{CommitOutcome, CommitRequest, NhsHolder, Projection};
use crate::sync::{DocGuard, DocNotice, offload};

/// Changes to commit to one plan, and who submits them.
#[derive(Debug)]
pub(crate) struct Submission<'a> {
    pub principal: &'a Principal,
    pub access: PlanAccess,
    pub doc_id: &'a str,
    /// The heads of the committed document the candidate was built on.
    pub before: &'a [ChangeHash],
    /// Actors (hex) of the changes to bind to the principal's device with the commit.
    pub actors: &'a [String],
    /// Audit entries committed with the changes.
    pub audit: &'a [AuditEvent],
    /// The connection not to tell (it sent the changes); any unused id for HTTP.
    pub origin: u64,
    pub now_ms: i64,
}

/// How a submission ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Stored, adopted by the cache and announced.
    Committed,
    /// A rule refused the changes (its name is in the audit entry and the metrics);
    /// nothing was stored.
    Refused { message: String },
    /// An actor of the changes belongs to another device; nothing was stored.
    ActorTaken(String),
    /// The plan does not exist (any more).
    NoSuchPlan,
    /// Storing failed (the database, say); nothing was stored or acknowledged.
    Failed(anyhow::Error),
}

/// Checks and commits the changes `candidate` holds beyond `sub.before`. `doc` is the
/// cached committed document, locked by the caller, and is handed back with the outcome;
/// after [`Outcome::Committed`] it has become the candidate. An `Err` means the checking
/// work itself failed (a panic): the lock went with it, and nothing was stored.
pub(crate) async fn commit(
    state: &AppState,
    doc: DocGuard,
    candidate: PlanDoc,
    sub: &Submission<'_>,
) -> anyhow::Result<(DocGuard, Outcome)> {
    // The rules and the projection read whole plans: Automerge work, kept off the async
    // workers that also serve emergency reads.
    let who = (
        sub.principal.user.id.clone(),
        sub.access.writer(),
        sub.now_ms,
    );
    let before = sub.before.to_vec();
    let (mut doc, verdict) = offload(move || {
        let verdict = judge(&doc, candidate, &before, &who);
        (doc, verdict)
    })
    .await?;
    let outcome = match verdict {
        Err(e) => Outcome::Failed(e),
        Ok(Verdict::Refused {
            rule,
            message,
            hashes,
        }) => {
            audit_refusal(
                state,
                sub.principal,
                sub.access,
                sub.doc_id,
                rule,
                &message,
                &hashes,
            )
            .await;
            Outcome::Refused { message }
        }
        Ok(Verdict::Accepted {
            candidate,
            projection,
            changes,
            hashes,
        }) => match store(
            state,
            &mut doc,
            *candidate,
            *projection,
            (&changes, &hashes),
            sub,
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(e),
        },
    };
    Ok((doc, outcome))
}

/// What the rules made of a submission.
enum Verdict {
    Accepted {
        candidate: Box<PlanDoc>,
        projection: Box<Projection>,
        /// The new changes, as an incremental save.
        changes: Vec<u8>,
        hashes: Vec<String>,
    },
    Refused {
        rule: &'static str,
        message: String,
        hashes: Vec<String>,
    },
}

/// The shared core's rules and the projection, on the blocking pool.
fn judge(
    doc: &DocGuard,
    mut candidate: PlanDoc,
    before: &[ChangeHash],
    (user_id, writer, now_ms): &(String, check::Writer, i64),
) -> anyhow::Result<Verdict> {
    let changes = candidate.automerge().get_changes(before);
    let hashes: Vec<String> = changes.iter().map(|c| c.hash().to_string()).collect();
    let committed_plan = doc
        .doc
        .plan()
        .map_err(|e| anyhow::anyhow!("reading a committed plan: {e}"))?;
    let who = Submitter {
        user_id,
        writer: *writer,
        now_ms: *now_ms,
    };
    if let Err(v) = check::check_submission(&mut candidate, before, &committed_plan, &changes, &who)
    {
        return Ok(Verdict::Refused {
            rule: v.rule.label(),
            message: v.message,
            hashes,
        });
    }
    match project(&mut candidate) {
        Ok(projection) => {
            let changes = candidate.automerge().save_after(before);
            Ok(Verdict::Accepted {
                candidate: Box::new(candidate),
                projection: Box::new(projection),
                changes,
                hashes,
            })
        }
        Err(e) => Ok(Verdict::Refused {
            rule: check::Rule::Schema.label(),
            message: format!("the changes would leave a plan that is not valid: {e}"),
            hashes,
        }),
    }
}

/// Commits accepted changes with their projection and audit entries, then adopts and
/// announces them; the store may still refuse the NHS number.
async fn store(
    state: &AppState,
    doc: &mut DocGuard,
    mut candidate: PlanDoc,
    projection: Projection,
    (changes, hashes): (&[u8], &[String]),
    sub: &Submission<'_>,
) -> anyhow::Result<Outcome> {
    let user = &sub.principal.user;
    let committer = Committer {
        user_id: user.id.clone(),
        name: user.name.clone(),
        organisation: user.organisation_name.clone(),
    };
    let request = CommitRequest {
        doc_id: sub.doc_id,
        seen_chunk_id: doc.last_chunk_id,
        changes,
        actors: sub.actors,
        device_id: &sub.principal.device_id,
        user_id: &user.id,
        committer: &committer,
        audit: sub.audit,
        now_ms: sub.now_ms,
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
            state.metrics().commit();
            // Only now, with the change durable, may anyone hear of it.
            state.notify(DocNotice {
                doc_id: sub.doc_id.into(),
                origin: sub.origin,
            });
            if fed {
                state.feed_changed();
            }
            Ok(Outcome::Committed)
        }
        CommitOutcome::NhsNumberTaken(holder) => {
            let message = nhs_number_taken(&holder, &user.organisation_id);
            audit_refusal(
                state,
                sub.principal,
                sub.access,
                sub.doc_id,
                check::Rule::Identity.label(),
                &message,
                hashes,
            )
            .await;
            Ok(Outcome::Refused { message })
        }
        CommitOutcome::ActorTaken(actor) => Ok(Outcome::ActorTaken(actor)),
        CommitOutcome::NoSuchPlan => Ok(Outcome::NoSuchPlan),
    }
}

/// Why a plan cannot take an NHS number another live plan holds, in words that tell the
/// submitter no more than they may know: their own practice's plan they may find; another
/// practice's plan only where the patient's consent already lets the emergency route say a
/// summary exists.
pub(crate) fn nhs_number_taken(holder: &NhsHolder, organisation_id: &str) -> String {
    if holder.organisation_id == organisation_id {
        format!(
            "another plan at your practice (patient {}) already has this NHS number; a patient has one plan",
            holder.patient_id
        )
    } else if holder.emergency_consent {
        "a plan for this NHS number is held by another practice; ask them to transfer it rather than start a second".to_owned()
    } else {
        "this NHS number cannot be given to this plan; if it is right, ask the service desk"
            .to_owned()
    }
}

/// Records a refused submission in the audit log. A failure to audit is logged, never
/// turned into an answer: the submitter's refusal stands either way.
pub(crate) async fn audit_refusal(
    state: &AppState,
    principal: &Principal,
    access: PlanAccess,
    doc_id: &str,
    rule: &'static str,
    message: &str,
    hashes: &[String],
) {
    tracing::warn!(doc_id, rule, "refused a change");
    state.metrics().refusal(rule);
    let event = AuditEvent::new(
        crate::domain::now_ms(),
        action::PLAN_WRITE,
        access.purpose(),
        "refused",
    )
    .by(principal, access.role())
    .patient(doc_id)
    .detail(format!(
        "{rule}: {message} ({} change(s): {})",
        hashes.len(),
        hashes.join(",")
    ));
    if let Err(e) = state.store().record_audit(&[event]).await {
        tracing::error!(error = format!("{e:#}"), "could not audit a refusal");
    }
}
