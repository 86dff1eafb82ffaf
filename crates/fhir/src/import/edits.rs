//! What an import changes in a plan: the edits that merge it into a plan, and what is
//! left out and why.

use redfolder_shared::{AllergyStatus, CarePlan, DnacprStatus, Edit, SafetyField};

use super::{Import, ImportEdits, ImportedResuscitation};

pub(super) fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The edits that merge `import` into `existing` (or into a plan just created from
/// `import.patient`, when `existing` is `None`): patient details from the GP record, and
/// each condition, medicine and allergy the plan does not already list by name. `today`
/// (`YYYY-MM-DD`) dates a baseline whose observations carry no date.
///
/// A resuscitation decision is recorded only where the plan has none: an import never
/// changes one a clinician recorded, nor settles a conflict, and a DNACPR is recorded
/// only with what a crew needs to act on it (decision date, who decided, where the
/// original form is). What is left out is listed in [`ImportEdits::not_applied`].
pub fn import_edits(
    import: &Import,
    existing: Option<&CarePlan>,
    today: &str,
    new_id: &mut dyn FnMut() -> String,
) -> ImportEdits {
    let mut edits = Vec::new();
    let mut not_applied = Vec::new();
    let p = &import.patient;
    let current = existing.map(|plan| &plan.patient);
    if let Some(c) = current
        && (c.name != p.name || c.date_of_birth != p.date_of_birth || c.address != p.address)
    {
        edits.push(Edit::SetPatient {
            nhs_number: p.nhs_number.clone(),
            name: p.name.clone(),
            date_of_birth: p.date_of_birth.clone(),
            address: p.address.clone(),
        });
    }
    let pick = |new: &str, old: Option<&String>| {
        if new.is_empty() {
            old.cloned().unwrap_or_default()
        } else {
            new.to_owned()
        }
    };
    let details = Edit::SetPatientDetails {
        preferred_name: pick(&p.preferred_name, current.map(|c| &c.preferred_name)),
        sex: p.sex.or(current.and_then(|c| c.sex)),
        phone: pick(&p.phone, current.map(|c| &c.phone)),
        access_notes: current.map(|c| c.access_notes.clone()).unwrap_or_default(),
        residence: current.and_then(|c| c.residence),
        gp_practice_ods: pick(&p.gp_practice_ods, current.map(|c| &c.gp_practice_ods)),
        gp_practice_name: pick(&p.gp_practice_name, current.map(|c| &c.gp_practice_name)),
        named_gp: current.map(|c| c.named_gp.clone()).unwrap_or_default(),
        communication_needs: current
            .map(|c| c.communication_needs.clone())
            .unwrap_or_default(),
        interpreter_language: current
            .map(|c| c.interpreter_language.clone())
            .unwrap_or_default(),
    };
    let unchanged = current.is_some_and(|c| {
        let Edit::SetPatientDetails {
            preferred_name,
            sex,
            phone,
            gp_practice_ods,
            gp_practice_name,
            ..
        } = &details
        else {
            return false;
        };
        *preferred_name == c.preferred_name
            && *sex == c.sex
            && *phone == c.phone
            && *gp_practice_ods == c.gp_practice_ods
            && *gp_practice_name == c.gp_practice_name
    });
    let nothing_new = current.is_none()
        && p.preferred_name.is_empty()
        && p.sex.is_none()
        && p.phone.is_empty()
        && p.gp_practice_ods.is_empty();
    if !unchanged && !nothing_new {
        edits.push(details);
    }

    let mut conditions: Vec<String> = existing
        .map(|plan| plan.active_conditions().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    for c in &import.conditions {
        if conditions.iter().any(|n| same(n, &c.name)) {
            continue;
        }
        conditions.push(c.name.clone());
        edits.push(Edit::AddCondition {
            id: new_id(),
            name: c.name.clone(),
            treatment: c.treatment.clone(),
        });
    }
    let mut medications: Vec<String> = existing
        .map(|plan| plan.active_medications().map(|m| m.name.clone()).collect())
        .unwrap_or_default();
    for m in &import.medications {
        if medications.iter().any(|n| same(n, &m.name)) {
            continue;
        }
        medications.push(m.name.clone());
        edits.push(if m.anticipatory && !m.location.is_empty() {
            Edit::AddAnticipatoryMedication {
                id: new_id(),
                name: m.name.clone(),
                dose: m.dose.clone(),
                location: m.location.clone(),
                notes: m.notes.clone(),
            }
        } else {
            Edit::AddMedication {
                id: new_id(),
                name: m.name.clone(),
                dose: m.dose.clone(),
                notes: m.notes.clone(),
            }
        });
    }
    let mut allergies: Vec<String> = existing
        .map(|plan| {
            plan.active_allergies()
                .map(|a| a.substance.clone())
                .collect()
        })
        .unwrap_or_default();
    for a in &import.allergies {
        if allergies.iter().any(|n| same(n, &a.substance)) {
            continue;
        }
        allergies.push(a.substance.clone());
        edits.push(Edit::AddAllergy {
            id: new_id(),
            substance: a.substance.clone(),
            reaction: a.reaction.clone(),
            severity: a.severity,
        });
    }
    let status = existing.map_or(AllergyStatus::NotRecorded, |plan| plan.allergy_status());
    if import.no_known_allergies
        && allergies.is_empty()
        && status != AllergyStatus::NoKnownAllergies
    {
        edits.push(Edit::RecordNoKnownAllergies);
    }
    if let Some(edit) = &import.baseline
        && let Some(readings) = edit.baseline_readings()
    {
        let known = existing.is_some_and(|plan| plan.baseline.same_readings(&readings));
        if !known {
            let mut edit = edit.clone();
            if let Edit::RecordBaseline { observed_on, .. } = &mut edit
                && observed_on.is_empty()
            {
                today.clone_into(observed_on);
            }
            edits.push(edit);
        }
    }
    if let Some(r) = &import.resuscitation {
        match resuscitation_edit(r, existing) {
            Ok(Some(edit)) => edits.push(edit),
            Ok(None) => {}
            Err(why) => not_applied.push(format!("{}: {why}", r.at)),
        }
    }
    ImportEdits { edits, not_applied }
}

/// The edit recording an imported resuscitation decision, none when the plan already
/// says the same, or why it is not applied.
pub(super) fn resuscitation_edit(
    r: &ImportedResuscitation,
    existing: Option<&CarePlan>,
) -> Result<Option<Edit>, String> {
    if let Some(plan) = existing {
        if plan.conflict(SafetyField::Dnacpr).is_some() {
            return Err(format!(
                "{} not imported: the plan's resuscitation entries conflict; resolve them in the plan",
                r.status.label()
            ));
        }
        if plan.dnacpr == r.status {
            return Ok(None);
        }
        if plan.dnacpr != DnacprStatus::NotRecorded {
            return Err(format!(
                "the GP record says {:?} but the plan says {:?}: not changed; the care team must confirm which stands",
                r.status.label(),
                plan.dnacpr.label()
            ));
        }
    }
    if r.status == DnacprStatus::DoNotAttemptCpr {
        let mut missing = Vec::new();
        if r.decision_date.is_none() {
            missing.push("the decision date");
        }
        if r.decided_by.is_empty() {
            missing.push("who decided");
        }
        if r.original_location.is_empty() {
            missing.push("where the original form is");
        }
        if !missing.is_empty() {
            return Err(format!(
                "DNACPR not imported: a plan records it only with the decision date, who decided and where the original form is (missing {}); check the original form and record it in the plan",
                missing.join(", ")
            ));
        }
    }
    Ok(Some(Edit::SetResuscitation {
        status: r.status,
        respect_form: r.respect_form,
        decision_date: r.decision_date.clone(),
        decided_by: r.decided_by.clone(),
        original_location: r.original_location.clone(),
    }))
}
