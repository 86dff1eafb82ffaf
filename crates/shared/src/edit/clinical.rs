//! The clinical lists, baseline observations, plans and goals.

use super::*;

/// Applies `edit`, one of this module's kinds (the caller routes only those here).
pub(super) fn apply(
    edit: &Edit,
    plan: &mut CarePlan,
    by: &Attribution,
    today: Date,
) -> Result<Vec<Field>, EditError> {
    let touched = match edit {
        Edit::AddCondition {
            id,
            name,
            treatment,
        } => {
            unique_id(id, plan.conditions.iter().map(|c| &c.id))?;
            plan.conditions.push(Condition {
                id: id.clone(),
                name: required("condition", name)?,
                treatment: optional("treatment", treatment, MAX_LONG)?,
                recorded: by.clone(),
                entered_in_error: None,
                updated: None,
            });
            vec![Field::Conditions]
        }
        Edit::AddMedication {
            id,
            name,
            dose,
            notes,
        } => {
            unique_id(id, plan.medications.iter().map(|m| &m.id))?;
            plan.medications.push(Medication {
                id: id.clone(),
                name: required("medication", name)?,
                dose: optional("dose", dose, MAX_SHORT)?,
                notes: optional("notes", notes, MAX_LONG)?,
                recorded: by.clone(),
                entered_in_error: None,
                anticipatory: false,
                location: String::new(),
                updated: None,
            });
            vec![Field::Medications]
        }
        Edit::AddAnticipatoryMedication {
            id,
            name,
            dose,
            location,
            notes,
        } => {
            unique_id(id, plan.medications.iter().map(|m| &m.id))?;
            plan.medications.push(Medication {
                id: id.clone(),
                name: required("medication", name)?,
                dose: optional("dose", dose, MAX_SHORT)?,
                notes: optional("notes", notes, MAX_LONG)?,
                recorded: by.clone(),
                entered_in_error: None,
                anticipatory: true,
                location: required("where the medicine is kept", location)?,
                updated: None,
            });
            vec![Field::Medications]
        }
        Edit::AddAllergy {
            id,
            substance,
            reaction,
            severity,
        } => {
            unique_id(id, plan.allergies.iter().map(|a| &a.id))?;
            plan.allergies.push(Allergy {
                id: id.clone(),
                substance: required("allergen", substance)?,
                reaction: optional("reaction", reaction, MAX_SHORT)?,
                severity: *severity,
                recorded: by.clone(),
                entered_in_error: None,
                updated: None,
            });
            // Adding an allergy states that the patient has allergies. Written every
            // time, so a concurrent "no known allergies" always meets it as a conflict.
            plan.allergy_status = Some(AllergyStatement {
                status: AllergyStatus::AllergiesRecorded,
                recorded: by.clone(),
            });
            resolved(plan, SafetyField::Allergies);
            vec![Field::Allergies, Field::AllergyStatus]
        }
        Edit::RecordNoKnownAllergies => {
            if plan.active_allergies().next().is_some() {
                return Err(EditError::AllergiesListed);
            }
            plan.allergy_status = Some(AllergyStatement {
                status: AllergyStatus::NoKnownAllergies,
                recorded: by.clone(),
            });
            resolved(plan, SafetyField::Allergies);
            vec![Field::AllergyStatus]
        }
        Edit::MarkEnteredInError { list, id } => mark_entered_in_error(plan, *list, id, by)?,
        Edit::UpdateCondition {
            id,
            name,
            treatment,
        } => {
            let c = live_entry!(plan.conditions, id);
            update(&mut c.name, name, |v| required("condition", v))?;
            update(&mut c.treatment, treatment, |v| {
                optional("treatment", v, MAX_LONG)
            })?;
            c.updated = Some(by.clone());
            vec![Field::Conditions]
        }
        Edit::UpdateMedication {
            id,
            name,
            dose,
            notes,
            location,
        } => {
            let m = live_entry!(plan.medications, id);
            update(&mut m.name, name, |v| required("medication", v))?;
            update(&mut m.dose, dose, |v| optional("dose", v, MAX_SHORT))?;
            update(&mut m.notes, notes, |v| optional("notes", v, MAX_LONG))?;
            if location.is_some() && !m.anticipatory {
                return Err(EditError::NotApplicable {
                    field: "where the medicine is kept",
                });
            }
            update(&mut m.location, location, |v| {
                required("where the medicine is kept", v)
            })?;
            m.updated = Some(by.clone());
            vec![Field::Medications]
        }
        Edit::UpdateAllergy {
            id,
            substance,
            reaction,
            severity,
        } => {
            let a = live_entry!(plan.allergies, id);
            update(&mut a.substance, substance, |v| required("allergen", v))?;
            update(&mut a.reaction, reaction, |v| {
                optional("reaction", v, MAX_SHORT)
            })?;
            if let Some(severity) = severity {
                a.severity = *severity;
            }
            a.updated = Some(by.clone());
            vec![Field::Allergies]
        }
        Edit::UpdateEscalationPlan {
            id,
            condition,
            rescue_pack,
        } => {
            let e = live_entry!(plan.escalation_plans, id);
            update(&mut e.condition, condition, |v| required("condition", v))?;
            update(&mut e.rescue_pack, rescue_pack, |v| {
                optional("rescue pack", v, MAX_SHORT * 2)
            })?;
            e.updated = Some(by.clone());
            vec![Field::EscalationPlans]
        }
        Edit::UpdateGoal {
            id,
            what_matters,
            goal,
            owner,
        } => {
            let g = live_goal(plan, id)?;
            update(&mut g.what_matters, what_matters, |v| {
                optional("what matters", v, MAX_LONG)
            })?;
            update(&mut g.goal, goal, |v| required("goal", v))?;
            update(&mut g.owner, owner, |v| optional("owner", v, MAX_SHORT))?;
            g.updated = Some(by.clone());
            vec![Field::Goals]
        }
        Edit::SetExacerbationPlan { text } => {
            set_text(plan, &TextTarget::ExacerbationPlan, |t, field| {
                replace_text(t, field, text)
            })?
        }
        Edit::SpliceExacerbationPlan {
            index,
            delete,
            insert,
        } => set_text(plan, &TextTarget::ExacerbationPlan, |t, field| {
            splice_text(t, field, *index, *delete, insert)
        })?,
        Edit::SetText { target, text } => {
            set_text(plan, target, |t, field| replace_text(t, field, text))?
        }
        Edit::SpliceText {
            target,
            index,
            delete,
            insert,
        } => set_text(plan, target, |t, field| {
            splice_text(t, field, *index, *delete, insert)
        })?,
        Edit::SetBaseline {
            pulse_bpm,
            systolic_mmhg,
            diastolic_mmhg,
            respiratory_rate,
            spo2_percent,
            temperature_decidegrees,
        } => {
            plan.baseline = checked_baseline(BaselineObservations {
                pulse_bpm: *pulse_bpm,
                systolic_mmhg: *systolic_mmhg,
                diastolic_mmhg: *diastolic_mmhg,
                respiratory_rate: *respiratory_rate,
                spo2_percent: *spo2_percent,
                temperature_decidegrees: *temperature_decidegrees,
                recorded: Some(by.clone()),
                ..BaselineObservations::default()
            })?;
            vec![Field::Baseline]
        }
        Edit::RecordBaseline {
            observed_on,
            usual_cognition,
            usual_mobility,
            ..
        } => {
            plan.baseline = checked_baseline(BaselineObservations {
                recorded: Some(by.clone()),
                usual_cognition: optional("usual cognition", usual_cognition, MAX_SHORT * 2)?,
                usual_mobility: optional("usual mobility", usual_mobility, MAX_SHORT * 2)?,
                observed_on: Some(past_date("observation date", observed_on, today)?),
                ..edit.baseline_readings().unwrap_or_default()
            })?;
            vec![Field::Baseline]
        }
        Edit::AddEscalationPlan {
            id,
            condition,
            plan: text,
            rescue_pack,
        } => {
            unique_id(id, plan.escalation_plans.iter().map(|e| &e.id))?;
            if text.chars().count() > MAX_LONG {
                return Err(EditError::TooLong {
                    field: "escalation plan",
                    max: MAX_LONG,
                });
            }
            plan.escalation_plans.push(EscalationPlan {
                id: id.clone(),
                condition: required("condition", condition)?,
                plan: autosurgeon::Text::with_value(text),
                rescue_pack: optional("rescue pack", rescue_pack, MAX_SHORT * 2)?,
                recorded: by.clone(),
                entered_in_error: None,
                updated: None,
            });
            vec![Field::EscalationPlans]
        }
        Edit::AddGoal {
            id,
            what_matters,
            goal,
            owner,
        } => {
            unique_id(id, plan.goals.iter().map(|g| &g.id))?;
            plan.goals.push(Goal {
                id: id.clone(),
                what_matters: optional("what matters", what_matters, MAX_LONG)?,
                goal: required("goal", goal)?,
                owner: optional("owner", owner, MAX_SHORT)?,
                status: GoalStatus::Agreed,
                actions: Vec::new(),
                recorded: by.clone(),
                updated: None,
                entered_in_error: None,
            });
            vec![Field::Goals]
        }
        Edit::SetGoalStatus { id, status } => {
            let goal = live_goal(plan, id)?;
            goal.status = *status;
            goal.updated = Some(by.clone());
            vec![Field::Goals]
        }
        Edit::AddGoalAction {
            goal_id,
            id,
            action,
            owner,
        } => {
            let action = required("action", action)?;
            let owner = optional("owner", owner, MAX_SHORT)?;
            let goal = live_goal(plan, goal_id)?;
            unique_id(id, goal.actions.iter().map(|a| &a.id))?;
            goal.actions.push(GoalAction {
                id: id.clone(),
                action,
                owner,
                status: ActionStatus::Planned,
                recorded: by.clone(),
                updated: None,
            });
            vec![Field::Goals]
        }
        Edit::SetGoalActionStatus {
            goal_id,
            id,
            status,
        } => {
            let goal = live_goal(plan, goal_id)?;
            let action = goal
                .actions
                .iter_mut()
                .find(|a| &a.id == id)
                .ok_or_else(|| EditError::UnknownEntry(id.clone()))?;
            action.status = *status;
            action.updated = Some(by.clone());
            vec![Field::Goals]
        }
        _ => unreachable!("edit::apply_to routes only clinical edits here"),
    };
    Ok(touched)
}

