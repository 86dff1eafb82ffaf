//! Reviews, MDT discussions and advice, completion, ending, and the paper copy.

use super::*;

/// Applies `edit`, one of this module's kinds (the caller routes only those here).
pub(super) fn apply(
    edit: &Edit,
    plan: &mut CarePlan,
    by: &Attribution,
    today: Date,
) -> Result<Vec<Field>, EditError> {
    let touched = match edit {
        Edit::RecordReview {
            id,
            date,
            face_to_face,
            reviewer,
            attendees,
            notes,
            changes,
            still_in_top_5_percent,
            outcome,
            next_review_due,
        } => record_review(
            plan,
            ReviewInput {
                id,
                date,
                face_to_face: *face_to_face,
                reviewer,
                attendees,
                notes,
                changes,
                still_in_top_5_percent: *still_in_top_5_percent,
                outcome: *outcome,
                next_review_due: next_review_due.as_deref(),
            },
            by,
            today,
        )?,
        Edit::AddMdtDiscussion {
            id,
            date,
            attendees,
            outcome,
            referrals,
        } => {
            unique_id(id, plan.mdt_discussions.iter().map(|m| &m.id))?;
            plan.mdt_discussions.push(MdtDiscussion {
                id: id.clone(),
                date: past_date("MDT date", date, today)?,
                attendees: required("attendees", attendees)?,
                outcome: required_long("outcome", outcome)?,
                referrals: optional("referrals", referrals, MAX_LONG)?,
                recorded: by.clone(),
                entered_in_error: None,
            });
            vec![Field::MdtDiscussions]
        }
        Edit::AddAdvice {
            id,
            from_name,
            from_role,
            advice,
        } => {
            unique_id(id, plan.advice.iter().map(|a| &a.id))?;
            plan.advice.push(crate::plan::Advice {
                id: id.clone(),
                from_name: required("advice from", from_name)?,
                from_role: optional("role", from_role, MAX_SHORT)?,
                advice: required_long("advice", advice)?,
                recorded: by.clone(),
                entered_in_error: None,
            });
            vec![Field::Advice]
        }
        Edit::MarkComplete => {
            let status = plan.enrolment.status;
            if !matches!(status, PlanStatus::Draft | PlanStatus::UnderReview) {
                return Err(EditError::InvalidTransition {
                    from: status,
                    action: "marked complete",
                });
            }
            complete(plan, by, today)?;
            vec![Field::Enrolment]
        }
        Edit::StartReview => {
            let status = plan.enrolment.status;
            if status != PlanStatus::Complete {
                return Err(EditError::InvalidTransition {
                    from: status,
                    action: "put under review",
                });
            }
            plan.enrolment.status = PlanStatus::UnderReview;
            plan.enrolment.review_started = Some(by.clone());
            vec![Field::Enrolment]
        }
        Edit::EndPlan { reason, date } => {
            let date = past_date("end date", date, today)?;
            plan.enrolment.status = PlanStatus::Ended;
            plan.enrolment.next_review_due = None;
            plan.enrolment.ended = Some(PlanEnd {
                reason: *reason,
                date,
                recorded: by.clone(),
            });
            vec![Field::Enrolment]
        }
        Edit::RecordPaperCopy { fingerprint } => {
            let now = plan.summary_fingerprint();
            if !fingerprint.trim().eq_ignore_ascii_case(&now.whole) {
                return Err(EditError::PrintOutOfDate);
            }
            plan.paper_copy = Some(crate::PaperCopy {
                fingerprint: now.whole,
                sections: now.sections.concat(),
                plan_version: plan.plan_version.clone(),
                printed: by.clone(),
            });
            vec![Field::PaperCopy]
        }
        _ => unreachable!("edit::apply_to routes only lifecycle edits here"),
    };
    Ok(touched)
}

fn complete(plan: &mut CarePlan, by: &Attribution, today: Date) -> Result<(), EditError> {
    let problems = plan.completion_problems();
    if !problems.is_empty() {
        return Err(EditError::NotReadyToComplete(problems));
    }
    let e = &mut plan.enrolment;
    e.status = PlanStatus::Complete;
    e.completed = Some(by.clone());
    if e.next_review_due.is_none() {
        e.next_review_due = Some(today.add_months(e.review_interval()).to_string());
    }
    Ok(())
}

struct ReviewInput<'a> {
    id: &'a str,
    date: &'a str,
    face_to_face: bool,
    reviewer: &'a str,
    attendees: &'a str,
    notes: &'a str,
    changes: &'a str,
    still_in_top_5_percent: Option<bool>,
    outcome: ReviewOutcome,
    next_review_due: Option<&'a str>,
}

fn record_review(
    plan: &mut CarePlan,
    r: ReviewInput<'_>,
    by: &Attribution,
    today: Date,
) -> Result<Vec<Field>, EditError> {
    let status = plan.enrolment.status;
    if !matches!(status, PlanStatus::Complete | PlanStatus::UnderReview) {
        return Err(EditError::InvalidTransition {
            from: status,
            action: "reviewed",
        });
    }
    unique_id(r.id, plan.reviews.iter().map(|v| &v.id))?;
    let date = past_date("review date", r.date, today)?;
    let review_day = Date::parse(&date).expect("just checked");
    if r.notes.chars().count() > MAX_LONG {
        return Err(EditError::TooLong {
            field: "review notes",
            max: MAX_LONG,
        });
    }
    let reviewer = required("reviewer", r.reviewer)?;
    let attendees = optional("attendees", r.attendees, MAX_SHORT * 2)?;
    let changes = optional("changes", r.changes, MAX_LONG)?;
    if r.outcome == ReviewOutcome::MoveToAnnualReview {
        plan.enrolment.review_interval_months = Some(12);
    }
    let next = match (r.outcome, r.next_review_due) {
        (ReviewOutcome::EndCaseManagement, _) => None,
        (_, Some(next)) => {
            let next = date_field("next review due", next)?;
            if next <= review_day {
                return Err(EditError::DateNotAfter {
                    field: "next review due",
                    after: "the review date",
                });
            }
            Some(next.to_string())
        }
        (_, None) => Some(
            review_day
                .add_months(plan.enrolment.review_interval())
                .to_string(),
        ),
    };
    plan.reviews.push(Review {
        id: r.id.to_owned(),
        date: date.clone(),
        face_to_face: r.face_to_face,
        reviewer,
        attendees,
        notes: autosurgeon::Text::with_value(r.notes),
        changes,
        still_in_top_5_percent: r.still_in_top_5_percent,
        outcome: r.outcome,
        next_review_due: next.clone(),
        recorded: by.clone(),
        entered_in_error: None,
    });
    if r.outcome == ReviewOutcome::EndCaseManagement {
        plan.enrolment.status = PlanStatus::Ended;
        plan.enrolment.next_review_due = None;
        plan.enrolment.ended = Some(PlanEnd {
            reason: EndReason::NoLongerHighRisk,
            date,
            recorded: by.clone(),
        });
    } else {
        // Continuing means the plan in the home is complete again, so the same rules hold.
        plan.enrolment.next_review_due = None;
        complete(plan, by, today)?;
        plan.enrolment.next_review_due = next;
    }
    Ok(vec![Field::Reviews, Field::Enrolment])
}
