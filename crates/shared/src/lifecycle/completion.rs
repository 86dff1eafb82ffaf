//! What "plan complete" asks for beyond consent and a case manager (seed 003, Appendix 1
//! step 16 and the scheme's outputs in section 4.2): the patient discussed at an MDT, or a
//! statement that no wider action is needed; a face-to-face meeting with the GP; a mental
//! health assessment, or why none is indicated; and the plan's paper copy in the home.
//!
//! Each record is a register written whole with its own attribution, as the paper copy is:
//! a later record replaces an earlier one, and two tablets recording one concurrently
//! keep one coherent record each rather than a mixture of both.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::plan::Attribution;

/// "Unless no wider action required, discuss patient's needs with appropriate members of
/// the MDT" (step 10): the statement that this patient needs no MDT discussion, and why.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NoWiderAction {
    pub reason: String,
    /// Who stated it, and when.
    pub recorded: Attribution,
}

/// The face-to-face meeting with the GP responsible for the patient's care and the case
/// manager (section 4.2, output 2).
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GpMeeting {
    /// `YYYY-MM-DD`, not in the future.
    pub date: String,
    /// The GP who met the patient.
    pub gp: String,
    /// Who else was there: the case manager, the patient, family or carers.
    pub attendees: String,
    pub recorded: Attribution,
}

/// Whether a mental health assessment was done or is not indicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MentalHealthStatus {
    Done,
    NotIndicated,
}

/// "An appropriate mental health assessment" (section 4.2, output 4): when and with what
/// tool it was done and what it found, or why none is indicated.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MentalHealthAssessment {
    pub status: MentalHealthStatus,
    /// `YYYY-MM-DD` when done; empty when not indicated.
    pub date: String,
    /// The tool used (PHQ-9, GAD-7, 6CIT …) when done.
    pub tool: String,
    /// What it found, when done.
    pub outcome: String,
    /// Why no assessment is indicated, when not done.
    pub reason: String,
    pub recorded: Attribution,
}

impl MentalHealthStatus {
    pub fn label(self) -> &'static str {
        match self {
            MentalHealthStatus::Done => "done",
            MentalHealthStatus::NotIndicated => "not indicated",
        }
    }
}
