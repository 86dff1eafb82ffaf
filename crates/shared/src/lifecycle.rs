//! Enrolment and the plan's lifecycle: draft → complete → under review → … → ended.
//!
//! "Plan complete" (seed 003, Appendix 1 step 16) means consent is recorded, a case manager
//! is named until the next review, the patient has been discussed at an MDT (or someone
//! stated that no wider action is needed), the GP has met the patient face to face, a
//! mental health assessment is recorded (or why none is indicated), the paper copy is in
//! the home and, for the severe tier, an emergency treatment plan is in place. A plan with
//! an unresolved safety-critical conflict is not complete either: the copy in the red
//! folder would be ambiguous. An ended plan stays readable but takes no
//! edits except corrections (marking an entry entered-in-error).

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::decision::{DnacprStatus, SafetyField};
use crate::plan::{Attribution, CarePlan};

mod completion;

pub use completion::{GpMeeting, MentalHealthAssessment, MentalHealthStatus, NoWiderAction};

/// The episode of care (EpisodeOfCare).
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Enrolment {
    #[autosurgeon(missing = "Default::default")]
    pub status: PlanStatus,
    #[autosurgeon(missing = "Default::default")]
    pub cohort: Option<CohortCategory>,
    #[autosurgeon(missing = "Default::default")]
    pub tier: Option<Tier>,
    /// `YYYY-MM-DD` ("work started").
    #[autosurgeon(missing = "Default::default")]
    pub start_date: Option<String>,
    /// Agreed until the next review.
    #[autosurgeon(missing = "Default::default")]
    pub case_manager: Option<CaseManager>,
    /// Months between reviews; `None` means the scheme's default of four.
    #[autosurgeon(missing = "Default::default")]
    pub review_interval_months: Option<u32>,
    #[autosurgeon(missing = "Default::default")]
    pub next_review_due: Option<String>,
    /// Who marked the plan complete, most recently.
    #[autosurgeon(missing = "Default::default")]
    pub completed: Option<Attribution>,
    #[autosurgeon(missing = "Default::default")]
    pub review_started: Option<Attribution>,
    #[autosurgeon(missing = "Default::default")]
    pub ended: Option<PlanEnd>,
}

/// The scheme's default review interval (seed 003: every four months).
pub const DEFAULT_REVIEW_INTERVAL_MONTHS: u32 = 4;

impl Enrolment {
    /// Months between reviews: as set, else yearly for the over-75 case review, else four.
    pub fn review_interval(&self) -> u32 {
        self.review_interval_months
            .unwrap_or(if self.cohort == Some(CohortCategory::Over75) {
                crate::review::OVER_75_REVIEW_MONTHS
            } else {
                DEFAULT_REVIEW_INTERVAL_MONTHS
            })
    }

    /// Ending is final: if one replica ended the plan while another moved it on, the
    /// plan reads as ended (the status field alone would let the later write win).
    pub(crate) fn normalised(mut self) -> Enrolment {
        if self.ended.is_some() {
            self.status = PlanStatus::Ended;
        }
        self
    }
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    #[default]
    Draft,
    Complete,
    UnderReview,
    Ended,
}

impl PlanStatus {
    pub fn label(self) -> &'static str {
        match self {
            PlanStatus::Draft => "draft",
            PlanStatus::Complete => "complete",
            PlanStatus::UnderReview => "under review",
            PlanStatus::Ended => "ended",
        }
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Why the patient was selected (the data return's categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CohortCategory {
    RiskTool,
    CareHome,
    ClinicalJudgement,
    Over75,
    SocialCare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Mild,
    Moderate,
    /// Needs an emergency treatment plan as well as a care plan.
    Severe,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CaseManager {
    pub name: String,
    pub role: String,
    pub phone: String,
    pub recorded: Attribution,
}

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlanEnd {
    pub reason: EndReason,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub recorded: Attribution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    NoLongerHighRisk,
    MovedAway,
    Died,
    PatientDeclined,
}

impl EndReason {
    pub fn label(self) -> &'static str {
        match self {
            EndReason::NoLongerHighRisk => "no longer high risk",
            EndReason::MovedAway => "moved away",
            EndReason::Died => "died",
            EndReason::PatientDeclined => "patient declined",
        }
    }
}

/// What a review decided (seed 003, step 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// Still in the top 5 %: continue four-monthly reviews.
    Continue,
    /// Not in the top 5 % but kept for exceptional circumstances.
    PracticeDiscretion,
    /// Discharged from case management: the plan ends.
    EndCaseManagement,
    /// Over-75s leaving full case management: annual case review instead.
    MoveToAnnualReview,
}

