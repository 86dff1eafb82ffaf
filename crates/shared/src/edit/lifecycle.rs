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
