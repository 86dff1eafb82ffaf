//! Discharge from case management (seed 003, Appendix 1 step 17 and "Discharges from the
//! scheme"; seed 002: the MDT oversees the transition and tells the GP).

use super::*;
use redfolder_shared::{EndReason, Tier};

/// Whether the patient is still on the practice's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnList {
    Yes,
    MovedAway,
    Died,
}

impl OnList {
    pub fn as_str(self) -> &'static str {
        match self {
            OnList::Yes => "yes",
            OnList::MovedAway => "moved_away",
            OnList::Died => "died",
        }
    }
}

/// What step 17 decides for a patient at review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DischargeDecision {
    /// Still in the top 5 %: case management continues.
    Continue,
    /// Not in the top 5 % but kept for exceptional circumstances.
    PracticeDiscretion,
    /// Over 75: leaves full case management for the annual case review.
    AnnualReview,
    /// Discharged: the plan ends ("Case Management Plan Ended").
    Discharge,
    /// No longer on the list: coded moved away, no further action.
    MovedAway,
    /// No longer on the list: coded died, no further action.
    Died,
}

impl DischargeDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            DischargeDecision::Continue => "continue",
            DischargeDecision::PracticeDiscretion => "practice_discretion",
            DischargeDecision::AnnualReview => "annual_review",
            DischargeDecision::Discharge => "discharge",
            DischargeDecision::MovedAway => "moved_away",
            DischargeDecision::Died => "died",
        }
    }

    pub const ALL: [DischargeDecision; 6] = [
        DischargeDecision::Continue,
        DischargeDecision::PracticeDiscretion,
        DischargeDecision::AnnualReview,
        DischargeDecision::Discharge,
        DischargeDecision::MovedAway,
        DischargeDecision::Died,
    ];

    pub fn parse(s: &str) -> Option<DischargeDecision> {
        DischargeDecision::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Case management goes on as it was: nothing to discharge.
    pub fn continues(self) -> bool {
        matches!(
            self,
            DischargeDecision::Continue | DischargeDecision::PracticeDiscretion
        )
    }

    /// How the plan ends, for decisions that end it.
    pub fn end_reason(self) -> Option<EndReason> {
        match self {
            DischargeDecision::Discharge => Some(EndReason::NoLongerHighRisk),
            DischargeDecision::MovedAway => Some(EndReason::MovedAway),
            DischargeDecision::Died => Some(EndReason::Died),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DischargeDecision::Continue => "continue case management (still in the top 5 %)",
            DischargeDecision::PracticeDiscretion => {
                "continue as a practice discretion patient (exceptional circumstances)"
            }
            DischargeDecision::AnnualReview => "discharged to the annual over-75 case review",
            DischargeDecision::Discharge => "discharged from case management",
            DischargeDecision::MovedAway => "no longer on the practice list: moved away",
            DischargeDecision::Died => "no longer on the practice list: died",
        }
    }
}

/// What the decision rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DischargeBasis {
    pub on_list: OnList,
    pub still_in_top_5_percent: bool,
    pub exceptional_circumstances: bool,
    pub over_75: bool,
}

/// Step 17 in order: off the list first (moved or died, no further action); then the
/// review rule of [`review_outcome`] — top 5 % continues, exceptions stay at the practice's
/// discretion, over-75s go to the annual case review, everyone else is discharged.
pub fn discharge_decision(b: DischargeBasis) -> DischargeDecision {
    match b.on_list {
        OnList::MovedAway => return DischargeDecision::MovedAway,
        OnList::Died => return DischargeDecision::Died,
        OnList::Yes => {}
    }
    match review_outcome(
        b.still_in_top_5_percent,
        b.exceptional_circumstances,
        b.over_75,
    ) {
        ReviewOutcome::Continue => DischargeDecision::Continue,
        ReviewOutcome::PracticeDiscretion => DischargeDecision::PracticeDiscretion,
        ReviewOutcome::MoveToAnnualReview => DischargeDecision::AnnualReview,
        ReviewOutcome::EndCaseManagement => DischargeDecision::Discharge,
    }
}

/// Whether the MDT must sign the transition off (seed 002: "transition out of case
/// management is overseen by the Case Management MDT"). The mild tier has no formal care
/// plan and needs none; every other tier, and a plan whose tier is not recorded, does —
/// the safe side. A patient who moved away or died leaves without a decision to oversee.
pub fn needs_mdt_sign_off(decision: DischargeDecision, tier: Option<Tier>) -> bool {
    matches!(
        decision,
        DischargeDecision::Discharge | DischargeDecision::AnnualReview
    ) && tier != Some(Tier::Mild)
}

/// What has been done for a discharge, as the case manager records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DischargeSteps {
    pub patient_told: Option<Date>,
    pub questionnaire_sent: Option<Date>,
    pub mdt_signed_off: Option<Date>,
}