fn live_goal<'a>(plan: &'a mut CarePlan, id: &str) -> Result<&'a mut Goal, EditError> {
    let goal = plan
        .goals
        .iter_mut()
        .find(|g| g.id == id)
        .ok_or_else(|| EditError::UnknownEntry(id.to_owned()))?;
    if goal.entered_in_error.is_some() {
        return Err(EditError::AlreadyEnteredInError(id.to_owned()));
    }
    Ok(goal)
}

fn mark_entered_in_error(
    plan: &mut CarePlan,
    list: EntryList,
    id: &str,
    by: &Attribution,
) -> Result<Vec<Field>, EditError> {
    macro_rules! slot {
        ($field:ident) => {
            plan.$field
                .iter_mut()
                .find(|e| e.id == id)
                .map(|e| &mut e.entered_in_error)
        };
    }
    let (slot, field) = match list {
        EntryList::Conditions => (slot!(conditions), Field::Conditions),
        EntryList::Medications => (slot!(medications), Field::Medications),
        EntryList::KeyContacts => (slot!(key_contacts), Field::KeyContacts),
        EntryList::CareTeam => (slot!(care_team), Field::CareTeam),
        EntryList::Allergies => (slot!(allergies), Field::Allergies),
        EntryList::EscalationPlans => (slot!(escalation_plans), Field::EscalationPlans),
        EntryList::Goals => (slot!(goals), Field::Goals),
        EntryList::Reviews => (slot!(reviews), Field::Reviews),
        EntryList::MdtDiscussions => (slot!(mdt_discussions), Field::MdtDiscussions),
        EntryList::Advice => (slot!(advice), Field::Advice),
    };
    let slot = slot.ok_or_else(|| EditError::UnknownEntry(id.to_owned()))?;
    if slot.is_some() {
        return Err(EditError::AlreadyEnteredInError(id.to_owned()));
    }
    *slot = Some(EnteredInError { by: by.clone() });
    let mut touched = vec![field];
    // With its last allergy withdrawn the plan no longer says anything about allergies:
    // neither "allergies recorded" nor, without someone checking, "none known".
    if list == EntryList::Allergies
        && plan.active_allergies().next().is_none()
        && plan
            .allergy_status
            .as_ref()
            .is_some_and(|s| s.status == AllergyStatus::AllergiesRecorded)
        && plan.conflict(SafetyField::Allergies).is_none()
    {
        plan.allergy_status = Some(AllergyStatement {
            status: AllergyStatus::NotRecorded,
            recorded: by.clone(),
        });
        touched.push(Field::AllergyStatus);
    }
    Ok(touched)
}

