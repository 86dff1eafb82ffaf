//! What the scheme reads from one plan.

use super::*;

/// What the scheme needs to know about one plan, read from its enrolment and reviews.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFacts {
    pub patient_id: String,
    pub nhs_number: String,
    pub name: String,
    pub status: PlanStatus,
    /// The return category; `None` while the cohort is not recorded.
    pub category: Option<ReturnCategory>,
    /// Lives in a nursing or residential home.
    pub care_home: bool,
    pub over_75: bool,
    /// When the plan was first marked complete ("plan complete", the £110 event).
    pub first_complete: Option<Date>,
    /// Live reviews (not entered in error), oldest first, with whether each moved the
    /// patient to annual case review.
    pub reviews: Vec<(Date, ReviewOutcome)>,
    pub ended: Option<Date>,
    /// Why the plan ended, with `ended`.
    pub ended_reason: Option<redfolder_shared::EndReason>,
    pub review_interval_months: Option<u32>,
    pub next_review_due: Option<Date>,
    pub case_manager: Option<String>,
    /// Whether the paper copy in the home is current, for the reviews-due list.
    pub paper_copy: redfolder_shared::PaperReading,
}

impl PlanFacts {
    /// Reads the facts from a plan. `today` decides the age.
    ///
    /// The plan keeps only the latest "marked complete" attribution (a review re-marks
    /// it), so the first completion is that attribution when there has been no review,
    /// and otherwise the work-started date (falling back to the first review): a plan
    /// reviewed in a later month was counted as new in its own month's return already.
    pub fn of(patient_id: &str, plan: &CarePlan, today: Date) -> PlanFacts {
        let e = &plan.enrolment;
        let reviews = plan.dated_reviews();
        let completed = e.completed.as_ref().map(|a| Date::from_unix_ms(a.at_ms));
        let first_complete = if reviews.is_empty() {
            completed
        } else {
            e.start_date
                .as_deref()
                .and_then(Date::parse)
                .or(reviews.first().map(|(d, _)| *d))
        };
        let moved_to_annual = reviews
            .iter()
            .any(|(_, o)| *o == ReviewOutcome::MoveToAnnualReview);
        let over_75 =
            Date::parse(&plan.patient.date_of_birth).is_some_and(|d| is_over_75(d, today));
        let category = e.cohort.map(|c| {
            if moved_to_annual {
                ReturnCategory::Over75
            } else {
                ReturnCategory::of(c)
            }
        });
        PlanFacts {
            patient_id: patient_id.to_owned(),
            nhs_number: plan.patient.nhs_number.clone(),
            name: plan.patient.name.clone(),
            status: plan.enrolment.status,
            category,
            // Nursing and residential homes alike; matched by exclusion so that the
            // shared core may name its variants as it likes.
            care_home: matches!(
                plan.patient.residence,
                Some(r) if r != redfolder_shared::Residence::OwnHome
            ),
            over_75,
            first_complete,
            reviews,
            ended: e.ended.as_ref().and_then(|end| Date::parse(&end.date)),
            ended_reason: e.ended.as_ref().map(|end| end.reason),
            review_interval_months: e.review_interval_months,
            next_review_due: e.next_review_due.as_deref().and_then(Date::parse),
            case_manager: e.case_manager.as_ref().map(|c| c.name.clone()),
            paper_copy: plan.paper_copy_reading(),
        }
    }

    /// In the scheme now: marked complete at least once and not ended.
    pub fn is_active(&self) -> bool {
        matches!(self.status, PlanStatus::Complete | PlanStatus::UnderReview)
    }

    /// In place in the patient's home at the end of `day`.
    pub fn in_place_on(&self, day: Date) -> bool {
        self.first_complete.is_some_and(|d| d <= day) && self.ended.is_none_or(|d| d > day)
    }
}
