//! The records "plan complete" asks for (see [`crate::lifecycle`]): no wider action
//! needed, the face-to-face meeting with the GP, and the mental health assessment.
//!
//! Each record is checked by one function here, both when an edit makes it and when the
//! server's rule check ([`crate::check`]) finds one written by raw changes.

use super::*;
use crate::{GpMeeting, MentalHealthAssessment, MentalHealthStatus, NoWiderAction};

/// Applies `edit`, one of this module's kinds (the caller routes only those here).
pub(super) fn apply(
    edit: &Edit,
    plan: &mut CarePlan,
    by: &Attribution,
    today: Date,
) -> Result<Vec<Field>, EditError> {
    let touched = match edit {
        Edit::RecordNoWiderAction { reason } => {
            plan.no_wider_action = Some(checked_no_wider_action(NoWiderAction {
                reason: reason.clone(),
                recorded: by.clone(),
            })?);
            vec![Field::NoWiderAction]
        }
        Edit::RecordGpMeeting {
            date,
            gp,
            attendees,
        } => {
            plan.gp_meeting = Some(checked_gp_meeting(
                GpMeeting {
                    date: date.clone(),
                    gp: gp.clone(),
                    attendees: attendees.clone(),
                    recorded: by.clone(),
                },
                today,
            )?);
            vec![Field::GpMeeting]
        }
        Edit::RecordMentalHealthAssessment {
            status,
            date,
            tool,
            outcome,
            reason,
        } => {
            plan.mental_health_assessment = Some(checked_mental_health(
                MentalHealthAssessment {
                    status: *status,
                    date: date.clone().unwrap_or_default(),
                    tool: tool.clone(),
                    outcome: outcome.clone(),
                    reason: reason.clone(),
                    recorded: by.clone(),
                },
                today,
            )?);
            vec![Field::MentalHealthAssessment]
        }
        _ => unreachable!("edit::apply_to routes only completion records here"),
    };
    Ok(touched)
}

/// The statement with its reason trimmed, or why it cannot be recorded.
pub(crate) fn checked_no_wider_action(n: NoWiderAction) -> Result<NoWiderAction, EditError> {
    Ok(NoWiderAction {
        reason: required_long("why no wider action is needed", &n.reason)?,
        recorded: n.recorded,
    })
}

/// The meeting with its texts trimmed and its date canonical, or why it cannot be recorded.
pub(crate) fn checked_gp_meeting(m: GpMeeting, today: Date) -> Result<GpMeeting, EditError> {
    Ok(GpMeeting {
        date: past_date("GP meeting date", &m.date, today)?,
        gp: required("GP", &m.gp)?,
        attendees: required("who met the GP", &m.attendees)?,
        recorded: m.recorded,
    })
}

/// The assessment with its texts trimmed, or why it cannot be recorded: a done assessment
/// has a date, a tool and an outcome and no reason; one not indicated has only a reason.
pub(crate) fn checked_mental_health(
    a: MentalHealthAssessment,
    today: Date,
) -> Result<MentalHealthAssessment, EditError> {
    let (date, tool, outcome, reason) = match a.status {
        MentalHealthStatus::Done => {
            if !a.reason.trim().is_empty() {
                return Err(EditError::OnlyWhen {
                    field: "a reason",
                    when: "no assessment is indicated",
                });
            }
            (
                past_date("assessment date", &a.date, today)?,
                required("assessment tool", &a.tool)?,
                required_long("assessment outcome", &a.outcome)?,
                String::new(),
            )
        }
        MentalHealthStatus::NotIndicated => {
            let done_only = [
                ("an assessment date", &a.date),
                ("an assessment tool", &a.tool),
                ("an assessment outcome", &a.outcome),
            ];
            if let Some((field, _)) = done_only.into_iter().find(|(_, v)| !v.trim().is_empty()) {
                return Err(EditError::OnlyWhen {
                    field,
                    when: "the assessment was done",
                });
            }
            (
                String::new(),
                String::new(),
                String::new(),
                required_long("why no assessment is indicated", &a.reason)?,
            )
        }
    };
    Ok(MentalHealthAssessment {
        status: a.status,
        date,
        tool,
        outcome,
        reason,
        recorded: a.recorded,
    })
}
