//! Bounded checking of Automerge sync messages before Automerge sees them.
//!
//! Automerge's own decoder trusts the message: a bloom filter's `num_probes` sizes a
//! `Vec` allocated once per change it tests (a few bytes of message can ask for gigabytes),
//! a zero `bits_per_entry` makes its probes divide by zero (a panic), and every list is
//! decoded element by element for as many elements as the count says, so a message of
//! empty entries costs far more memory than its size. [`check`] walks the same encoding
//! (Automerge 0.12's `sync::Message`, V1 and V2) with every count and size bounded by
//! [`SyncLimits`], and refuses anything outside them with a precise
//! [`SyncMessageError`]; only a message that passes is handed to Automerge.

/// The first byte of an Automerge sync message: the V1 format (changes one by one).
const MESSAGE_V1: u8 = 0x42;
/// The first byte of an Automerge sync message in the V2 format (a whole document).
const MESSAGE_V2: u8 = 0x43;

/// How large each part of a sync message may be. The defaults are far above anything
/// Automerge generates for a care plan and far below what would hurt the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncLimits {
    /// Heads the sender may list (concurrent branches of one document).
    pub max_heads: usize,
    /// Change hashes the sender may ask for at once.
    pub max_need: usize,
    /// `have` entries (Automerge sends one).
    pub max_haves: usize,
    /// Hashes in one `have`'s `last_sync`.
    pub max_last_sync: usize,
    /// Entries one bloom filter may summarise.
    pub max_bloom_entries: u64,
    /// The largest `bits_per_entry` accepted (Automerge uses 10); zero is always refused.
    pub max_bits_per_entry: u64,
    /// The largest `num_probes` accepted (Automerge uses 7); zero is always refused.
    pub max_probes: u64,
    /// Changes (or document chunks) one message may carry.
    pub max_changes: usize,
    /// The largest single change (or, in a V2 message, whole document) in bytes.
    pub max_change_bytes: usize,
    /// How many changes whose dependencies have not arrived a document may hold for one
    /// channel, and their bytes ([`crate::Session::receive`] refuses more).
    pub max_pending_changes: usize,
    pub max_pending_bytes: usize,
}

impl Default for SyncLimits {
    fn default() -> SyncLimits {
        SyncLimits {
            max_heads: 1024,
            max_need: 100_000,
            max_haves: 16,
            max_last_sync: 1024,
            max_bloom_entries: 1 << 20,
            max_bits_per_entry: 32,
            max_probes: 32,
            max_changes: 100_000,
            max_change_bytes: crate::protocol::MAX_FRAME_BYTES,
            max_pending_changes: 10_000,
            max_pending_bytes: 16 << 20,
        }
    }
}

/// What a checked message carries, for callers that decide by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageSummary {
    /// How many changes (or document chunks) it carries.
    pub changes: usize,
    /// Their bytes in all.
    pub change_bytes: usize,
}

/// Why a sync message was refused before Automerge saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncMessageError {
    #[error("the sync message is empty")]
    Empty,
    #[error("the sync message type {0:#04x} is not an Automerge sync message")]
    UnknownType(u8),
    #[error("the sync message ended early")]
    Truncated,
    #[error("a number in the sync message is out of range")]
    Overflow,
    #[error("the sync message lists {count} {what}, more than the limit of {limit}")]
    TooMany {
        what: &'static str,
        count: u64,
        limit: u64,
    },
    #[error("a change in the sync message is {size} bytes, more than the limit of {limit}")]
    ChangeTooLarge { size: usize, limit: usize },
    #[error("a change in the sync message is empty")]
    EmptyChange,
    #[error("a bloom filter's {field} is {value}, outside 1..={limit}")]
    BadBloom {
        field: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("a bloom filter holds {found} bytes of bits where its header needs {expected}")]
    BloomSize { found: usize, expected: u64 },
    #[error("the sync message has {0} unexpected trailing bytes")]
    Trailing(usize),
}

/// Checks an encoded Automerge sync message against `limits` without allocating for
/// anything it lists. Returns what it carries.
pub fn check(message: &[u8], limits: &SyncLimits) -> Result<MessageSummary, SyncMessageError> {
    let mut r = Reader(message);
    match r.byte().map_err(|_| SyncMessageError::Empty)? {
        MESSAGE_V1 | MESSAGE_V2 => {}
        other => return Err(SyncMessageError::UnknownType(other)),
    }
    r.hashes("heads", limits.max_heads)?;
    r.hashes("needed changes", limits.max_need)?;
    let haves = r.count("haves", limits.max_haves)?;
    for _ in 0..haves {
        r.hashes("last-sync hashes", limits.max_last_sync)?;
        let bloom = r.bytes()?;
        check_bloom(bloom, limits)?;
    }
    let changes = r.count("changes", limits.max_changes)?;
    let mut summary = MessageSummary::default();
    for _ in 0..changes {
        let change = r.bytes()?;
        if change.is_empty() {
            return Err(SyncMessageError::EmptyChange);
        }
        if change.len() > limits.max_change_bytes {
            return Err(SyncMessageError::ChangeTooLarge {
                size: change.len(),
                limit: limits.max_change_bytes,
            });
        }
        summary.changes += 1;
        summary.change_bytes += change.len();
    }
    if !r.0.is_empty() {
        // The optional flags: a length-prefixed list of flag bytes (Automerge sends two).
        let flags = r.bytes()?;
        if flags.len() > 16 {
            return Err(SyncMessageError::TooMany {
                what: "flag bytes",
                count: flags.len() as u64,
                limit: 16,
            });
        }
    }
    if !r.0.is_empty() {
        return Err(SyncMessageError::Trailing(r.0.len()));
    }
    Ok(summary)
}

