//! Goal, Consent and the CarePlan resource that ties the plan's parts together.

use redfolder_shared::{
    ActionStatus, Attribution, CarePlan, ConsentGivenBy, ConsentRecipient, GoalStatus, PlanStatus,
    RegisterState, Relationship, SafetyField,
};
use serde_json::{Value, json};

use super::Entries;
use super::observations::add_resuscitation;
use super::people::{case_manager, practice};
use crate::util::{annotation, coded, date, fhir_id, instant, reference, text};
use crate::{LOINC, SNOMED};

pub(super) fn add_goal(e: &mut Entries<'_>, g: &redfolder_shared::Goal, subject: &Value) -> String {
    let lifecycle = if g.entered_in_error.is_some() {
        "entered-in-error"
    } else {
        match g.status {
            GoalStatus::Agreed => "accepted",
            GoalStatus::InProgress => "active",
            GoalStatus::Achieved => "completed",
            GoalStatus::NoLongerRelevant => "cancelled",
        }
    };
    let resource = json!({
        "resourceType": "Goal",
        "id": fhir_id("goal", &g.id),
        "lifecycleStatus": lifecycle,
        "achievementStatus": if g.status == GoalStatus::Achieved {
            coded("http://terminology.hl7.org/CodeSystem/goal-achievement", "achieved", "Achieved")
        } else { Value::Null },
        "description": text(&g.goal),
        "subject": subject,
        "expressedBy": subject,
        "note": [
            if g.what_matters.is_empty() { Value::Null } else { json!({ "text": format!("What matters: {}", g.what_matters) }) },
            if g.owner.is_empty() { Value::Null } else { json!({ "text": format!("Owner: {}", g.owner) }) },
        ],
    });
    let by = g.updated.as_ref().unwrap_or(&g.recorded);
    e.add(resource, Some(by))
}

pub(super) fn add_consent(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) {
    let c = &plan.consent;
    let Some(recorded) = &c.recorded else { return };
    let actor = |r: ConsentRecipient| {
        json!({
            "role": coded("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP", "information recipient"),
            "reference": { "display": r.label() },
        })
    };
    let provisions: Vec<Value> = ConsentRecipient::ALL
        .iter()
        .map(|&r| {
            json!({
                "type": if c.recipients.contains(&r) { "permit" } else { "deny" },
                "actor": [actor(r)],
            })
        })
        .collect();
    let conflicting = plan.conflict(SafetyField::Consent).is_some();
    // Consent given by an LPA holder refers to them when the plan names exactly one.
    let lpa: Vec<&redfolder_shared::Contact> = plan
        .active_contacts()
        .filter(|k| k.relationship == Some(Relationship::LpaHealthAndWelfare))
        .collect();
    let performer = match (c.given_by, lpa.as_slice()) {
        (Some(ConsentGivenBy::Patient) | None, _) => subject.clone(),
        (Some(ConsentGivenBy::LpaHolder), [holder]) => reference(
            &e.url("RelatedPerson", &fhir_id("contact", &holder.id)),
            Some(&format!("{} (LPA holder)", holder.name)),
        ),
        (Some(other), _) => json!({ "display": other.label() }),
    };
    let resource = json!({
        "resourceType": "Consent",
        "id": "consent",
        "status": if c.withdrawn.is_some() { "inactive" } else if conflicting { "proposed" } else { "active" },
        "scope": coded("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy", "Privacy Consent"),
        "category": [coded(LOINC, "59284-0", "Patient Consent")],
        "patient": subject,
        "dateTime": c.consent_date.as_deref().and_then(date).unwrap_or_else(|| instant(recorded.at_ms)),
        "performer": [performer],
        "organization": [practice(e, plan)],
        "policyRule": coded("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in"),
        "provision": {
            "type": "permit",
            "period": {
                "start": c.consent_date.as_deref().and_then(date),
                "end": c.withdrawn.as_ref().and_then(|w| date(&w.date)),
            },
            "provision": provisions,
        },
    });
    e.add(resource, Some(recorded));
}

