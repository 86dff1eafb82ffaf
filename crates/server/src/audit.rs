//! The audit log: who read or wrote what about which patient, hash-chained so that an
//! altered, removed or reordered entry is detected by [`Verifier`].
//!
//! Entry `n`'s hash is SHA-256 over a version tag, entry `n − 1`'s hash and every field
//! of entry `n` (length-prefixed, so no two different entries encode alike). The first
//! entry links to [`GENESIS`]. The chain's head (last number and hash) is kept in the
//! `sequences` table, so removing entries from the end is detected too. Someone who can
//! rewrite the whole table can also recompute the chain: record the head that `redfolder
//! audit verify` prints somewhere else and compare (`--expect-head`).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::{Principal, Role};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done, as the `action` column names it.
pub mod action {
    /// A plan document was opened for sync on a connection (once per document per connection).
    pub const PLAN_SYNC: &str = "plan.sync";
    /// Changes to a plan were submitted over sync (accepted or refused).
    pub const PLAN_WRITE: &str = "plan.write";
    /// A caseload listing showed this patient.
    pub const CASELOAD: &str = "caseload.list";
    pub const SUMMARY: &str = "emergency.summary";
    pub const FEED: &str = "emergency.feed";
    pub const ACCESS_LOG: &str = "patient.access_log";
    pub const CARE_TEAM_READ: &str = "care_team.read";
    /// A printed paper copy's code was checked against the plan.
    pub const PAPER_COPY_CHECK: &str = "patient.paper_copy_check";
    /// The server signed a print of the yellow pages.
    pub const PAPER_COPY_SIGN: &str = "patient.paper_copy_sign";
    pub const CARE_TEAM_CHANGE: &str = "care_team.change";
    pub const REPORT: &str = "report.read";
    pub const LOGIN: &str = "auth.login";
    pub const REFRESH: &str = "auth.refresh";
    pub const LOGOUT: &str = "auth.logout";
    pub const ADMIN: &str = "admin";
    /// A referral was made, or refused (urgent, wrong patient, not a reviewed specialty).
    pub const REFERRAL_CREATE: &str = "referral.create";
    /// A referral, its letter or a list or queue naming it was read.
    pub const REFERRAL_READ: &str = "referral.read";
    /// A step of a referral's review: decision, question, answer, acknowledgement.
    pub const REFERRAL_STEP: &str = "referral.step";
    /// The learning report (no patient in it).
    pub const REFERRAL_REPORT: &str = "referral.report";
    /// Specialties and reviewer assignments were changed.
    pub const REFERRAL_ADMIN: &str = "referral.admin";
    /// A reviewer's education note to a practice was written, or notes were read.
    pub const REFERRAL_EDUCATION: &str = "referral.education";
}

/// Why it was done, as the `purpose` column names it.
pub mod purpose {
    pub const DIRECT_CARE: &str = "direct_care";
    pub const MDT_CARE: &str = "mdt_care";
    pub const EMERGENCY_CARE: &str = "emergency_care";
    pub const COMMISSIONING: &str = "commissioning";
    pub const ADMINISTRATION: &str = "administration";
    pub const AUTHENTICATION: &str = "authentication";
    /// A patient asked (through their case manager) who looked at their record.
    pub const ACCESS_REQUEST: &str = "access_request";
    /// A GP reviewer read or decided another practice's referral (seeds 000, 001).
    pub const PEER_REVIEW: &str = "peer_review";
}

/// One thing to record. Nothing here may hold clinical content: names of fields and
/// change hashes, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub at_ms: i64,
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// The role the user acted in.
    pub role: Option<String>,
    pub organisation_id: Option<String>,
    pub device_id: Option<String>,
    pub patient_id: Option<String>,
    /// What the caller asked for where that is not a patient id: an NHS number as given
    /// (truncated), a username, a feed cursor.
    pub subject: String,
    pub action: String,
    pub purpose: String,
    /// `ok`, `accepted`, `refused`, `denied`, `not_found`, `no_consent`, …
    pub outcome: String,
    pub detail: String,
}

impl AuditEvent {
    /// An event with no one attached yet.
    pub fn new(at_ms: i64, action: &str, purpose: &str, outcome: &str) -> AuditEvent {
        AuditEvent {
            at_ms,
            user_id: None,
            username: None,
            role: None,
            organisation_id: None,
            device_id: None,
            patient_id: None,
            subject: String::new(),
            action: action.to_owned(),
            purpose: purpose.to_owned(),
            outcome: outcome.to_owned(),
            detail: String::new(),
        }
    }

    /// Attributes the event to a signed-in user acting in `role`.
    pub fn by(mut self, principal: &Principal, role: Role) -> AuditEvent {
        self.user_id = Some(principal.user.id.clone());
        self.username = Some(principal.user.username.clone());
        self.role = Some(role.as_str().to_owned());
        self.organisation_id = Some(principal.user.organisation_id.clone());
        self.device_id = Some(principal.device_id.clone());
        self
    }