/// Why a discharge cannot be recorded yet; empty when it can. Discharged patients are
/// told and sent the evaluation questionnaire (step 17); a patient moving to the annual
/// review is told; the MDT signs off where [`needs_mdt_sign_off`] says. No step may be
/// dated after the discharge, and an MDT sign-off must be on or before it.
pub fn discharge_problems(
    decision: DischargeDecision,
    tier: Option<Tier>,
    date: Date,
    steps: DischargeSteps,
) -> Vec<String> {
    let mut out = Vec::new();
    if decision.continues() {
        out.push(format!(
            "step 17 says {}: record a review instead of a discharge",
            decision.label()
        ));
        return out;
    }
    let informs = matches!(
        decision,
        DischargeDecision::Discharge | DischargeDecision::AnnualReview
    );
    if informs && steps.patient_told.is_none() {
        out.push("the patient must be told before the discharge is recorded".into());
    }
    if decision == DischargeDecision::Discharge && steps.questionnaire_sent.is_none() {
        out.push("the evaluation questionnaire must be sent to a discharged patient".into());
    }
    if needs_mdt_sign_off(decision, tier) && steps.mdt_signed_off.is_none() {
        out.push(format!(
            "the {} tier needs the MDT to sign the discharge off: list the patient at an MDT meeting and record its outcome",
            tier.map_or("unrecorded", tier_name)
        ));
    }
    for (name, d) in [
        ("the day the patient was told", steps.patient_told),
        (
            "the day the questionnaire was sent",
            steps.questionnaire_sent,
        ),
        ("the MDT sign-off", steps.mdt_signed_off),
    ] {
        if d.is_some_and(|d| d > date) {
            out.push(format!("{name} is after the discharge date"));
        }
    }
    out
}

pub fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::Mild => "mild",
        Tier::Moderate => "moderate",
        Tier::Severe => "severe",
    }
}

/// Everything the GP letter says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterFacts<'a> {
    pub practice: &'a str,
    pub named_gp: &'a str,
    pub patient_name: &'a str,
    pub nhs_number: &'a str,
    pub date_of_birth: &'a str,
    pub decision: DischargeDecision,
    pub date: Date,
    pub basis: DischargeBasis,
    pub risk_source: &'a str,
    pub steps: DischargeSteps,
    pub notes: &'a str,
    pub case_manager: &'a str,
    pub signed_by: &'a str,
}

/// The letter to the GP (seed 002: the MDT tells the local GP), as plain text for print.
pub fn gp_letter(f: &LetterFacts<'_>) -> String {
    let gp = if f.named_gp.trim().is_empty() {
        "the patient's GP".to_owned()
    } else {
        f.named_gp.trim().to_owned()
    };
    let mut out = vec![
        format!("To: {gp}{}", practice_suffix(f.practice)),
        format!(
            "Re: {}, NHS number {}, born {}",
            f.patient_name, f.nhs_number, f.date_of_birth
        ),
        String::new(),
        format!(
            "On {} the case management team decided: {}.",
            f.date,
            f.decision.label()
        ),
        String::new(),
        "Basis (seed 003, Appendix 1 step 17):".to_owned(),
    ];
    match f.basis.on_list {
        OnList::Yes => {
            out.push(format!(
                "- Top 5 % of the risk tool: {} ({}).",
                yes_no(f.basis.still_in_top_5_percent),
                f.risk_source
            ));
            out.push(format!(
                "- Exceptional circumstances to keep under review: {}.",
                yes_no(f.basis.exceptional_circumstances)
            ));
            out.push(format!("- Over 75: {}.", yes_no(f.basis.over_75)));
        }
        OnList::MovedAway => out.push("- No longer on the practice list: moved away.".into()),
        OnList::Died => out.push("- No longer on the practice list: died.".into()),
    }
    out.push(String::new());
    if let Some(d) = f.steps.patient_told {
        out.push(format!("The patient was told on {d}."));
    }
    if let Some(d) = f.steps.questionnaire_sent {
        out.push(format!("The evaluation questionnaire was sent on {d}."));
    }
    if let Some(d) = f.steps.mdt_signed_off {
        out.push(format!(
            "The MDT signed the discharge off at its meeting of {d}."
        ));
    }
    match f.decision {
        DischargeDecision::AnnualReview => out.push(
            "The patient stays on the practice's over-75 register and is offered a face-to-face case review every year.".into(),
        ),
        DischargeDecision::Discharge => out.push(
            "The care plan has ended and is coded 'Case Management Plan Ended' (S1 XaKca / EMIS 8CT0). The red folder's emergency summary stays available to emergency services, marked as ended, for 90 days.".into(),
        ),
        _ => out.push("The care plan has ended.".into()),
    }
    if !f.notes.trim().is_empty() {
        out.push(String::new());
        out.push(format!("Notes: {}", f.notes.trim()));
    }
    out.push(String::new());
    if !f.case_manager.trim().is_empty() {
        out.push(format!("Case manager: {}", f.case_manager.trim()));
    }
    out.push(format!("For the case management MDT: {}", f.signed_by));
    out.join("\n")
}

fn practice_suffix(practice: &str) -> String {
    if practice.trim().is_empty() {
        String::new()
    } else {
        format!(", {}", practice.trim())
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests;