pub(super) fn add_care_plan(
    e: &mut Entries<'_>,
    plan: &CarePlan,
    subject: &Value,
    episode: &str,
    team: &str,
    goals: &[String],
) {
    let en = &plan.enrolment;
    let status = match en.status {
        PlanStatus::Draft => "draft",
        PlanStatus::Complete | PlanStatus::UnderReview => "active",
        PlanStatus::Ended => "completed",
    };
    let conditions: Vec<Value> = plan
        .active_conditions()
        .map(|c| {
            reference(
                &e.url("Condition", &fhir_id("condition", &c.id)),
                Some(&c.name),
            )
        })
        .collect();
    let resuscitation = add_resuscitation(e, plan, subject);
    let mut supporting: Vec<Value> = vec![reference(episode, None)];
    supporting.extend(resuscitation.iter().map(|u| reference(u, None)));
    let activities: Vec<Value> = plan
        .active_goals()
        .flat_map(|g| {
            let goal_url = e.url("Goal", &fhir_id("goal", &g.id));
            g.actions.iter().map(move |a| {
                let status = match a.status {
                    ActionStatus::Planned => "not-started",
                    ActionStatus::Done => "completed",
                    ActionStatus::Cancelled => "cancelled",
                };
                json!({
                    "detail": {
                        "status": status,
                        "description": a.action,
                        "goal": [reference(&goal_url, None)],
                        "performer": [if a.owner.is_empty() { Value::Null } else { json!({ "display": a.owner }) }],
                    }
                })
            })
        })
        .collect();
    let mut notes = Vec::new();
    let mut note = |label: &str, body: &str, by: Option<&Attribution>| {
        if !body.trim().is_empty() {
            notes.push(annotation(&format!("{label}: {body}"), by));
        }
    };
    note("Exacerbation plan", plan.exacerbation_plan.as_str(), None);
    for p in plan.active_escalation_plans() {
        let mut body = p.plan.as_str().to_owned();
        if !p.rescue_pack.is_empty() {
            body.push_str(&format!(" (rescue pack: {})", p.rescue_pack));
        }
        note(
            &format!("Escalation plan for {}", p.condition),
            &body,
            Some(&p.recorded),
        );
    }
    note(
        "Self-management advice",
        plan.self_management_advice.as_str(),
        None,
    );
    note(
        "Equipment and services",
        plan.equipment_and_services.as_str(),
        None,
    );
    if plan.adrt.in_place {
        note(
            "Advance decision to refuse treatment",
            &format!(
                "{} (original: {})",
                plan.adrt.details, plan.adrt.original_location
            ),
            plan.adrt.recorded.as_ref(),
        );
    }
    if let Some(f) = plan.focus_of_care.focus {
        note(
            "Focus of care",
            &format!("{} {}", f.label(), plan.focus_of_care.notes),
            plan.focus_of_care.recorded.as_ref(),
        );
    }
    note(
        "Prognosis",
        &plan.focus_of_care.prognosis,
        plan.focus_of_care.recorded.as_ref(),
    );
    // The registers as their readings: a settled value, or "Conflicting: A / B" while
    // replicas disagree, never Automerge's arbitrary winner. The preferred place of care
    // is one collaborative value, not a register, so it cannot conflict.
    for (title, field) in [
        (
            "Ceiling of treatment",
            Some(SafetyField::CeilingOfTreatment),
        ),
        ("Admission", Some(SafetyField::AdmissionWanted)),
        ("Preferred place of care", None),
        (
            "Preferred place of death",
            Some(SafetyField::PreferredPlaceOfDeath),
        ),
    ] {
        let Some(field) = field else {
            note(title, &plan.preferred_place_of_care, None);
            continue;
        };
        let r = plan.reading(field);
        if r.state != RegisterState::NotRecorded {
            note(title, &r.label, r.recorded.as_ref());
        }
    }
    for c in &plan.conflicts {
        let values: Vec<String> = c
            .values
            .iter()
            .map(|v| {
                format!(
                    "{} ({}, {})",
                    v.label,
                    v.recorded.user_name,
                    instant(v.recorded.at_ms)
                )
            })
            .collect();
        note(
            &format!("CONFLICTING ENTRIES for {}", c.field),
            &values.join("; "),
            None,
        );
    }
    note("Access", &plan.patient.access_notes, None);
    note(
        "Communication needs",
        &plan.patient.communication_needs,
        None,
    );
    note(
        "Interpreter needed",
        &plan.patient.interpreter_language,
        None,
    );
    for r in plan.active_reviews() {
        note(
            &format!("Review {}", r.date),
            &format!("{} {}", r.notes.as_str(), r.changes),
            Some(&r.recorded),
        );
    }
    for m in plan.active_mdt_discussions() {
        note(
            &format!("MDT {}", m.date),
            &format!("{} {}", m.outcome, m.referrals),
            Some(&m.recorded),
        );
    }
    for a in plan.active_advice() {
        note(
            &format!("Advice from {} ({})", a.from_name, a.from_role),
            &a.advice,
            Some(&a.recorded),
        );
    }
    let resource = json!({
        "resourceType": "CarePlan",
        "id": "care-plan",
        "status": status,
        "intent": "plan",
        "category": [coded(SNOMED, "734163000", "Care plan")],
        "title": "Case management plan",
        "subject": subject,
        "period": {
            "start": en.start_date.as_deref().and_then(date),
            "end": en.ended.as_ref().and_then(|x| date(&x.date)),
        },
        "created": en.start_date.as_deref().and_then(date),
        "author": case_manager(e, plan),
        "careTeam": [reference(team, None)],
        "addresses": conditions,
        "supportingInfo": supporting,
        "goal": goals.iter().map(|g| reference(g, None)).collect::<Vec<_>>(),
        "activity": activities,
        "note": notes,
    });
    e.add(resource, plan.last_updated.as_ref());
}
