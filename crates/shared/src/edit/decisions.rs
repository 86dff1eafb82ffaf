//! The emergency decisions (registers) and resolving their conflicts.

use super::*;

/// Applies `edit`, one of this module's kinds (the caller routes only those here).
pub(super) fn apply(
    edit: &Edit,
    plan: &mut CarePlan,
    by: &Attribution,
    today: Date,
) -> Result<Vec<Field>, EditError> {
    let touched = match edit {
        Edit::SetDnacpr { status } => {
            set_resuscitation(
                plan,
                ResuscitationDecision {
                    status: *status,
                    respect_form: false,
                    decision_date: None,
                    decided_by: String::new(),
                    original_location: String::new(),
                    recorded: by.clone(),
                },
            );
            vec![Field::Dnacpr]
        }
        Edit::SetResuscitation {
            status,
            respect_form,
            decision_date,
            decided_by,
            original_location,
        } => {
            let decision_date = decision_date
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .map(|d| past_date("decision date", d, today))
                .transpose()?;
            let decided_by = optional("decided by", decided_by, MAX_SHORT)?;
            let original_location =
                optional("location of the original", original_location, MAX_SHORT)?;
            // A crew may act on a DNACPR only if they can see who decided it, when,
            // and where the signed original is.
            if *status == DnacprStatus::DoNotAttemptCpr {
                if decision_date.is_none() {
                    return Err(EditError::DnacprIncomplete("a decision date"));
                }
                if decided_by.is_empty() {
                    return Err(EditError::DnacprIncomplete("the clinician who decided"));
                }
                if original_location.is_empty() {
                    return Err(EditError::DnacprIncomplete(
                        "where the original form is kept",
                    ));
                }
            }
            set_resuscitation(
                plan,
                ResuscitationDecision {
                    status: *status,
                    respect_form: *respect_form,
                    decision_date,
                    decided_by,
                    original_location,
                    recorded: by.clone(),
                },
            );
            vec![Field::Dnacpr]
        }
        Edit::SetAdrt {
            in_place,
            details,
            original_location,
        } => {
            let details = optional("ADRT details", details, MAX_LONG)?;
            if *in_place && details.is_empty() {
                return Err(EditError::Required {
                    field: "ADRT details",
                });
            }
            plan.adrt = crate::plan::Adrt {
                in_place: *in_place,
                details,
                original_location: optional(
                    "location of the original",
                    original_location,
                    MAX_SHORT,
                )?,
                recorded: Some(by.clone()),
            };
            vec![Field::Adrt]
        }
        Edit::SetFocusOfCare {
            focus,
            notes,
            prognosis,
        } => {
            plan.focus_of_care = crate::plan::FocusOfCare {
                focus: *focus,
                notes: optional("focus of care notes", notes, MAX_LONG)?,
                prognosis: optional("prognosis", prognosis, MAX_LONG)?,
                recorded: Some(by.clone()),
            };
            vec![Field::FocusOfCare]
        }
        Edit::SetCeilingOfTreatment { ceiling, notes } => {
            plan.ceiling_of_treatment = Some(CeilingOfTreatment {
                ceiling: *ceiling,
                notes: optional("ceiling of treatment notes", notes, MAX_LONG)?,
                recorded: by.clone(),
            });
            resolved(plan, SafetyField::CeilingOfTreatment);
            vec![Field::CeilingOfTreatment]
        }
        Edit::SetAdmissionWanted { wanted, notes } => {
            plan.admission_wanted = Some(AdmissionDecision {
                wanted: *wanted,
                notes: optional("admission notes", notes, MAX_LONG)?,
                recorded: by.clone(),
            });
            resolved(plan, SafetyField::AdmissionWanted);
            vec![Field::AdmissionWanted]
        }
        Edit::SetPreferredPlaceOfCare { place } => {
            plan.preferred_place_of_care = optional("preferred place of care", place, MAX_SHORT)?;
            vec![Field::PreferredPlaceOfCare]
        }
        Edit::SetPreferredPlaceOfDeath { place } => {
            plan.preferred_place_of_death = Some(PlaceOfDeath {
                place: required("preferred place of death", place)?,
                recorded: by.clone(),
            });
            resolved(plan, SafetyField::PreferredPlaceOfDeath);
            vec![Field::PreferredPlaceOfDeath]
        }
        Edit::ResolveConflict { field, keep } => resolve(plan, *field, keep, by)?,
        _ => unreachable!("edit::apply_to routes only decisions edits here"),
    };
    Ok(touched)
}

fn set_resuscitation(plan: &mut CarePlan, decision: ResuscitationDecision) {
    plan.dnacpr = decision.status;
    plan.resuscitation = Some(decision);
    resolved(plan, SafetyField::Dnacpr);
}

fn resolve(
    plan: &mut CarePlan,
    field: SafetyField,
    keep: &str,
    by: &Attribution,
) -> Result<Vec<Field>, EditError> {
    let conflict = plan.conflict(field).ok_or(EditError::NoConflict(field))?;
    let kept = conflict
        .values
        .iter()
        .find(|v| v.id == keep)
        .ok_or_else(|| EditError::UnknownConflictValue {
            field,
            id: keep.to_owned(),
        })?
        .value
        .clone();
    // The kept value is re-recorded as the resolver's decision: they are the clinician who
    // looked at both and chose, and the history keeps who first recorded each.
    let touched = match kept {
        DecisionValue::Resuscitation(mut r) => {
            r.recorded = by.clone();
            set_resuscitation(plan, r);
            Field::Dnacpr
        }
        DecisionValue::AllergyStatement(AllergyStatement { status, .. }) => {
            if status == AllergyStatus::NoKnownAllergies && plan.active_allergies().next().is_some()
            {
                return Err(EditError::AllergiesListed);
            }
            plan.allergy_status = Some(AllergyStatement {
                status,
                recorded: by.clone(),
            });
            Field::AllergyStatus
        }
        DecisionValue::AllergyEntry(_) => {
            plan.allergy_status = Some(AllergyStatement {
                status: AllergyStatus::AllergiesRecorded,
                recorded: by.clone(),
            });
            Field::AllergyStatus
        }
        DecisionValue::CeilingOfTreatment(mut c) => {
            c.recorded = by.clone();
            plan.ceiling_of_treatment = Some(c);
            Field::CeilingOfTreatment
        }
        DecisionValue::AdmissionWanted(mut a) => {
            a.recorded = by.clone();
            plan.admission_wanted = Some(a);
            Field::AdmissionWanted
        }
        DecisionValue::PreferredPlaceOfDeath(mut p) => {
            p.recorded = by.clone();
            plan.preferred_place_of_death = Some(p);
            Field::PreferredPlaceOfDeath
        }
        DecisionValue::Consent(mut c) => {
            c.recorded = Some(by.clone());
            // A kept withdrawal is the resolver's decision too: the consent register is
            // written whole, and a change may carry no other clinician's name.
            if let Some(w) = &mut c.withdrawn {
                w.recorded = by.clone();
            }
            plan.consent = c;
            Field::Consent
        }
    };
    resolved(plan, field);
    Ok(vec![touched])
}