/// A bloom filter as Automerge encodes it: empty, or `num_entries`, `bits_per_entry`,
/// `num_probes` (LEB128) and exactly `ceil(num_entries * bits_per_entry / 8)` bytes.
fn check_bloom(bloom: &[u8], limits: &SyncLimits) -> Result<(), SyncMessageError> {
    if bloom.is_empty() {
        return Ok(());
    }
    let mut r = Reader(bloom);
    let entries = r.uint()?;
    let bits_per_entry = r.uint()?;
    let probes = r.uint()?;
    let bounded = |field, value: u64, limit: u64| {
        if value == 0 || value > limit {
            Err(SyncMessageError::BadBloom {
                field,
                value,
                limit,
            })
        } else {
            Ok(())
        }
    };
    // Automerge never encodes a filter of no entries (it sends no bytes instead).
    bounded("num_entries", entries, limits.max_bloom_entries)?;
    bounded("bits_per_entry", bits_per_entry, limits.max_bits_per_entry)?;
    bounded("num_probes", probes, limits.max_probes)?;
    let expected = (entries * bits_per_entry).div_ceil(8);
    if r.0.len() as u64 != expected {
        return Err(SyncMessageError::BloomSize {
            found: r.0.len(),
            expected,
        });
    }
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SyncMessageError> {
        if self.0.len() < n {
            return Err(SyncMessageError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, SyncMessageError> {
        Ok(self.take(1)?[0])
    }

    /// Unsigned LEB128, as Automerge writes it.
    fn uint(&mut self) -> Result<u64, SyncMessageError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(SyncMessageError::Overflow);
            }
            n |= part << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(SyncMessageError::Overflow)
    }

    fn count(&mut self, what: &'static str, limit: usize) -> Result<usize, SyncMessageError> {
        let n = self.uint()?;
        if n > limit as u64 {
            return Err(SyncMessageError::TooMany {
                what,
                count: n,
                limit: limit as u64,
            });
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], SyncMessageError> {
        let n = self.uint()?;
        let n = usize::try_from(n).map_err(|_| SyncMessageError::Overflow)?;
        self.take(n)
    }

    fn hashes(&mut self, what: &'static str, limit: usize) -> Result<(), SyncMessageError> {
        let n = self.count(what, limit)?;
        let len = n.checked_mul(32).ok_or(SyncMessageError::Overflow)?;
        self.take(len).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use automerge::sync::{self, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    fn leb(out: &mut Vec<u8>, n: u64) {
        leb128::write::unsigned(out, n).expect("writing to a Vec cannot fail");
    }

    /// A V1 message with no heads or needs, one `have` holding `bloom`, and no changes.
    fn with_bloom(bloom: &[u8]) -> Vec<u8> {
        let mut m = vec![MESSAGE_V1, 0, 0, 1, 0];
        leb(&mut m, bloom.len() as u64);
        m.extend_from_slice(bloom);
        m.push(0);
        m
    }

    fn bloom(entries: u64, bits: u64, probes: u64) -> Vec<u8> {
        let mut b = Vec::new();
        leb(&mut b, entries);
        leb(&mut b, bits);
        leb(&mut b, probes);
        b.resize(b.len() + (entries * bits).div_ceil(8) as usize, 0);
        b
    }

    /// Real messages from two documents syncing, in both directions, until they agree.
    fn real_messages() -> Vec<Vec<u8>> {
        let mut a = AutoCommit::new();
        let mut b = AutoCommit::new();
        for i in 0..20 {
            a.put(ROOT, format!("a{i}"), i).unwrap();
            a.commit();
            b.put(ROOT, format!("b{i}"), i).unwrap();
            b.commit();
        }
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        let mut out = Vec::new();
        for _ in 0..10 {
            let ma = a.sync().generate_sync_message(&mut sa);
            let mb = b.sync().generate_sync_message(&mut sb);
            if ma.is_none() && mb.is_none() {
                break;
            }
            if let Some(m) = ma {
                let bytes = m.encode();
                out.push(bytes.clone());
                b.sync()
                    .receive_sync_message(&mut sb, sync::Message::decode(&bytes).unwrap())
                    .unwrap();
            }
            if let Some(m) = mb {
                let bytes = m.encode();
                out.push(bytes.clone());
                a.sync()
                    .receive_sync_message(&mut sa, sync::Message::decode(&bytes).unwrap())
                    .unwrap();
            }
        }
        assert_eq!(a.get_heads(), b.get_heads());
        out
    }

    #[test]
    fn every_message_automerge_makes_passes() {
        let messages = real_messages();
        assert!(messages.len() >= 3);
        let mut changes = 0;
        for m in &messages {
            changes += check(m, &SyncLimits::default()).unwrap().changes;
        }
        assert!(changes > 0, "the exchange carried changes");
    }

    #[test]
    fn a_bloom_filter_outside_its_bounds_is_refused() {
        let limits = SyncLimits::default();
        assert!(check(&with_bloom(&bloom(3, 10, 7)), &limits).is_ok());
        assert!(check(&with_bloom(&[]), &limits).is_ok());
        // Huge num_probes: Automerge would allocate a Vec of that many u32s per change.
        assert_eq!(
            check(&with_bloom(&bloom(1, 10, u64::from(u32::MAX))), &limits),
            Err(SyncMessageError::BadBloom {
                field: "num_probes",
                value: u64::from(u32::MAX),
                limit: 32
            })
        );
        // Zero bits per entry: Automerge would divide by zero.
        assert_eq!(
            check(&with_bloom(&bloom(1, 0, 7)), &limits),
            Err(SyncMessageError::BadBloom {
                field: "bits_per_entry",
                value: 0,
                limit: 32
            })
        );
        assert!(matches!(
            check(&with_bloom(&bloom(0, 10, 7)), &limits),
            Err(SyncMessageError::BadBloom {
                field: "num_entries",
                ..
            })
        ));
        let mut short = bloom(16, 10, 7);
        short.pop();
        assert_eq!(
            check(&with_bloom(&short), &limits),
            Err(SyncMessageError::BloomSize {
                found: 19,
                expected: 20
            })
        );
    }

    /// The refused blooms really are what crashes Automerge: the zero case panics there.
    #[test]
    fn automerge_itself_panics_on_a_zero_bits_per_entry_filter() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "k", 1).unwrap();
        doc.commit();
        let message = sync::Message::decode(&with_bloom(&bloom(1, 0, 7))).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut state = sync::State::new();
            let _ = doc.sync().receive_sync_message(&mut state, message);
            doc.sync().generate_sync_message(&mut state)
        }));
        assert!(
            result.is_err(),
            "automerge no longer panics: the check may be relaxed"
        );
    }

    #[test]
    fn counts_and_sizes_are_bounded_before_anything_is_decoded() {
        let limits = SyncLimits::default();
        // Millions of empty `have`s claimed by a few bytes.
        let mut m = vec![MESSAGE_V1, 0, 0];
        leb(&mut m, 50_000_000);
        assert_eq!(
            check(&m, &limits),
            Err(SyncMessageError::TooMany {
                what: "haves",
                count: 50_000_000,
                limit: 16
            })
        );
        let mut m = vec![MESSAGE_V1];
        leb(&mut m, 1 << 40);
        assert!(matches!(
            check(&m, &limits),
            Err(SyncMessageError::TooMany { what: "heads", .. })
        ));
        // Many empty changes.
        let mut m = vec![MESSAGE_V1, 0, 0, 0];
        leb(&mut m, 3);
        m.extend_from_slice(&[0, 0, 0]);
        assert_eq!(check(&m, &limits), Err(SyncMessageError::EmptyChange));
        // A change over the size limit.
        let small = SyncLimits {
            max_change_bytes: 4,
            ..limits
        };
        let m = [MESSAGE_V1, 0, 0, 0, 1, 5, 1, 2, 3, 4, 5];
        assert_eq!(
            check(&m, &small),
            Err(SyncMessageError::ChangeTooLarge { size: 5, limit: 4 })
        );
        assert_eq!(check(&m, &limits).unwrap().changes, 1);
    }

    #[test]
    fn malformed_messages_get_a_precise_error() {
        let limits = SyncLimits::default();
        assert_eq!(check(&[], &limits), Err(SyncMessageError::Empty));
        assert_eq!(
            check(&[0x41], &limits),
            Err(SyncMessageError::UnknownType(0x41))
        );
        assert_eq!(
            check(&[MESSAGE_V1, 2, 0], &limits),
            Err(SyncMessageError::Truncated)
        );
        let mut trailing = with_bloom(&[]);
        trailing.extend_from_slice(&[0, 9]);
        assert_eq!(
            check(&trailing, &limits),
            Err(SyncMessageError::Trailing(1))
        );
        for m in real_messages() {
            for cut in 0..m.len() {
                // Cut anywhere, a message is refused or (cut before the optional flags)
                // still well formed, never a panic.
                let _ = check(&m[..cut], &limits);
            }
        }
    }
}