fn set_text(
    plan: &mut CarePlan,
    target: &TextTarget,
    change: impl FnOnce(&mut autosurgeon::Text, &'static str) -> Result<(), EditError>,
) -> Result<Vec<Field>, EditError> {
    let (text, name, field) = match target {
        TextTarget::ExacerbationPlan => (
            &mut plan.exacerbation_plan,
            "exacerbation plan",
            Field::ExacerbationPlan,
        ),
        TextTarget::SelfManagementAdvice => (
            &mut plan.self_management_advice,
            "self-management advice",
            Field::SelfManagementAdvice,
        ),
        TextTarget::EquipmentAndServices => (
            &mut plan.equipment_and_services,
            "equipment and services",
            Field::EquipmentAndServices,
        ),
        TextTarget::EscalationPlan { id } => {
            let e = plan
                .escalation_plans
                .iter_mut()
                .find(|e| &e.id == id)
                .ok_or_else(|| EditError::UnknownEntry(id.clone()))?;
            (&mut e.plan, "escalation plan", Field::EscalationPlans)
        }
        TextTarget::ReviewNotes { id } => {
            let r = plan
                .reviews
                .iter_mut()
                .find(|r| &r.id == id)
                .ok_or_else(|| EditError::UnknownEntry(id.clone()))?;
            (&mut r.notes, "review notes", Field::Reviews)
        }
    };
    change(text, name)?;
    Ok(vec![field])
}

fn replace_text(
    text: &mut autosurgeon::Text,
    field: &'static str,
    value: &str,
) -> Result<(), EditError> {
    // Not trimmed: this is what is in the editor while someone types, and a trailing space
    // is the start of their next word.
    if value.chars().count() > MAX_LONG {
        return Err(EditError::TooLong {
            field,
            max: MAX_LONG,
        });
    }
    text.update(value);
    Ok(())
}

fn splice_text(
    text: &mut autosurgeon::Text,
    field: &'static str,
    index: usize,
    delete: usize,
    insert: &str,
) -> Result<(), EditError> {
    let current = text.as_str();
    let end = index
        .checked_add(delete)
        .filter(|&end| end <= current.len());
    let fits =
        end.is_some_and(|end| current.is_char_boundary(index) && current.is_char_boundary(end));
    if !fits {
        return Err(EditError::SpliceOutOfRange { index, delete });
    }
    if current.len() - delete + insert.len() > MAX_LONG {
        return Err(EditError::TooLong {
            field,
            max: MAX_LONG,
        });
    }
    text.splice(index, delete as isize, insert);
    Ok(())
}

impl Edit {
    /// The observations a `RecordBaseline` records, as given (unchecked, unattributed);
    /// `None` for any other edit.
    pub fn baseline_readings(&self) -> Option<BaselineObservations> {
        let Edit::RecordBaseline {
            observed_on,
            pulse_bpm,
            systolic_mmhg,
            diastolic_mmhg,
            respiratory_rate,
            spo2_percent,
            temperature_decidegrees,
            peak_flow_l_min,
            weight_decikg,
            known_af,
            usual_cognition,
            usual_mobility,
        } = self
        else {
            return None;
        };
        Some(BaselineObservations {
            pulse_bpm: *pulse_bpm,
            systolic_mmhg: *systolic_mmhg,
            diastolic_mmhg: *diastolic_mmhg,
            respiratory_rate: *respiratory_rate,
            spo2_percent: *spo2_percent,
            temperature_decidegrees: *temperature_decidegrees,
            recorded: None,
            peak_flow_l_min: *peak_flow_l_min,
            weight_decikg: *weight_decikg,
            known_af: *known_af,
            usual_cognition: usual_cognition.clone(),
            usual_mobility: usual_mobility.clone(),
            observed_on: Some(observed_on.clone()),
        })
    }
}

/// Checks every observation against a plausible range for an adult at rest, so a slip of
/// the finger (a pulse of 800) is caught before a crew compares against it.
pub(crate) fn checked_baseline(b: BaselineObservations) -> Result<BaselineObservations, EditError> {
    plausible("pulse", b.pulse_bpm, 20, 250)?;
    plausible("systolic blood pressure", b.systolic_mmhg, 50, 300)?;
    plausible("diastolic blood pressure", b.diastolic_mmhg, 20, 200)?;
    plausible("respiratory rate", b.respiratory_rate, 4, 70)?;
    plausible("SpO2", b.spo2_percent, 50, 100)?;
    plausible(
        "temperature (tenths of °C)",
        b.temperature_decidegrees,
        300,
        450,
    )?;
    plausible("peak flow (L/min)", b.peak_flow_l_min, 30, 900)?;
    plausible("weight (tenths of kg)", b.weight_decikg, 200, 3000)?;
    if let (Some(s), Some(d)) = (b.systolic_mmhg, b.diastolic_mmhg)
        && d >= s
    {
        return Err(EditError::DiastolicAboveSystolic);
    }
    Ok(b)
}
