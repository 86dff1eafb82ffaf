//! The emergency summary ("yellow pages") as a FHIR R4 `document` Bundle.

use redfolder_shared::{AllergySeverity, DnacprReading, EmergencySummary, Sex, SummaryDecision};
use serde_json::{Value, json};

use crate::export::{Entries, medication_category, split_name};
use crate::profile;
use crate::util::{coded, date, fhir_id, instant, narrative, prune, reference, text, urn};
use crate::{LOINC, SNOMED, SNOMED_DNACPR, SNOMED_FOR_CPR};

/// The emergency summary as a `document` Bundle: a Composition with one section per item
/// of the summary, in the summary's order, followed by the resources its sections cite
/// (Patient, Condition, MedicationStatement, AllergyIntolerance, and an Observation for
/// the resuscitation decision, coded with SNOMED CT 450476008 when CPR is not to be
/// attempted; the DNACPR section carries the same code).
///
/// Built from the summary alone, so a summary published earlier (an emergency feed item)
/// renders as it was then, never with later content. The bundle's timestamp and the
/// Composition's date are the plan's last change: one plan version, one document.
pub fn summary_document(patient_id: &str, summary: &EmergencySummary) -> Value {
    let s = summary;
    let mut e = Entries::new(patient_id);
    let patient = add_summary_patient(&mut e, s);
    let subject = reference(&patient, Some(&s.name));
    let conditions: Vec<Value> = s
        .conditions
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let url = e.add(
                json!({
                    "resourceType": "Condition",
                    "id": format!("condition-{}", i + 1),
                    "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
                    "category": [coded("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")],
                    "code": text(&c.name),
                    "subject": subject,
                    "note": [if c.treatment.is_empty() { Value::Null } else { json!({ "text": c.treatment }) }],
                }),
                None,
            );
            reference(&url, None)
        })
        .collect();
    let medications: Vec<Value> = s
        .medications
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let url = e.add(
                json!({
                    "resourceType": "MedicationStatement",
                    "id": format!("medication-{}", i + 1),
                    "status": "active",
                    "category": medication_category(m.anticipatory),
                    "medicationCodeableConcept": text(&m.name),
                    "subject": subject,
                    "dosage": [if m.dose.is_empty() { Value::Null } else { json!({ "text": m.dose }) }],
                    "note": [
                        if m.notes.is_empty() { Value::Null } else { json!({ "text": m.notes }) },
                        if m.location.is_empty() { Value::Null } else { json!({ "text": format!("Kept: {}", m.location) }) },
                    ],
                }),
                None,
            );
            reference(&url, None)
        })
        .collect();
    let allergies: Vec<Value> = s
        .allergy_list
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let severity = match a.severity {
                AllergySeverity::Mild => Value::from("mild"),
                AllergySeverity::Moderate => "moderate".into(),
                AllergySeverity::Severe => "severe".into(),
                AllergySeverity::Unknown => Value::Null,
            };
            let url = e.add(
                json!({
                    "resourceType": "AllergyIntolerance",
                    "id": format!("allergy-{}", i + 1),
                    "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"),
                    "verificationStatus": if s.allergies.conflicting {
                        coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "unconfirmed", "Unconfirmed")
                    } else {
                        coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed")
                    },
                    "code": text(&a.substance),
                    "patient": subject,
                    "reaction": [if a.reaction.is_empty() { Value::Null } else {
                        json!({ "manifestation": [text(&a.reaction)], "severity": severity })
                    }],
                }),
                None,
            );
            reference(&url, None)
        })
        .collect();
    let resuscitation = add_summary_resuscitation(&mut e, s, &subject);

    let mut sections = Vec::new();
    let mut section = |title: &str, code: Value, lines: Vec<String>, entries: Vec<Value>| {
        sections.push(json!({
            "title": title,
            "code": code,
            "text": narrative(&lines),
            "entry": entries,
        }));
    };

    let mut identity = vec![
        format!("{} (NHS number {})", s.name, s.nhs_number_display),
        format!("Born {}", s.date_of_birth),
        format!("Address: {}", s.address),
    ];
    push_if(&mut identity, "Preferred name", &s.preferred_name);
    push_if(&mut identity, "Phone", &s.phone);
    push_if(&mut identity, "Residence", &s.residence);
    push_if(&mut identity, "GP practice", &s.gp_practice);
    push_if(&mut identity, "Named GP", &s.named_gp);
    section(
        "Identity",
        Value::Null,
        identity,
        vec![reference(&patient, None)],
    );

    let dnacpr_code = if s.dnacpr == DnacprReading::DoNotAttemptCpr && !s.resuscitation.conflicting
    {
        coded(
            SNOMED,
            SNOMED_DNACPR,
            "Not for attempted cardiopulmonary resuscitation",
        )
    } else {
        coded(SNOMED, "735324008", "Treatment escalation plan")
    };
    section(
        "Resuscitation (DNACPR / ReSPECT)",
        dnacpr_code,
        decision_lines(&s.resuscitation),
        resuscitation.iter().map(|u| reference(u, None)).collect(),
    );
    section(
        "Advance decision to refuse treatment",
        Value::Null,
        vec![
            s.adrt
                .clone()
                .unwrap_or_else(|| "No ADRT recorded".to_owned()),
        ],
        vec![],
    );
    section(
        "Lasting power of attorney (health and welfare)",
        Value::Null,
        s.lpa
            .iter()
            .map(|c| format!("{}: {} {}", c.role, c.name, c.phone))
            .collect(),
        vec![],
    );
    let mut escalation = Vec::new();
    if let Some(f) = &s.focus_of_care {
        escalation.push(format!("Focus of care: {f}"));
    }
    escalation.extend(prefixed("Ceiling of treatment", &s.ceiling_of_treatment));
    escalation.extend(prefixed("Admission", &s.admission_wanted));
    for p in &s.escalation_plans {
        let mut line = format!("{}: {}", p.condition, p.plan);
        if !p.rescue_pack.is_empty() {
            line.push_str(&format!(" (rescue pack: {})", p.rescue_pack));
        }
        escalation.push(line);
    }
    push_if(&mut escalation, "Exacerbation plan", &s.exacerbation_plan);
    section(
        "Treatment escalation",
        coded(SNOMED, "735324008", "Treatment escalation plan"),
        escalation,
        vec![],
    );
    let mut places = Vec::new();
    push_if(
        &mut places,
        "Preferred place of care",
        &s.preferred_place_of_care,
    );
    places.extend(prefixed(
        "Preferred place of death",
        &s.preferred_place_of_death,
    ));
    section(
        "Preferred places of care and death",
        Value::Null,
        places,
        vec![],
    );
    section(
        "Key contacts",
        Value::Null,
        s.key_contacts
            .iter()
            .map(|c| format!("{}: {} {}", c.role, c.name, c.phone))
            .collect(),
        vec![],
    );
    let mut problems: Vec<String> = s
        .conditions
        .iter()
        .map(|c| {
            if c.treatment.is_empty() {
                c.name.clone()
            } else {
                format!("{}: {}", c.name, c.treatment)
            }
        })
        .collect();
    push_if(&mut problems, "Prognosis", &s.prognosis);
    section(
        "Problems and prognosis",
        coded(LOINC, "11450-4", "Problem list - Reported"),
        problems,
        conditions,
    );
    section(
        "Medications",
        coded(LOINC, "10160-0", "History of Medication use Narrative"),
        s.medications
            .iter()
            .map(|m| {
                let mut line = format!("{} {}", m.name, m.dose);
                if m.anticipatory {
                    line.push_str(" (anticipatory)");
                }
                if !m.location.is_empty() {
                    line.push_str(&format!(", kept: {}", m.location));
                }
                if !m.notes.is_empty() {
                    line.push_str(&format!("; {}", m.notes));
                }
                line
            })
            .collect(),
        medications,
    );
    let mut allergy_lines = decision_lines(&s.allergies);
    allergy_lines.extend(
        s.allergy_list
            .iter()
            .map(|a| format!("{}: {}", a.substance, a.reaction)),
    );
    section(
        "Allergies",
        coded(LOINC, "48765-2", "Allergies and adverse reactions Document"),
        allergy_lines,
        allergies,
    );
    let mut baseline = s.baseline.lines.clone();
    if let Some(d) = &s.baseline.observed_on {
        baseline.push(format!("Observed on {d}"));
    }
    section(
        "Baseline observations",
        coded(LOINC, "8716-3", "Vital signs"),
        baseline,
        vec![],
    );
    section(
        "Communication needs",
        Value::Null,
        if s.communication_needs.is_empty() {
            vec![]
        } else {
            vec![s.communication_needs.clone()]
        },
        vec![],
    );
    let mut about = vec![
        format!("Plan status: {}", s.plan_status),
        format!("Plan version: {}", s.plan_version),
    ];
    if let Some(end) = &s.case_management_ended {
        about.push(end.notice.clone());
    }
    if let Some(c) = &s.completed {
        about.push(format!(
            "Plan completed by {} at {}",
            c.user_name,
            instant(c.at_ms)
        ));
    }
    if let Some(cm) = &s.case_manager {
        about.push(format!("Case manager: {cm}"));
    }
    if let Some(n) = &s.next_review_due {
        about.push(format!("Next review due {n}"));
    }
    about.extend(decision_lines(&s.consent));
    if let Some(u) = &s.last_updated {
        about.push(format!(
            "Last updated by {} at {}",
            u.user_name,
            instant(u.at_ms)
        ));
    }
    section("About this plan", Value::Null, about, vec![]);
    if !s.conflicts.is_empty() {
        let lines = s
            .conflicts
            .iter()
            .map(|c| {
                let values: Vec<String> = c
                    .values
                    .iter()
                    .map(|v| format!("{} ({})", v.label, v.recorded.user_name))
                    .collect();
                format!("CONFLICTING ENTRIES for {}: {}", c.field, values.join("; "))
            })
            .collect();
        section("Unresolved conflicts", Value::Null, lines, vec![]);
    }

    let at_ms = s.last_updated.as_ref().map_or(0, |a| a.at_ms);
    let author = match &s.last_updated {
        Some(a) => e.user(a),
        None => json!({ "display": "Red Folder" }),
    };
    let composition_id = "emergency-summary";
    let mut composition = json!({
        "resourceType": "Composition",
        "id": composition_id,
        "status": "final",
        "type": coded(LOINC, "60591-5", "Patient summary Document"),
        "subject": subject,
        "date": instant(at_ms),
        "author": [author],
        "title": "Emergency summary (red folder yellow pages)",
        "section": sections,
    });
    profile::claim(&mut composition);
    prune(&mut composition);
    e.add_parties();
    let url = e.url("Composition", composition_id);
    let mut entries = vec![json!({ "fullUrl": url, "resource": composition })];
    entries.append(&mut e.entries);
    json!({
        "resourceType": "Bundle",
        "meta": { "profile": [profile::uk_core("Bundle")] },
        "identifier": {
            "system": "urn:ietf:rfc:3986",
            "value": urn(patient_id, "Bundle", &fhir_id("emergency-summary", &s.plan_version.chars().take(40).collect::<String>())),
        },
        "type": "document",
        "timestamp": instant(at_ms),
        "entry": entries,
    })
}

