//! When reviews fall due, and what a review should decide (step 17).

use super::*;

/// When a plan's next review falls due: the review interval (four months; twelve for an
/// over-75 case review) after the last review, or after the plan was completed if it has
/// not been reviewed; earlier if the case manager set an earlier date (Appendix 1,
/// step 17: "more often if deemed appropriate"). `None` for plans not in the scheme.
pub fn review_due(facts: &PlanFacts) -> Option<Date> {
    if !facts.is_active() {
        return None;
    }
    let basis = redfolder_shared::ReviewBasis {
        annual: facts.category == Some(ReturnCategory::Over75),
        interval_months: facts.review_interval_months,
        last_review: facts.reviews.last().map(|(d, _)| *d),
        completed: facts.first_complete,
        set: facts.next_review_due,
    };
    basis.next().map(|n| n.due)
}

/// Where a due date falls: the core's rule, as the tablet shows it.
pub use redfolder_shared::DueState;

/// [`DueState`] as the OpenAPI document describes it (the core carries no utoipa): the
/// same three names as it serialises to.
#[allow(non_camel_case_types, dead_code)]
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = DueState)]
pub enum DueStateSchema {
    overdue,
    due_soon,
    not_yet_due,
}

pub fn due_state(due: Date, today: Date, window_days: i64) -> DueState {
    DueState::of(due, today, window_days)
}

/// Days from `a` to `b`: the core's, so the server and the tablet count alike.
pub use redfolder_shared::days_between;

// ---------------------------------------------------------------- review outcome

/// What a review should decide (Appendix 1, step 17). A patient no longer on the list is
/// coded moved/died instead and never reaches this.
///
/// - still in the top 5 % of the risk tool: continue (even if the score fell);
/// - otherwise, exceptional circumstances: continue as a practice-discretion patient;
/// - otherwise over 75: discharge to the annual case review;
/// - otherwise: end the plan ("no longer high risk"), inform the patient, send the
///   evaluation questionnaire.
pub fn review_outcome(still_in_top_5: bool, exceptional: bool, over_75: bool) -> ReviewOutcome {
    if still_in_top_5 {
        ReviewOutcome::Continue
    } else if exceptional {
        ReviewOutcome::PracticeDiscretion
    } else if over_75 {
        ReviewOutcome::MoveToAnnualReview
    } else {
        ReviewOutcome::EndCaseManagement
    }
}