/// Why a plan cannot be marked complete yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case", tag = "problem", content = "field")]
pub enum CompletionProblem {
    ConsentNotRecorded,
    ConsentWithdrawn,
    NoCaseManager,
    /// Neither an MDT discussion nor "no wider action needed" is recorded.
    NoMdtDiscussion,
    NoGpMeeting,
    NoMentalHealthAssessment,
    /// No paper copy of the plan is recorded as left in the home.
    NoPaperCopy,
    /// Tier "severe" needs a resuscitation decision and a ceiling of treatment.
    NoEmergencyTreatmentPlan,
    UnresolvedConflict(SafetyField),
}

impl std::fmt::Display for CompletionProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompletionProblem::ConsentNotRecorded => f.write_str("consent is not recorded"),
            CompletionProblem::ConsentWithdrawn => f.write_str("consent has been withdrawn"),
            CompletionProblem::NoCaseManager => f.write_str("no case manager is named"),
            CompletionProblem::NoMdtDiscussion => f.write_str(
                "no MDT discussion is recorded, and nobody has stated that no wider action is needed",
            ),
            CompletionProblem::NoGpMeeting => {
                f.write_str("no face-to-face meeting with the GP is recorded")
            }
            CompletionProblem::NoMentalHealthAssessment => f.write_str(
                "no mental health assessment is recorded (or why one is not indicated)",
            ),
            CompletionProblem::NoPaperCopy => {
                f.write_str("no paper copy of the plan is recorded as left in the home")
            }
            CompletionProblem::NoEmergencyTreatmentPlan => f.write_str(
                "tier severe needs an emergency treatment plan (resuscitation decision and ceiling of treatment)",
            ),
            CompletionProblem::UnresolvedConflict(field) => {
                write!(f, "{field} has conflicting values to resolve")
            }
        }
    }
}

impl CarePlan {
    /// Everything that stops this plan being marked complete; empty when it may be.
    pub fn completion_problems(&self) -> Vec<CompletionProblem> {
        let mut problems = Vec::new();
        if self.consent.withdrawn.is_some() {
            problems.push(CompletionProblem::ConsentWithdrawn);
        } else if self.consent.recorded.is_none() {
            problems.push(CompletionProblem::ConsentNotRecorded);
        }
        if self.enrolment.case_manager.is_none() {
            problems.push(CompletionProblem::NoCaseManager);
        }
        // An MDT meeting that discussed the patient writes an MDT discussion entry, so it
        // counts here like one recorded by hand; an entry marked entered in error does not.
        if self.active_mdt_discussions().next().is_none() && self.no_wider_action.is_none() {
            problems.push(CompletionProblem::NoMdtDiscussion);
        }
        if self.gp_meeting.is_none() {
            problems.push(CompletionProblem::NoGpMeeting);
        }
        if self.mental_health_assessment.is_none() {
            problems.push(CompletionProblem::NoMentalHealthAssessment);
        }
        if self.paper_copy.is_none() {
            problems.push(CompletionProblem::NoPaperCopy);
        }
        if self.enrolment.tier == Some(Tier::Severe)
            && (self.dnacpr == DnacprStatus::NotRecorded || self.ceiling_of_treatment.is_none())
        {
            problems.push(CompletionProblem::NoEmergencyTreatmentPlan);
        }
        problems.extend(
            self.conflicts
                .iter()
                .map(|c| CompletionProblem::UnresolvedConflict(c.field)),
        );
        problems
    }

    pub fn status(&self) -> PlanStatus {
        self.enrolment.status
    }
}

#[cfg(test)]
mod tests;
