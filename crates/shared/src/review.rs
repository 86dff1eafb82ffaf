//! When a plan's next review falls due, and whether it is overdue (seed 003: reviews every
//! four months, or more often if the case manager decides; annually for over-75 case
//! reviews). Pure: "today" comes in as an argument, so the tablet and the server reckon
//! the same dates offline and on line.

use serde::Serialize;

use crate::date::Date;
use crate::lifecycle::{CohortCategory, DEFAULT_REVIEW_INTERVAL_MONTHS, PlanStatus, ReviewOutcome};
use crate::plan::CarePlan;

/// Over-75 case reviews are annual.
pub const OVER_75_REVIEW_MONTHS: u32 = 12;

/// How near a due date counts as "due soon" unless the caller says otherwise (the
/// server's reviews-due report uses the same default).
pub const DUE_SOON_DAYS: i64 = 28;

/// Where a due date falls against today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DueState {
    /// The due day has passed.
    Overdue,
    /// Due today or within the caller's window.
    DueSoon,
    NotYetDue,
}

/// A plan's next review, as [`CarePlan::review_due`] reckons it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReviewDue {
    /// `YYYY-MM-DD`.
    pub due: String,
    pub state: DueState,
    /// Days from today to the due day; negative once overdue.
    pub days_left: i64,
    /// Whether the due day is in today's calendar month (or an earlier one: overdue).
    pub due_this_month: bool,
    /// The interval the due date was counted with.
    pub interval_months: u32,
    /// The patient is in the annual over-75 case review (enrolled for it, or moved to it).
    pub annual: bool,
    /// The case manager set an earlier date than the interval gives.
    pub set_earlier: bool,
}

/// What a next review is reckoned from: the one rule, used by [`CarePlan::review_due`] on
/// the tablet and by the server's scheme reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewBasis {
    /// In the annual over-75 case review (enrolled for it, or moved to it at a review).
    pub annual: bool,
    /// The interval the plan sets, if any.
    pub interval_months: Option<u32>,
    /// The last live review.
    pub last_review: Option<Date>,
    /// When the plan was (first) completed.
    pub completed: Option<Date>,
    /// The date the case manager set.
    pub set: Option<Date>,
}

/// A next review as [`ReviewBasis::next`] reckons it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextReview {
    pub due: Date,
    pub interval_months: u32,
    /// The case manager's date is earlier than the interval gives.
    pub set_earlier: bool,
}

impl ReviewBasis {
    /// The interval (four months unless the plan says otherwise; twelve for the annual
    /// case review) after the last review, or after completion if there has been none; the
    /// case manager's date instead when it is earlier. `None` with nothing to count from.
    pub fn next(&self) -> Option<NextReview> {
        let interval_months = self.interval_months.unwrap_or(if self.annual {
            OVER_75_REVIEW_MONTHS
        } else {
            DEFAULT_REVIEW_INTERVAL_MONTHS
        });
        let computed = self
            .last_review
            .or(self.completed)
            .map(|b| b.add_months(interval_months));
        let (due, set_earlier) = match (computed, self.set) {
            (Some(c), Some(s)) if s < c => (s, true),
            (Some(c), _) => (c, false),
            (None, Some(s)) => (s, true),
            (None, None) => return None,
        };
        Some(NextReview {
            due,
            interval_months,
            set_earlier,
        })
    }
}

impl DueState {
    /// Where `due` falls against `today`, with `window_days` counting as due soon.
    pub fn of(due: Date, today: Date, window_days: i64) -> DueState {
        if due < today {
            DueState::Overdue
        } else if days_between(today, due) <= window_days {
            DueState::DueSoon
        } else {
            DueState::NotYetDue
        }
    }
}

impl CarePlan {
    /// The live reviews (not entered in error) with a readable date, oldest first, each
    /// with its outcome: what the review interval and the scheme's return count from.
    pub fn dated_reviews(&self) -> Vec<(Date, ReviewOutcome)> {
        let mut reviews: Vec<(Date, ReviewOutcome)> = self
            .active_reviews()
            .filter_map(|r| Date::parse(&r.date).map(|d| (d, r.outcome)))
            .collect();
        reviews.sort_by_key(|(d, _)| *d);
        reviews
    }

    /// The next review of a plan in the scheme (complete or under review): the review
    /// interval after the last review, or after the plan was completed if it has not been
    /// reviewed, or the case manager's date if that is earlier. Four months unless the
    /// plan says otherwise; twelve for the annual over-75 case review (enrolled for it, or
    /// moved to it at a review). `due_soon_days` is how near counts as "due soon". `None` for a draft
    /// or ended plan.
    pub fn review_due(&self, today: Date, due_soon_days: i64) -> Option<ReviewDue> {
        let e = &self.enrolment;
        if !matches!(e.status, PlanStatus::Complete | PlanStatus::UnderReview) {
            return None;
        }
        let reviews = self.dated_reviews();
        // Enrolled for the over-75 case review, or moved to it at a review.
        let annual = e.cohort == Some(CohortCategory::Over75)
            || reviews
                .iter()
                .any(|(_, o)| *o == ReviewOutcome::MoveToAnnualReview);
        let basis = ReviewBasis {
            annual,
            interval_months: e.review_interval_months,
            last_review: reviews.last().map(|(d, _)| *d),
            completed: e.completed.as_ref().map(|a| Date::from_unix_ms(a.at_ms)),
            set: e.next_review_due.as_deref().and_then(Date::parse),
        };
        let NextReview {
            due,
            interval_months: interval,
            set_earlier,
        } = basis.next()?;
        let days_left = days_between(today, due);
        let state = DueState::of(due, today, due_soon_days);
        Some(ReviewDue {
            due: due.to_string(),
            state,
            days_left,
            due_this_month: (due.year, due.month) <= (today.year, today.month),
            interval_months: interval,
            annual,
            set_earlier,
        })
    }
}

