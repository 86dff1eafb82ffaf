//! A GP system's FHIR R4 Bundle (Patient, Condition, MedicationStatement,
//! AllergyIntolerance, Observation, and a resuscitation decision coded with SNOMED CT)
//! read into plan edits.
//!
//! Parsing is all or nothing: [`parse_import`] either returns everything it understood
//! (and what it skipped) or refuses the bundle with every problem it found, so a caller
//! stores nothing from a bundle with an invalid NHS number or a missing required field.

pub(crate) mod clinic;
mod edits;
mod observations;
mod patient;
mod resuscitation;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use redfolder_shared::{AllergySeverity, DnacprStatus, Edit, Sex};
use serde_json::Value;

use crate::SNOMED_NO_KNOWN_ALLERGY;

pub use edits::import_edits;
use observations::Baseline;
use patient::read_patient;
use resuscitation::{one_resuscitation, read_resuscitation, resuscitation_status};

/// What a bundle says about one patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub patient: ImportedPatient,
    pub conditions: Vec<ImportedCondition>,
    pub medications: Vec<ImportedMedication>,
    pub allergies: Vec<ImportedAllergy>,
    /// The bundle states "no known allergy" (SNOMED CT 716186003).
    pub no_known_allergies: bool,
    /// Baseline observations, when the bundle has any vital signs.
    pub baseline: Option<Edit>,
    /// The resuscitation decision, when the bundle states one (and only one).
    pub resuscitation: Option<ImportedResuscitation>,
    /// Entries not imported, each with why (unknown resource types, entered in error,
    /// observations Red Folder does not keep).
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPatient {
    /// Ten digits, checked.
    pub nhs_number: String,
    pub name: String,
    pub preferred_name: String,
    pub date_of_birth: String,
    pub address: String,
    pub sex: Option<Sex>,
    pub phone: String,
    pub gp_practice_ods: String,
    pub gp_practice_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCondition {
    pub name: String,
    pub treatment: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedMedication {
    pub name: String,
    pub dose: String,
    pub notes: String,
    pub anticipatory: bool,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAllergy {
    pub substance: String,
    pub reaction: String,
    pub severity: AllergySeverity,
}

/// A DNACPR or "for attempted CPR" decision as the bundle states it: an Observation or
/// Consent coded (in its code, value, category or provision) with SNOMED CT 450476008 or
/// 304252001.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedResuscitation {
    /// Where it was read, for reports (`entry[4] Observation`).
    pub at: String,
    pub status: DnacprStatus,
    /// A note mentions a ReSPECT form.
    pub respect_form: bool,
    /// `YYYY-MM-DD`: the effective (or consent) date.
    pub decision_date: Option<String>,
    /// A "Decided by: …" note, else the first performer's name.
    pub decided_by: String,
    /// An "Original: …" note: where the signed form is.
    pub original_location: String,
}

/// The edits that merge an import into a plan, and what of the import they leave out
/// (a safety-critical decision is never changed by an import).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportEdits {
    pub edits: Vec<Edit>,
    /// Content read from the bundle but not applied, each with why.
    pub not_applied: Vec<String>,
}

/// One thing wrong with a bundle: where (`entry[3] Condition.code`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    pub at: String,
    pub problem: String,
}

/// Why a bundle was refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the bundle was refused: {}", .problems.iter().map(|p| format!("{}: {}", p.at, p.problem)).collect::<Vec<_>>().join("; "))]
pub struct ImportRefused {
    pub problems: Vec<ImportProblem>,
}

struct Problems(Vec<ImportProblem>);

impl Problems {
    fn add(&mut self, at: impl Into<String>, problem: impl Into<String>) {
        self.0.push(ImportProblem {
            at: at.into(),
            problem: problem.into(),
        });
    }
}

/// A CodeableConcept's words: its text, else its first coding's display.
fn concept_text(c: &Value) -> Option<String> {
    let t = c["text"].as_str().map(str::trim).filter(|s| !s.is_empty());
    let d = c["coding"].as_array().into_iter().flatten().find_map(|x| {
        x["display"]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    });
    t.or(d).map(str::to_owned)
}

