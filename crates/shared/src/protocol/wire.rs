//! The primitives frames are written with and read from: unsigned LEB128 integers,
//! length-prefixed bytes and strings, counted lists, and change hashes. Every list a
//! [`Reader`] decodes is charged against the message's budget of entries.

use automerge::ChangeHash;

use super::{DecodeError, MAX_ITEMS};

pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    /// Unsigned LEB128.
    pub(super) fn uint(&mut self, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.uint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    pub(super) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub(super) fn strs(&mut self, items: &[String]) {
        self.uint(items.len() as u64);
        for s in items {
            self.str(s);
        }
    }

    pub(super) fn hashes(&mut self, hashes: &[ChangeHash]) {
        self.uint(hashes.len() as u64);
        for h in hashes {
            self.0.extend_from_slice(&h.0);
        }
    }
}

pub(super) struct Reader<'a, 'b> {
    pub(super) rest: &'a [u8],
    /// List entries this message may still decode into (see [`MAX_ITEMS`]).
    pub(super) budget: &'b mut usize,
}

impl<'a> Reader<'a, '_> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes `n` entries from the message's budget, before they are decoded.
    pub(super) fn spend(&mut self, n: usize) -> Result<(), DecodeError> {
        *self.budget = self.budget.checked_sub(n).ok_or(DecodeError::TooMany {
            what: "list entries",
            limit: MAX_ITEMS,
        })?;
        Ok(())
    }

    pub(super) fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn uint(&mut self) -> Result<u64, DecodeError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(DecodeError::Overflow);
            }
            n |= part << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DecodeError::Overflow)
    }

    /// A length, which can never exceed the bytes left in the frame.
    pub(super) fn len(&mut self) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.uint()?).map_err(|_| DecodeError::Overflow)?;
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.len()?;
        self.take(n)
    }

    pub(super) fn str(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| DecodeError::NotUtf8)
    }

    pub(super) fn strs(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.len()?;
        self.spend(n)?;
        (0..n).map(|_| self.str()).collect()
    }

    pub(super) fn hashes(&mut self) -> Result<Vec<ChangeHash>, DecodeError> {
        let n = self.len()?;
        self.spend(n)?;
        let mut heads = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let raw: [u8; 32] = self.take(32)?.try_into().expect("took 32 bytes");
            heads.push(ChangeHash(raw));
        }
        Ok(heads)
    }
}