    pub fn patient(mut self, patient_id: impl Into<String>) -> AuditEvent {
        self.patient_id = Some(patient_id.into());
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> AuditEvent {
        self.subject = subject.into();
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> AuditEvent {
        self.detail = detail.into();
        self
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of entry `seq` holding `event`, linked to `prev`.
pub fn chain_hash(prev: &str, seq: i64, event: &AuditEvent) -> String {
    fn field(hasher: &mut Sha256, value: Option<&str>) {
        match value {
            None => hasher.update(b"~|"),
            Some(v) => {
                hasher.update(v.len().to_string().as_bytes());
                hasher.update(b":");
                hasher.update(v.as_bytes());
                hasher.update(b"|");
            }
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(b"redfolder-audit-v1|");
    field(&mut hasher, Some(prev));
    field(&mut hasher, Some(&seq.to_string()));
    field(&mut hasher, Some(&event.at_ms.to_string()));
    field(&mut hasher, event.user_id.as_deref());
    field(&mut hasher, event.username.as_deref());
    field(&mut hasher, event.role.as_deref());
    field(&mut hasher, event.organisation_id.as_deref());
    field(&mut hasher, event.device_id.as_deref());
    field(&mut hasher, event.patient_id.as_deref());
    field(&mut hasher, Some(&event.subject));
    field(&mut hasher, Some(&event.action));
    field(&mut hasher, Some(&event.purpose));
    field(&mut hasher, Some(&event.outcome));
    field(&mut hasher, Some(&event.detail));
    hex::encode(hasher.finalize())
}

/// Where the chain is broken: the first problem found, walking from the first entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error(
        "entry {expected} is missing: after entry {} the log continues with entry {found} (entries were removed or renumbered)",
        expected - 1
    )]
    Missing { expected: i64, found: i64 },
    #[error(
        "entry {seq} does not follow entry {}: its link to the previous entry is broken (an entry was removed, inserted or reordered)",
        seq - 1
    )]
    Unlinked { seq: i64 },
    #[error("entry {seq} was altered: its contents no longer match its hash")]
    Altered { seq: i64 },
    #[error(
        "the log ends at entry {last} but its head records entry {head}: the entries after {last} were removed"
    )]
    Truncated { last: i64, head: i64 },
    #[error(
        "the log's head does not match its last entry {last}: the head or the entries were rewritten"
    )]
    HeadMismatch { last: i64 },
    #[error("the log's head is {actual}, not the expected {expected}")]
    UnexpectedHead { expected: String, actual: String },
}

impl ChainBreak {
    /// The entry the problem is at.
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Missing { expected, .. } => *expected,
            ChainBreak::Unlinked { seq } | ChainBreak::Altered { seq } => *seq,
            ChainBreak::Truncated { last, .. } | ChainBreak::HeadMismatch { last } => *last + 1,
            ChainBreak::UnexpectedHead { .. } => 0,
        }
    }
}

/// Walks the chain one entry at a time, in `seq` order.
#[derive(Debug)]
pub struct Verifier {
    next_seq: i64,
    prev: String,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            next_seq: 1,
            prev: GENESIS.to_owned(),
        }
    }

    /// Checks the next entry.
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        if record.seq != self.next_seq {
            return Err(ChainBreak::Missing {
                expected: self.next_seq,
                found: record.seq,
            });
        }
        if record.prev_hash != self.prev {
            return Err(ChainBreak::Unlinked { seq: record.seq });
        }
        if chain_hash(&record.prev_hash, record.seq, &record.event) != record.hash {
            return Err(ChainBreak::Altered { seq: record.seq });
        }
        self.next_seq += 1;
        self.prev.clone_from(&record.hash);
        Ok(())
    }

    /// After the last entry: compares with the stored head. Returns the number of entries.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        let last = self.next_seq - 1;
        if head_seq > last {
            return Err(ChainBreak::Truncated {
                last,
                head: head_seq,
            });
        }
        if head_seq != last || head_hash != self.prev {
            return Err(ChainBreak::HeadMismatch { last });
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let event =
                    AuditEvent::new(1000 + seq, action::SUMMARY, purpose::EMERGENCY_CARE, "ok")
                        .patient(format!("p{seq}"));
                let hash = chain_hash(&prev, seq, &event);
                let record = AuditRecord {
                    seq,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                record
            })
            .collect()
    }

    fn verify(records: &[AuditRecord], head: (i64, &str)) -> Result<i64, ChainBreak> {
        let mut v = Verifier::new();
        for r in records {
            v.check(r)?;
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let records = chain(5);
        let head = records.last().unwrap().hash.clone();
        assert_eq!(verify(&records, (5, &head)), Ok(5));
        assert_eq!(verify(&[], (0, GENESIS)), Ok(0));
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let records = chain(5);
        let head = records.last().unwrap().hash.clone();

        let mut altered = records.clone();
        altered[2].event.outcome = "denied".into();
        assert_eq!(
            verify(&altered, (5, &head)),
            Err(ChainBreak::Altered { seq: 3 })
        );

        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed, (5, &head)),
            Err(ChainBreak::Missing {
                expected: 2,
                found: 3
            })
        );

        // Swapping two entries' numbers (so they still read in order) breaks the links.
        let mut reordered = records.clone();
        reordered.swap(1, 2);
        reordered[1].seq = 2;
        reordered[2].seq = 3;
        assert_eq!(
            verify(&reordered, (5, &head)),
            Err(ChainBreak::Unlinked { seq: 2 })
        );

        let truncated = &records[..4];
        assert_eq!(
            verify(truncated, (5, &head)),
            Err(ChainBreak::Truncated { last: 4, head: 5 })
        );
        assert_eq!(
            verify(&records, (5, GENESIS)),
            Err(ChainBreak::HeadMismatch { last: 5 })
        );
        assert_eq!(
            ChainBreak::Altered { seq: 3 }.to_string(),
            "entry 3 was altered: its contents no longer match its hash"
        );
    }

    #[test]
    fn fields_cannot_be_shifted_between_columns() {
        let mut a = AuditEvent::new(1, "x", "y", "z");
        a.subject = "ab".into();
        a.detail = String::new();
        let mut b = a.clone();
        b.subject = "a".into();
        b.detail = "b".into();
        assert_ne!(chain_hash(GENESIS, 1, &a), chain_hash(GENESIS, 1, &b));
    }
}