/// Days from `a` to `b` (negative when `b` is earlier).
pub fn days_between(a: Date, b: Date) -> i64 {
    b.day_number() - a.day_number()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActorId, Edit, PlanDoc};

    fn day(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn days_between_counts_calendar_days() {
        assert_eq!(days_between(day("2026-01-31"), day("2026-03-01")), 29);
        assert_eq!(days_between(day("2028-02-28"), day("2028-03-01")), 2);
        assert_eq!(days_between(day("2026-03-01"), day("2026-01-31")), -29);
    }

    /// A plan completed on 2026-01-10, with `edits` then applied on the same day.
    fn completed_plan(edits: &[Edit]) -> CarePlan {
        enrolled_and_completed(&[], edits)
    }

    /// A plan given `before`, then completed on 2026-01-10, then given `after`.
    fn enrolled_and_completed(before: &[Edit], after: &[Edit]) -> CarePlan {
        let editor = crate::testkit::editor("u1", "Nurse One");
        let new = crate::testkit::example_patient();
        let now = 1_768_046_400_000; // 2026-01-10 12:00 UTC
        let mut doc = PlanDoc::create(ActorId::from(b"a".as_slice()), &new, &editor, now).unwrap();
        let setup: Vec<Edit> = serde_json::from_value(serde_json::json!([
            {"op": "record_consent", "recipients": ["mdt"], "given_by": "patient", "consent_date": "2026-01-10"},
            {"op": "set_case_manager", "name": "Nurse One", "role": "community matron", "phone": "01234"},
        ]))
        .unwrap();
        for edit in before.iter().chain(&setup) {
            doc.apply(edit, &editor, now)
                .unwrap_or_else(|e| panic!("{edit:?}: {e}"));
        }
        let complete = crate::testkit::completion(&doc, &[], &editor, now).unwrap();
        for edit in complete.iter().chain(after) {
            doc.apply(edit, &editor, now)
                .unwrap_or_else(|e| panic!("{edit:?}: {e}"));
        }
        doc.plan().unwrap()
    }

    #[test]
    fn four_months_after_completion_then_after_each_review() {
        let plan = completed_plan(&[]);
        let due = plan.review_due(day("2026-05-01"), 14).unwrap();
        assert_eq!(due.due, "2026-05-10");
        assert_eq!(due.state, DueState::DueSoon);
        assert_eq!(due.days_left, 9);
        assert!(due.due_this_month);
        assert!(!due.annual && !due.set_earlier);
        let due = plan.review_due(day("2026-05-11"), 14).unwrap();
        assert_eq!((due.state, due.days_left), (DueState::Overdue, -1));
        let due = plan.review_due(day("2026-02-01"), 14).unwrap();
        assert_eq!(due.state, DueState::NotYetDue);
        assert!(!due.due_this_month);

        let reviewed = completed_plan(&[review("r1", "2026-01-10", "continue", None)]);
        assert_eq!(
            reviewed.review_due(day("2026-02-01"), 14).unwrap().due,
            "2026-05-10"
        );
    }

    fn review(id: &str, date: &str, outcome: &str, next: Option<&str>) -> Edit {
        serde_json::from_value(serde_json::json!({
            "op": "record_review", "id": id, "date": date, "reviewer": "Nurse One", "face_to_face": true,
            "outcome": outcome, "next_review_due": next,
        }))
        .unwrap()
    }

    #[test]
    fn an_earlier_date_set_by_the_case_manager_wins_and_a_later_one_does_not() {
        let earlier = completed_plan(&[review("r1", "2026-01-10", "continue", Some("2026-03-01"))]);
        let due = earlier.review_due(day("2026-02-01"), 14).unwrap();
        assert_eq!(due.due, "2026-03-01");
        assert!(due.set_earlier);
        let later = completed_plan(&[review("r1", "2026-01-10", "continue", Some("2026-09-01"))]);
        assert_eq!(
            later.review_due(day("2026-02-01"), 14).unwrap().due,
            "2026-05-10"
        );
    }

    #[test]
    fn over_75_case_reviews_are_annual() {
        let plan = completed_plan(&[review("r1", "2026-01-10", "move_to_annual_review", None)]);
        let due = plan.review_due(day("2026-02-01"), 14).unwrap();
        assert_eq!(due.due, "2027-01-10");
        assert_eq!(due.interval_months, 12);
        assert!(due.annual);
    }

    #[test]
    fn a_plan_enrolled_for_the_over_75_case_review_is_reviewed_a_year_on() {
        let enrol: Edit =
            serde_json::from_value(serde_json::json!({"op": "set_enrolment", "cohort": "over75"}))
                .unwrap();
        let plan = enrolled_and_completed(&[enrol], &[]);
        let due = plan.review_due(day("2026-02-01"), 14).unwrap();
        assert_eq!(due.due, "2027-01-10", "a year after completion");
        assert!(due.annual);
    }

    #[test]
    fn draft_and_ended_plans_have_no_review_due() {
        let editor = crate::testkit::editor("u1", "Nurse One");
        let new = crate::testkit::example_patient_without_address();
        let draft = PlanDoc::create(ActorId::from(b"a".as_slice()), &new, &editor, 0)
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!(draft.review_due(day("2026-02-01"), 14), None);
        let ended = completed_plan(&[review("r1", "2026-01-10", "end_case_management", None)]);
        assert_eq!(ended.review_due(day("2026-02-01"), 14), None);
    }
}