fn add_summary_patient(e: &mut Entries<'_>, s: &EmergencySummary) -> String {
    // The summary names the practice as one line ("name (ODS)"), so its Organization
    // carries that line as its name and no identifier.
    let gp = if s.gp_practice.is_empty() {
        Value::Null
    } else {
        e.organization("", &s.gp_practice)
    };
    let (given, family) = split_name(&s.name);
    let gender = s.sex.map(|x| match x {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    });
    e.add(
        json!({
            "resourceType": "Patient",
            "id": "patient",
            "identifier": [profile::nhs_number_identifier(&s.nhs_number)],
            "name": [
                { "use": "official", "text": s.name, "family": family, "given": given },
                if s.preferred_name.is_empty() { Value::Null } else { json!({ "use": "usual", "text": s.preferred_name }) },
            ],
            "telecom": [if s.phone.is_empty() { Value::Null } else { json!({ "system": "phone", "value": s.phone, "use": "home" }) }],
            "gender": gender,
            "birthDate": date(&s.date_of_birth),
            "address": [if s.address.is_empty() { Value::Null } else { json!({ "use": "home", "text": s.address }) }],
            "generalPractitioner": [gp],
        }),
        None,
    )
}

/// The resuscitation decision as an Observation: the summary's status, or (when replicas
/// conflict) one `preliminary` Observation per value, described by its label.
fn add_summary_resuscitation(
    e: &mut Entries<'_>,
    s: &EmergencySummary,
    subject: &Value,
) -> Vec<String> {
    let r = &s.resuscitation;
    let observation = |id: String,
                       value: Value,
                       status: &str,
                       by: Option<&redfolder_shared::Attribution>,
                       note: &str| {
        json!({
            "resourceType": "Observation",
            "id": id,
            "status": status,
            "category": [coded("http://terminology.hl7.org/CodeSystem/observation-category", "survey", "Survey")],
            "code": coded(SNOMED, "735324008", "Treatment escalation plan"),
            "subject": subject,
            "issued": by.map(|a| instant(a.at_ms)),
            "valueCodeableConcept": value,
            "note": [{ "text": note }],
        })
    };
    if r.conflicting {
        return r
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let o = observation(
                    format!("resuscitation-{}", i + 1),
                    text(&v.label),
                    "preliminary",
                    Some(&v.recorded),
                    "CONFLICTING ENTRIES: confirm with the care team",
                );
                e.add(o, None)
            })
            .collect();
    }
    let value = match s.dnacpr {
        DnacprReading::DoNotAttemptCpr => coded(
            SNOMED,
            SNOMED_DNACPR,
            "Not for attempted cardiopulmonary resuscitation",
        ),
        DnacprReading::ForAttemptedCpr => coded(
            SNOMED,
            SNOMED_FOR_CPR,
            "For attempted cardiopulmonary resuscitation",
        ),
        // A conflict was handled above; this is a summary whose flag says conflicting
        // without its values (never served), so no value is coded rather than guessed.
        DnacprReading::NotRecorded | DnacprReading::Conflicting => return Vec::new(),
    };
    let o = observation(
        "resuscitation".to_owned(),
        value,
        "final",
        r.recorded.as_ref(),
        &r.label,
    );
    vec![e.add(o, None)]
}

fn push_if(lines: &mut Vec<String>, label: &str, value: &str) {
    if !value.trim().is_empty() {
        lines.push(format!("{label}: {value}"));
    }
}

fn decision_lines(d: &SummaryDecision) -> Vec<String> {
    let mut lines = vec![d.label.clone()];
    if let Some(r) = &d.recorded {
        lines.push(format!(
            "Recorded by {} at {}",
            r.user_name,
            instant(r.at_ms)
        ));
    }
    for v in &d.values {
        lines.push(format!(
            "{} (recorded by {} at {})",
            v.label,
            v.recorded.user_name,
            instant(v.recorded.at_ms)
        ));
    }
    lines
}

fn prefixed(label: &str, d: &SummaryDecision) -> Vec<String> {
    let mut lines = decision_lines(d);
    if let Some(first) = lines.first_mut() {
        *first = format!("{label}: {first}");
    }
    lines
}
