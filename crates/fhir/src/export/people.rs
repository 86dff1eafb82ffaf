//! Patient, EpisodeOfCare, CareTeam and RelatedPerson: who the plan is for and who
//! looks after them.

use redfolder_shared::{CarePlan, PlanStatus, Relationship, Sex, TeamContactKind};
use serde_json::{Value, json};

use super::Entries;
use super::clinical::latest;
use crate::SNOMED;
use crate::profile;
use crate::util::{coded, date, fhir_id, reference, text};

pub(super) fn add_patient(e: &mut Entries<'_>, plan: &CarePlan) -> String {
    let p = &plan.patient;
    let (given, family) = split_name(&p.name);
    let mut names =
        vec![json!({ "use": "official", "text": p.name, "family": family, "given": given })];
    if !p.preferred_name.is_empty() {
        names.push(json!({ "use": "usual", "text": p.preferred_name }));
    }
    let gender = p.sex.map(|s| match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    });
    let gp = practice(e, plan);
    // UK Core binds the language to BCP-47 (required), so the plan's free-text language
    // goes here only when it names a language with a known tag; it is always in the
    // CarePlan's notes too.
    let communication = match profile::language_tag(&p.interpreter_language) {
        Some((tag, name)) => json!({
            "language": {
                "coding": [{ "system": "urn:ietf:bcp:47", "code": tag, "display": name }],
                "text": p.interpreter_language,
            },
            "preferred": true,
        }),
        None => Value::Null,
    };
    let interpreter = if p.interpreter_language.is_empty() {
        Value::Null
    } else {
        json!({ "url": "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired", "valueBoolean": true })
    };
    let resource = json!({
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [profile::nhs_number_identifier(&p.nhs_number)],
        "name": names,
        "telecom": [if p.phone.is_empty() { Value::Null } else { json!({ "system": "phone", "value": p.phone, "use": "home" }) }],
        "gender": gender,
        "birthDate": date(&p.date_of_birth),
        "address": [if p.address.is_empty() { Value::Null } else { json!({ "use": "home", "text": p.address }) }],
        "extension": [interpreter],
        "communication": [communication],
        "generalPractitioner": [gp],
    });
    e.add(resource, None)
}

/// A reference to the patient's registered practice as an Organization (identified by
/// its ODS code when the plan has one), or null when the plan names no practice.
pub(super) fn practice(e: &mut Entries<'_>, plan: &CarePlan) -> Value {
    let p = &plan.patient;
    if p.gp_practice_ods.is_empty() && p.gp_practice_name.is_empty() {
        return Value::Null;
    }
    e.organization(&p.gp_practice_ods, &p.gp_practice_name)
}

/// A reference to the case manager as a Practitioner: the plan names them (with role and
/// phone) rather than linking a user account, so they have a Practitioner of their own.
pub(super) fn case_manager(e: &mut Entries<'_>, plan: &CarePlan) -> Value {
    match &plan.enrolment.case_manager {
        Some(cm) => e.named_practitioner(
            "case-manager",
            &cm.name,
            &cm.phone,
            &format!("{} ({})", cm.name, cm.role),
        ),
        None => Value::Null,
    }
}

/// "Ada May Example" → (["Ada", "May"], "Example"); a single word is the family name.
pub(crate) fn split_name(name: &str) -> (Vec<&str>, &str) {
    let mut words: Vec<&str> = name.split_whitespace().collect();
    let family = words.pop().unwrap_or_default();
    (words, family)
}

pub(super) fn add_episode(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) -> String {
    let en = &plan.enrolment;
    let status = match en.status {
        PlanStatus::Draft => "planned",
        PlanStatus::Complete | PlanStatus::UnderReview => "active",
        PlanStatus::Ended => "finished",
    };
    let cohort = en.cohort.map(|c| {
        serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default()
    });
    let tier = en.tier.map(|t| {
        serde_json::to_value(t)
            .ok()
            .and_then(|v| v.as_str().map(|s| format!("tier: {s}")))
            .unwrap_or_default()
    });
    let resource = json!({
        "resourceType": "EpisodeOfCare",
        "id": "enrolment",
        "status": status,
        "type": [
            coded(SNOMED, "416341003", "Case management started"),
            cohort.map(|c| text(&format!("cohort: {c}"))),
            tier.map(|t| text(&t)),
        ],
        "patient": subject,
        "period": {
            "start": en.start_date.as_deref().and_then(date),
            "end": en.ended.as_ref().and_then(|x| date(&x.date)),
        },
        "careManager": case_manager(e, plan),
        "managingOrganization": practice(e, plan),
    });
    e.add(
        resource,
        en.ended
            .as_ref()
            .map(|x| &x.recorded)
            .or(en.completed.as_ref()),
    )
}

pub(super) fn add_care_team(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) -> String {
    let participants: Vec<Value> = plan
        .active_care_team()
        .map(|m| {
            let kind = match m.kind {
                TeamContactKind::Member => "",
                TeamContactKind::GpBypass => "GP bypass: ",
                TeamContactKind::OutOfHours => "out of hours: ",
            };
            let mut display = format!("{kind}{}", m.name);
            if !m.phone.is_empty() {
                display.push_str(&format!(", {}", m.phone));
            }
            if !m.hours.is_empty() {
                display.push_str(&format!(" ({})", m.hours));
            }
            json!({
                "role": [text(&m.role)],
                "member": { "display": display },
                "onBehalfOf": if m.organisation.is_empty() { Value::Null } else { e.organization("", &m.organisation) },
            })
        })
        .collect::<Vec<_>>();
    let resource = json!({
        "resourceType": "CareTeam",
        "id": "care-team",
        "status": if plan.enrolment.status == PlanStatus::Ended { "inactive" } else { "active" },
        "name": format!("Case management team of {}", plan.patient.name),
        "subject": subject,
        "participant": participants,
    });
    let by = plan
        .active_care_team()
        .map(|m| &m.recorded)
        .max_by_key(|a| a.at_ms);
    e.add(resource, by)
}

pub(super) fn add_related_person(
    e: &mut Entries<'_>,
    c: &redfolder_shared::Contact,
    patient: &str,
) {
    let relationship = match c.relationship {
        Some(Relationship::NextOfKin) => coded(
            "http://terminology.hl7.org/CodeSystem/v2-0131",
            "N",
            "Next-of-Kin",
        ),
        Some(Relationship::MainCarer) => coded(
            "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
            "CAREGIVER",
            "caregiver",
        ),
        Some(Relationship::LpaHealthAndWelfare) => coded(
            "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
            "HPOWATT",
            "healthcare power of attorney",
        ),
        Some(Relationship::Other) | None => text(&c.role),
    };
    let resource = json!({
        "resourceType": "RelatedPerson",
        "id": fhir_id("contact", &c.id),
        "active": c.entered_in_error.is_none(),
        "patient": reference(patient, None),
        "relationship": [relationship],
        "name": [{ "text": c.name }],
        "telecom": [if c.phone.is_empty() { Value::Null } else { json!({ "system": "phone", "value": c.phone }) }],
    });
    e.add(
        resource,
        Some(latest(
            &c.recorded,
            c.entered_in_error.as_ref().map(|x| &x.by),
        )),
    );
}
