//! The emergency summary ("yellow pages") as a FHIR R4 `document` Bundle.

use redfolder_shared::{CarePlan, DnacprStatus, EmergencySummary, SummaryDecision};
use serde_json::{Value, json};

use crate::export::{Entries, add_clinical, add_patient, add_resuscitation};
use crate::util::{coded, fhir_id, instant, narrative, prune, reference, urn};
use crate::{LOINC, SNOMED, SNOMED_DNACPR};

/// The emergency summary as a `document` Bundle: a Composition with one section per item
/// of the summary, in the summary's order, followed by the resources its sections cite.
/// The DNACPR section is coded with SNOMED CT 450476008 when CPR is not to be attempted.
///
/// `summary` must be `emergency_summary(plan)`; it is passed in because callers already
/// hold it (the server stores it). The bundle's timestamp and the Composition's date are
/// the plan's last change, so the same plan version gives the same document.
pub fn summary_document(patient_id: &str, plan: &CarePlan, summary: &EmergencySummary) -> Value {
    let mut e = Entries::new(patient_id);
    let patient = add_patient(&mut e, plan);
    add_clinical(&mut e, plan, &patient);
    let subject = reference(&patient, Some(&plan.patient.name));
    let resuscitation = add_resuscitation(&mut e, plan, &subject);
    let urls_of = |e: &Entries<'_>, kind: &str| -> Vec<Value> {
        e.entries
            .iter()
            .filter(|x| x["resource"]["resourceType"] == kind)
            .filter(|x| !is_in_error(&x["resource"]))
            .map(|x| reference(x["fullUrl"].as_str().unwrap_or_default(), None))
            .collect()
    };
    let conditions = urls_of(&e, "Condition");
    let medications = urls_of(&e, "MedicationStatement");
    let allergies = urls_of(&e, "AllergyIntolerance");
    let observations: Vec<Value> = urls_of(&e, "Observation")
        .into_iter()
        .filter(|r| !resuscitation.iter().any(|u| r["reference"] == u.as_str()))
        .collect();
    let s = summary;

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
    section("Identity", Value::Null, identity, vec![reference(&patient, None)]);

    let dnacpr_code = if s.dnacpr == DnacprStatus::DoNotAttemptCpr && !s.resuscitation.conflicting {
        coded(SNOMED, SNOMED_DNACPR, "Not for attempted cardiopulmonary resuscitation")
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
        vec![s.adrt.clone().unwrap_or_else(|| "No ADRT recorded".to_owned())],
        vec![],
    );
    section(
        "Lasting power of attorney (health and welfare)",
        Value::Null,
        s.lpa.iter().map(|c| format!("{}: {} {}", c.role, c.name, c.phone)).collect(),
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
    push_if(&mut places, "Preferred place of care", &s.preferred_place_of_care);
    places.extend(prefixed("Preferred place of death", &s.preferred_place_of_death));
    section("Preferred places of care and death", Value::Null, places, vec![]);
    section(
        "Key contacts",
        Value::Null,
        s.key_contacts.iter().map(|c| format!("{}: {} {}", c.role, c.name, c.phone)).collect(),
        vec![],
    );
    let mut problems: Vec<String> = s
        .conditions
        .iter()
        .map(|c| if c.treatment.is_empty() { c.name.clone() } else { format!("{}: {}", c.name, c.treatment) })
        .collect();
    push_if(&mut problems, "Prognosis", &s.prognosis);
    section("Problems and prognosis", coded(LOINC, "11450-4", "Problem list - Reported"), problems, conditions);
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
    allergy_lines.extend(s.allergy_list.iter().map(|a| format!("{}: {}", a.substance, a.reaction)));
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
    section("Baseline observations", coded(LOINC, "8716-3", "Vital signs"), baseline, observations);
    section(
        "Communication needs",
        Value::Null,
        if s.communication_needs.is_empty() { vec![] } else { vec![s.communication_needs.clone()] },
        vec![],
    );
    let mut about = vec![format!("Plan status: {}", s.plan_status), format!("Plan version: {}", s.plan_version)];
    if let Some(c) = &s.completed {
        about.push(format!("Plan completed by {} at {}", c.user_name, instant(c.at_ms)));
    }
    if let Some(cm) = &s.case_manager {
        about.push(format!("Case manager: {cm}"));
    }
    if let Some(n) = &s.next_review_due {
        about.push(format!("Next review due {n}"));
    }
    about.extend(decision_lines(&s.consent));
    if let Some(u) = &s.last_updated {
        about.push(format!("Last updated by {} at {}", u.user_name, instant(u.at_ms)));
    }
    section("About this plan", Value::Null, about, vec![]);
    if !s.conflicts.is_empty() {
        let lines = s
            .conflicts
            .iter()
            .map(|c| {
                let values: Vec<String> = c.values.iter().map(|v| format!("{} ({})", v.label, v.recorded.user_name)).collect();
                format!("CONFLICTING ENTRIES for {}: {}", c.field, values.join("; "))
            })
            .collect();
        section("Unresolved conflicts", Value::Null, lines, vec![]);
    }

    let at_ms = s.last_updated.as_ref().map_or(0, |a| a.at_ms);
    let author = s
        .last_updated
        .as_ref()
        .map_or_else(|| json!({ "display": "Red Folder" }), |a| json!({ "display": a.user_name }));
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
    prune(&mut composition);
    let url = e.url("Composition", composition_id);
    let mut entries = vec![json!({ "fullUrl": url, "resource": composition })];
    entries.append(&mut e.entries);
    json!({
        "resourceType": "Bundle",
        "identifier": {
            "system": "urn:ietf:rfc:3986",
            "value": urn(patient_id, "Bundle", &fhir_id("emergency-summary", &s.plan_version.chars().take(40).collect::<String>())),
        },
        "type": "document",
        "timestamp": instant(at_ms),
        "entry": entries,
    })
}

fn is_in_error(resource: &Value) -> bool {
    resource["status"] == "entered-in-error"
        || resource["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
}

fn push_if(lines: &mut Vec<String>, label: &str, value: &str) {
    if !value.trim().is_empty() {
        lines.push(format!("{label}: {value}"));
    }
}

fn decision_lines(d: &SummaryDecision) -> Vec<String> {
    let mut lines = vec![d.label.clone()];
    if let Some(r) = &d.recorded {
        lines.push(format!("Recorded by {} at {}", r.user_name, instant(r.at_ms)));
    }
    for v in &d.values {
        lines.push(format!("{} (recorded by {} at {})", v.label, v.recorded.user_name, instant(v.recorded.at_ms)));
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