fn has_code(c: &Value, code: &str) -> bool {
    c["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|x| x["code"] == code)
}

fn notes(r: &Value) -> Vec<String> {
    r["note"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["text"].as_str())
        .map(str::to_owned)
        .collect()
}

fn in_error(r: &Value) -> bool {
    r["status"] == "entered-in-error" || has_code(&r["verificationStatus"], "entered-in-error")
}

/// Reads a bundle, or refuses it with every problem found.
pub fn parse_import(bundle: &Value) -> Result<Import, ImportRefused> {
    let mut problems = Problems(Vec::new());
    if bundle["resourceType"] != "Bundle" {
        problems.add("resourceType", "not a FHIR Bundle");
        return Err(ImportRefused {
            problems: problems.0,
        });
    }
    let mut patient: Option<ImportedPatient> = None;
    let mut saw_patient = false;
    let mut import = Import {
        patient: ImportedPatient {
            nhs_number: String::new(),
            name: String::new(),
            preferred_name: String::new(),
            date_of_birth: String::new(),
            address: String::new(),
            sex: None,
            phone: String::new(),
            gp_practice_ods: String::new(),
            gp_practice_name: String::new(),
        },
        conditions: Vec::new(),
        medications: Vec::new(),
        allergies: Vec::new(),
        no_known_allergies: false,
        baseline: None,
        resuscitation: None,
        skipped: Vec::new(),
    };
    let mut baseline = Baseline::default();
    let mut resuscitation: Vec<ImportedResuscitation> = Vec::new();
    let empty = Vec::new();
    let entries = bundle["entry"].as_array().unwrap_or(&empty);
    // Entries by fullUrl and by `Type/id`, to follow references inside the bundle.
    let mut by_reference: HashMap<String, &Value> = HashMap::new();
    for entry in entries {
        let r = &entry["resource"];
        if let Some(url) = entry["fullUrl"].as_str() {
            by_reference.insert(url.to_owned(), r);
        }
        if let (Some(kind), Some(id)) = (r["resourceType"].as_str(), r["id"].as_str()) {
            by_reference.insert(format!("{kind}/{id}"), r);
        }
    }
    for (i, entry) in entries.iter().enumerate() {
        let r = &entry["resource"];
        let kind = r["resourceType"].as_str().unwrap_or_default();
        let at = format!("entry[{i}] {kind}");
        if kind.is_empty() {
            problems.add(format!("entry[{i}]"), "has no resource");
            continue;
        }
        if in_error(r) {
            import.skipped.push(format!("{at}: entered in error"));
            continue;
        }
        match kind {
            "Patient" => {
                saw_patient = true;
                if let Some(p) = read_patient(r, &at, &by_reference, &mut problems) {
                    match &patient {
                        Some(first) if first.nhs_number != p.nhs_number => problems.add(
                            at,
                            "a second Patient with another NHS number: a bundle imports one patient",
                        ),
                        Some(_) => import.skipped.push(format!("{at}: the same patient again")),
                        None => patient = Some(p),
                    }
                }
            }
            "Condition" => match concept_text(&r["code"]) {
                Some(name) => import.conditions.push(ImportedCondition {
                    name,
                    treatment: notes(r).join("; "),
                }),
                None => problems.add(format!("{at}.code"), "required: the condition's name (code.text or coding.display)"),
            },
            "MedicationStatement" => match concept_text(&r["medicationCodeableConcept"]) {
                Some(name) => {
                    let mut location = String::new();
                    let mut other = Vec::new();
                    for n in notes(r) {
                        match n.strip_prefix("Kept: ") {
                            Some(l) => location = l.to_owned(),
                            None => other.push(n),
                        }
                    }
                    let dose: Vec<String> = r["dosage"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d["text"].as_str().map(str::to_owned))
                        .collect();
                    // One CodeableConcept in R4; a list is read too, as some senders write one.
                    let categories: Vec<&Value> = match &r["category"] {
                        Value::Array(items) => items.iter().collect(),
                        Value::Null => Vec::new(),
                        one => vec![one],
                    };
                    let anticipatory = categories.into_iter().any(|c| {
                        has_code(c, "1066711000000100")
                            || c["text"].as_str().is_some_and(|t| t.to_lowercase().contains("anticipatory"))
                    });
                    import.medications.push(ImportedMedication {
                        name,
                        dose: dose.join("; "),
                        notes: other.join("; "),
                        anticipatory,
                        location,
                    });
                }
                None => problems.add(
                    format!("{at}.medicationCodeableConcept"),
                    "required: the medicine's name (medicationCodeableConcept.text or coding.display; medicationReference is not supported)",
                ),
            },
            "AllergyIntolerance" => {
                if has_code(&r["code"], SNOMED_NO_KNOWN_ALLERGY) {
                    import.no_known_allergies = true;
                    continue;
                }
                match concept_text(&r["code"]) {
                    Some(substance) => {
                        let reaction = &r["reaction"][0];
                        let manifestations: Vec<String> = reaction["manifestation"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(concept_text)
                            .collect();
                        let severity = match reaction["severity"].as_str() {
                            Some("mild") => AllergySeverity::Mild,
                            Some("moderate") => AllergySeverity::Moderate,
                            Some("severe") => AllergySeverity::Severe,
                            _ if r["criticality"] == "high" => AllergySeverity::Severe,
                            _ => AllergySeverity::Unknown,
                        };
                        import.allergies.push(ImportedAllergy {
                            substance,
                            reaction: manifestations.join(", "),
                            severity,
                        });
                    }
                    None => problems.add(format!("{at}.code"), "required: the substance (code.text or coding.display)"),
                }
            }
            "Observation" | "Consent" if resuscitation_status(r).is_some() => {
                // Only a decision in force is imported: a final (or corrected) Observation,
                // an active Consent. A draft, a conflicting value Red Folder exported as
                // preliminary, or a cancelled or revoked decision is reported instead.
                let status = r["status"].as_str().unwrap_or_default();
                let in_force = match kind {
                    "Observation" => matches!(status, "final" | "amended" | "corrected"),
                    _ => status == "active",
                };
                if in_force {
                    resuscitation.push(read_resuscitation(r, &at));
                } else {
                    import.skipped.push(format!(
                        "{at}: a resuscitation decision with status {status:?} is not in force and not imported: confirm the current decision with the care team"
                    ));
                }
            }
            "Observation" => baseline.read(r, &at, &mut problems, &mut import.skipped),
            "Consent" if has_code(&r["scope"], "patient-privacy") => import.skipped.push(format!(
                "{at}: sharing consent is not imported: the case manager records it with the patient"
            )),
            "Consent" => import.skipped.push(format!(
                "{at}: a consent or advance decision other than a resuscitation decision is not imported: record it in the plan with the patient"
            )),
            other => import.skipped.push(format!("{at}: resource type {other} is not imported")),
        }
    }
    match patient {
        Some(p) => import.patient = p,
        // A Patient with problems has already said what is wrong with it.
        None if !saw_patient => problems.add("Bundle", "required: a Patient"),
        None => {}
    }
    import.baseline = baseline.edit();
    import.resuscitation = one_resuscitation(resuscitation, &mut import.skipped);
    if problems.0.is_empty() {
        Ok(import)
    } else {
        Err(ImportRefused {
            problems: problems.0,
        })
    }
}
