//! The paper copy in the home: which yellow pages were printed, and whether they still say
//! what the plan says.
//!
//! A print is judged by the *content* of the emergency summary, not by the plan's
//! version: a new goal or review note leaves the paper in the home correct, a new allergy
//! makes it out of date. [`SummaryFingerprint`] hashes each printed section separately
//! (leaving out only what changes on every edit: the plan version and the last-updated
//! stamp, which the printed pages carry beside the fingerprint) so a check can also say
//! *which* sections changed since the print.
//!
//! Recording a print is an ordinary edit ([`crate::Edit::RecordPaperCopy`]) writing the
//! `paper_copy` register, so it works offline and reaches every device through sync.
//! Concurrent prints keep the latest by its printer's clock: that is the paper most
//! likely to be in the folder.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::EmergencySummary;
use crate::plan::{Attribution, CarePlan};

/// Hex digits of the whole-summary fingerprint: 64 bits, so two different summaries
/// sharing one (a false "current") is not a practical risk.
const FINGERPRINT_HEX: usize = 16;
/// Hex digits per section: enough to say which sections changed, too few to decide
/// currency (that is the whole fingerprint's job).
const SECTION_HEX: usize = 4;
/// The printed code's prefix and format version.
const CODE_PREFIX: &str = "RF1";

/// The printed sections, in the order the pages print them.
pub const SECTIONS: [&str; 11] = [
    "identity",
    "resuscitation and legal decisions",
    "treatment escalation",
    "preferred places",
    "key contacts",
    "problems and prognosis",
    "medications",
    "allergies",
    "baseline observations",
    "communication needs",
    "the plan's status, review and consent",
];

/// A hash of what the two yellow pages say: the whole, and each section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryFingerprint {
    /// [`FINGERPRINT_HEX`] lowercase hex digits over every section.
    pub whole: String,
    /// [`SECTION_HEX`] hex digits per section, in [`SECTIONS`] order.
    pub sections: Vec<String>,
}

fn hex(bytes: &[u8], digits: usize) -> String {
    bytes
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(digits)
        .map(|n| char::from_digit(u32::from(n), 16).expect("a nibble is a hex digit"))
        .collect()
}

impl SummaryFingerprint {
    /// Fingerprints `s`. Deterministic across devices: each section is hashed as its
    /// JSON, whose key order is the structs' field order.
    pub fn of(s: &EmergencySummary) -> SummaryFingerprint {
        let json = |v: serde_json::Value| v.to_string();
        use serde_json::json;
        let parts = [
            json(json!([
                s.nhs_number,
                s.name,
                s.preferred_name,
                s.date_of_birth,
                s.sex,
                s.address,
                s.phone,
                s.residence,
                s.gp_practice,
                s.named_gp
            ])),
            json(json!([s.dnacpr_label, s.resuscitation, s.adrt, s.lpa])),
            json(json!([
                s.focus_of_care,
                s.ceiling_of_treatment,
                s.admission_wanted,
                s.escalation_plans,
                s.exacerbation_plan
            ])),
            json(json!([
                s.preferred_place_of_care,
                s.preferred_place_of_death
            ])),
            json(json!(s.key_contacts)),
            json(json!([s.conditions, s.prognosis])),
            json(json!(s.medications)),
            json(json!([s.allergies, s.allergy_list])),
            json(json!(s.baseline)),
            json(json!(s.communication_needs)),
            json(json!([
                s.plan_status,
                s.completed,
                s.case_manager,
                s.next_review_due,
                s.consent,
                s.consent_to_emergency_sharing,
                s.conflicts
            ])),
        ];
        let mut whole = Sha256::new();
        let sections = parts
            .iter()
            .map(|p| {
                let digest = Sha256::digest(p.as_bytes());
                whole.update(digest);
                hex(&digest, SECTION_HEX)
            })
            .collect();
        SummaryFingerprint {
            whole: hex(&whole.finalize(), FINGERPRINT_HEX),
            sections,
        }
    }

    /// The code printed (and put in the QR code) on the pages:
    /// `RF1-<whole>-<section hashes concatenated>`.
    pub fn code(&self) -> String {
        format!("{CODE_PREFIX}-{}-{}", self.whole, self.sections.concat())
    }

    /// Reads a printed code, as scanned or typed (case and surrounding spaces ignored).
    pub fn parse_code(code: &str) -> Result<SummaryFingerprint, PaperCodeError> {
        let code = code.trim().to_ascii_lowercase();
        let mut parts = code.split('-');
        let (Some(prefix), Some(whole), Some(sections), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PaperCodeError::Malformed);
        };
        if prefix != CODE_PREFIX.to_ascii_lowercase() {
            return Err(PaperCodeError::UnknownVersion(prefix.to_owned()));
        }
        let is_hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
        if whole.len() != FINGERPRINT_HEX
            || sections.len() != SECTION_HEX * SECTIONS.len()
            || !is_hex(whole)
            || !is_hex(sections)
        {
            return Err(PaperCodeError::Malformed);
        }
        Ok(SummaryFingerprint {
            whole: whole.to_owned(),
            sections: sections
                .as_bytes()
                .chunks(SECTION_HEX)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect(),
        })
    }

    /// The sections whose content differs between this print and `now`.
    pub fn changed_sections(&self, now: &SummaryFingerprint) -> Vec<&'static str> {
        if self.whole == now.whole {
            return Vec::new();
        }
        let changed: Vec<&'static str> = SECTIONS
            .iter()
            .zip(self.sections.iter().zip(&now.sections))
            .filter(|(_, (a, b))| a != b)
            .map(|(name, _)| *name)
            .collect();
        // Different wholes with equal section hashes: a 16-bit section collision. Say so
        // rather than claim nothing changed.
        if changed.is_empty() {
            vec!["content (section not identifiable)"]
        } else {
            changed
        }
    }
}

/// Why a typed or scanned code could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaperCodeError {
    #[error("this is not a Red Folder print code (expected RF1-… as printed under the QR code)")]
    Malformed,
    #[error("print code version {0:?} is not one this app reads")]
    UnknownVersion(String),
}

/// The `paper_copy` register: the last print recorded for the home.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PaperCopy {
    /// [`SummaryFingerprint::whole`] of what was printed.
    pub fingerprint: String,
    /// [`SummaryFingerprint::sections`] of what was printed, concatenated.
    pub sections: String,
    /// The plan version printed on the pages.
    pub plan_version: String,
    /// Who printed it, and when.
    pub printed: Attribution,
}

impl PaperCopy {
    fn printed_fingerprint(&self) -> SummaryFingerprint {
        SummaryFingerprint {
            whole: self.fingerprint.clone(),
            sections: self
                .sections
                .as_bytes()
                .chunks(SECTION_HEX)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect(),
        }
    }
}

/// Whether a paper copy says what the plan says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PaperState {
    /// No print has been recorded.
    NotPrinted,
    Current,
    OutOfDate,
}

impl PaperState {
    /// A stable name, for the caseload column and the API.
    pub fn key(self) -> &'static str {
        match self {
            PaperState::NotPrinted => "not_printed",
            PaperState::Current => "current",
            PaperState::OutOfDate => "out_of_date",
        }
    }
}

/// The reading of a paper copy against the plan, with what every surface shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PaperReading {
    pub state: PaperState,
    /// The recorded print, when [`PaperReading::state`] is about the home's copy.
    pub printed: Option<Attribution>,
    /// Sections changed since the print (empty unless out of date).
    pub changed_sections: Vec<String>,
    /// "Paper copy in the home is out of date (printed 2026-12-01 by Ann Nurse):
    /// reprint", or the current/not-printed equivalent.
    pub label: String,
}

fn printed_on(a: &Attribution) -> String {
    crate::Date::from_unix_ms(a.at_ms).to_string()
}

fn reading(
    printed: &SummaryFingerprint,
    now: &SummaryFingerprint,
    by: Option<&Attribution>,
) -> PaperReading {
    let changed = printed.changed_sections(now);
    let when = by
        .map(|a| format!(" (printed {} by {})", printed_on(a), a.user_name))
        .unwrap_or_default();
    if changed.is_empty() {
        PaperReading {
            state: PaperState::Current,
            printed: by.cloned(),
            changed_sections: Vec::new(),
            label: format!("Paper copy{} is current{when}", home(by)),
        }
    } else {
        PaperReading {
            state: PaperState::OutOfDate,
            printed: by.cloned(),
            label: format!(
                "Paper copy{} is out of date{when}: reprint. Changed since: {}",
                home(by),
                changed.join(", ")
            ),
            changed_sections: changed.into_iter().map(str::to_owned).collect(),
        }
    }
}

fn home(by: Option<&Attribution>) -> &'static str {
    if by.is_some() { " in the home" } else { "" }
}

impl CarePlan {
    /// The fingerprint of this plan's yellow pages as they would print now.
    pub fn summary_fingerprint(&self) -> SummaryFingerprint {
        SummaryFingerprint::of(&super::emergency_summary(self))
    }

    /// Whether the paper copy recorded for the home says what the plan says now.
    pub fn paper_copy_reading(&self) -> PaperReading {
        match &self.paper_copy {
            None => PaperReading {
                state: PaperState::NotPrinted,
                printed: None,
                changed_sections: Vec::new(),
                label: "No paper copy of the yellow pages is recorded in the home: print one"
                    .to_owned(),
            },
            Some(copy) => reading(
                &copy.printed_fingerprint(),
                &self.summary_fingerprint(),
                Some(&copy.printed),
            ),
        }
    }

    /// Whether a paper copy carrying `code` (scanned or typed) says what the plan says
    /// now. The copy need not be the one recorded for the home.
    pub fn check_paper_code(&self, code: &str) -> Result<PaperReading, PaperCodeError> {
        let printed = SummaryFingerprint::parse_code(code)?;
        let recorded = self
            .paper_copy
            .as_ref()
            .filter(|c| c.fingerprint == printed.whole)
            .map(|c| &c.printed);
        Ok(reading(&printed, &self.summary_fingerprint(), recorded))
    }
}

#[cfg(test)]
mod tests;
