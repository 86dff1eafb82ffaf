//! A GP system's FHIR R4 Bundle (Patient, Condition, MedicationStatement,
//! AllergyIntolerance, Observation, and a resuscitation decision coded with SNOMED CT)
//! read into plan edits.
//!
//! Parsing is all or nothing: [`parse_import`] either returns everything it understood
//! (and what it skipped) or refuses the bundle with every problem it found, so a caller
//! stores nothing from a bundle with an invalid NHS number or a missing required field.

use std::collections::HashMap;

use redfolder_shared::{
    AllergySeverity, AllergyStatus, CarePlan, DnacprStatus, Edit, NhsNumber, SafetyField, Sex,
};
use serde_json::Value;

use crate::export::{
    BLOOD_PRESSURE, DIASTOLIC, PEAK_FLOW, PULSE, RESPIRATORY_RATE, SPO2, SYSTOLIC, TEMPERATURE,
    WEIGHT,
};
use crate::{
    NHS_NUMBER_SYSTEM, ODS_SYSTEM, SNOMED_DNACPR, SNOMED_FOR_CPR, SNOMED_NO_KNOWN_ALLERGY,
};

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

fn read_patient(
    r: &Value,
    at: &str,
    by_reference: &HashMap<String, &Value>,
    problems: &mut Problems,
) -> Option<ImportedPatient> {
    let before = problems.0.len();
    let nhs = r["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["system"] == NHS_NUMBER_SYSTEM)
        .and_then(|i| i["value"].as_str());
    let nhs_number = match nhs.map(NhsNumber::parse) {
        Some(Ok(n)) => n.digits(),
        Some(Err(e)) => {
            problems.add(
                format!("{at}.identifier"),
                format!("invalid NHS number: {e}"),
            );
            String::new()
        }
        None => {
            problems.add(
                format!("{at}.identifier"),
                format!("required: an identifier with system {NHS_NUMBER_SYSTEM}"),
            );
            String::new()
        }
    };
    let names = r["name"].as_array().cloned().unwrap_or_default();
    let name_of = |n: &Value| -> Option<String> {
        if let Some(t) = n["text"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
            return Some(t.to_owned());
        }
        let mut parts: Vec<String> = n["given"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect();
        parts.extend(n["family"].as_str().map(str::to_owned));
        let joined = parts.join(" ");
        (!joined.trim().is_empty()).then_some(joined)
    };
    let official = names
        .iter()
        .find(|n| n["use"] == "official")
        .or_else(|| names.iter().find(|n| n["use"] != "usual"))
        .or(names.first())
        .and_then(name_of);
    let preferred = names
        .iter()
        .find(|n| n["use"] == "usual")
        .and_then(name_of)
        .unwrap_or_default();
    let name = official.unwrap_or_else(|| {
        problems.add(format!("{at}.name"), "required: the patient's name");
        String::new()
    });
    let date_of_birth = match r["birthDate"].as_str() {
        Some(d) if redfolder_shared::Date::parse(d).is_some() => d.to_owned(),
        Some(d) => {
            problems.add(
                format!("{at}.birthDate"),
                format!("not a full date (YYYY-MM-DD): {d:?}"),
            );
            String::new()
        }
        None => {
            problems.add(format!("{at}.birthDate"), "required: the date of birth");
            String::new()
        }
    };
    let addresses = r["address"].as_array().cloned().unwrap_or_default();
    let address = addresses
        .iter()
        .find(|a| a["use"] == "home")
        .or(addresses.first())
        .and_then(|a| {
            if let Some(t) = a["text"].as_str().filter(|t| !t.trim().is_empty()) {
                return Some(t.to_owned());
            }
            let mut parts: Vec<String> = a["line"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect();
            for k in ["city", "district", "postalCode"] {
                parts.extend(a[k].as_str().map(str::to_owned));
            }
            let joined = parts.join(", ");
            (!joined.is_empty()).then_some(joined)
        })
        .unwrap_or_else(|| {
            problems.add(
                format!("{at}.address"),
                "required: the home address (a plan is used at the door)",
            );
            String::new()
        });
    let sex = match r["gender"].as_str() {
        Some("female") => Some(Sex::Female),
        Some("male") => Some(Sex::Male),
        Some("other") => Some(Sex::Other),
        Some("unknown") => Some(Sex::Unknown),
        Some(g) => {
            problems.add(
                format!("{at}.gender"),
                format!("not an AdministrativeGender: {g:?}"),
            );
            None
        }
        None => None,
    };
    let phone = r["telecom"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["system"] == "phone")
        .and_then(|t| t["value"].as_str())
        .unwrap_or_default()
        .to_owned();
    // The registered practice: a reference carrying its ODS code, or a reference to an
    // Organization in the bundle that has one.
    let (gp_practice_ods, gp_practice_name) = r["generalPractitioner"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|g| {
            let display = g["display"].as_str().unwrap_or_default();
            if g["identifier"]["system"] == ODS_SYSTEM {
                let ods = g["identifier"]["value"].as_str()?;
                return Some((ods.to_owned(), display.to_owned()));
            }
            let org = by_reference.get(g["reference"].as_str()?)?;
            if org["resourceType"] != "Organization" {
                return None;
            }
            let ods = org["identifier"]
                .as_array()?
                .iter()
                .find(|i| i["system"] == ODS_SYSTEM)?["value"]
                .as_str()?;
            let name = org["name"].as_str().unwrap_or(display);
            Some((ods.to_owned(), name.to_owned()))
        })
        .unwrap_or_default();
    (problems.0.len() == before).then_some(ImportedPatient {
        nhs_number,
        name,
        preferred_name: preferred,
        date_of_birth,
        address,
        sex,
        phone,
        gp_practice_ods,
        gp_practice_name,
    })
}

/// Vital signs gathered from Observations; the newest of each kind wins.
#[derive(Default)]
struct Baseline {
    observed_on: Option<String>,
    pulse: Option<u32>,
    systolic: Option<u32>,
    diastolic: Option<u32>,
    respiratory_rate: Option<u32>,
    spo2: Option<u32>,
    temperature: Option<u32>,
    peak_flow: Option<u32>,
    weight: Option<u32>,
    known_af: Option<bool>,
    cognition: String,
    mobility: String,
    any: bool,
}

fn coded_as(c: &Value, (snomed, loinc): (&str, &str)) -> bool {
    has_code(c, snomed) || has_code(c, loinc)
}

/// `value × scale`, as a whole number, if the quantity's UCUM code is one of `units`.
fn number(q: &Value, units: &[&str], scale: f64, at: &str, problems: &mut Problems) -> Option<u32> {
    let Some(v) = q["value"].as_f64() else {
        problems.add(format!("{at}.valueQuantity.value"), "required: a number");
        return None;
    };
    let unit = q["code"].as_str().or(q["unit"].as_str());
    if let Some(u) = unit
        && !units.contains(&u)
    {
        problems.add(
            format!("{at}.valueQuantity"),
            format!(
                "unit {u:?} is not supported (expected {})",
                units.join(" or ")
            ),
        );
        return None;
    }
    let scaled = (v * scale).round();
    if !(0.0..=100_000.0).contains(&scaled) {
        problems.add(
            format!("{at}.valueQuantity.value"),
            format!("{v} is out of range"),
        );
        return None;
    }
    Some(scaled as u32)
}

/// The resuscitation decision a resource is coded with, if any: SNOMED CT 450476008
/// (not for attempted CPR) or 304252001 (for attempted CPR) in an Observation's code or
/// value, or a Consent's category or provision codes.
fn resuscitation_status(r: &Value) -> Option<DnacprStatus> {
    let mut concepts: Vec<&Value> = vec![&r["code"], &r["valueCodeableConcept"]];
    concepts.extend(r["category"].as_array().into_iter().flatten());
    concepts.extend(r["provision"]["code"].as_array().into_iter().flatten());
    for p in r["provision"]["provision"].as_array().into_iter().flatten() {
        concepts.extend(p["code"].as_array().into_iter().flatten());
    }
    if concepts.iter().any(|c| has_code(c, SNOMED_DNACPR)) {
        Some(DnacprStatus::DoNotAttemptCpr)
    } else if concepts.iter().any(|c| has_code(c, SNOMED_FOR_CPR)) {
        Some(DnacprStatus::ForAttemptedCpr)
    } else {
        None
    }
}

fn read_resuscitation(r: &Value, at: &str) -> ImportedResuscitation {
    let notes = notes(r);
    let noted = |prefix: &str| {
        notes
            .iter()
            .find_map(|n| n.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut decided_by = noted("Decided by:");
    if decided_by.is_empty() {
        decided_by = r["performer"][0]["display"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    let when = r["effectiveDateTime"]
        .as_str()
        .or(r["effectivePeriod"]["start"].as_str())
        .or(r["dateTime"].as_str());
    ImportedResuscitation {
        at: at.to_owned(),
        status: resuscitation_status(r).unwrap_or(DnacprStatus::NotRecorded),
        respect_form: notes.iter().any(|n| n.contains("ReSPECT")),
        decision_date: when
            .and_then(|w| w.get(..10))
            .filter(|d| redfolder_shared::Date::parse(d).is_some())
            .map(str::to_owned),
        decided_by,
        original_location: noted("Original:"),
    }
}

/// The bundle's one resuscitation decision. Entries that disagree are all left out and
/// reported: which one stands is for the care team to confirm, never for an import.
fn one_resuscitation(
    mut found: Vec<ImportedResuscitation>,
    skipped: &mut Vec<String>,
) -> Option<ImportedResuscitation> {
    let first = found.first()?;
    if found.iter().any(|r| r.status != first.status) {
        let at: Vec<&str> = found.iter().map(|r| r.at.as_str()).collect();
        skipped.push(format!(
            "{}: different resuscitation decisions in one bundle: none imported; confirm with the care team",
            at.join(", ")
        ));
        return None;
    }
    found.sort_by(|a, b| a.decision_date.cmp(&b.decision_date));
    found.pop()
}

impl Baseline {
    fn read(&mut self, r: &Value, at: &str, problems: &mut Problems, skipped: &mut Vec<String>) {
        let code = &r["code"];
        let q = &r["valueQuantity"];
        let before = problems.0.len();
        let kind_of = |v: &crate::export::Vital| coded_as(code, (v.snomed, v.loinc));
        if kind_of(&PULSE) {
            self.pulse = number(
                q,
                &["/min", "beats/minute", "{beats}/min", "per minute"],
                1.0,
                at,
                problems,
            );
        } else if kind_of(&RESPIRATORY_RATE) {
            self.respiratory_rate = number(
                q,
                &["/min", "breaths/minute", "{breaths}/min", "per minute"],
                1.0,
                at,
                problems,
            );
        } else if kind_of(&SPO2) || has_code(code, "59408-5") {
            self.spo2 = number(q, &["%", "percent"], 1.0, at, problems);
        } else if kind_of(&TEMPERATURE) {
            self.temperature = number(q, &["Cel", "degree Celsius"], 10.0, at, problems);
        } else if kind_of(&PEAK_FLOW) {
            self.peak_flow = number(q, &["L/min"], 1.0, at, problems);
        } else if kind_of(&WEIGHT) {
            self.weight = number(q, &["kg", "kilogram"], 10.0, at, problems);
        } else if coded_as(code, BLOOD_PRESSURE) {
            for c in r["component"].as_array().into_iter().flatten() {
                if coded_as(&c["code"], SYSTOLIC) {
                    self.systolic = number(
                        &c["valueQuantity"],
                        &["mm[Hg]", "mmHg", "millimeter of mercury"],
                        1.0,
                        at,
                        problems,
                    );
                } else if coded_as(&c["code"], DIASTOLIC) {
                    self.diastolic = number(
                        &c["valueQuantity"],
                        &["mm[Hg]", "mmHg", "millimeter of mercury"],
                        1.0,
                        at,
                        problems,
                    );
                }
            }
        } else if coded_as(code, SYSTOLIC) {
            self.systolic = number(
                q,
                &["mm[Hg]", "mmHg", "millimeter of mercury"],
                1.0,
                at,
                problems,
            );
        } else if coded_as(code, DIASTOLIC) {
            self.diastolic = number(
                q,
                &["mm[Hg]", "mmHg", "millimeter of mercury"],
                1.0,
                at,
                problems,
            );
        } else if has_code(code, "49436004") && r["valueBoolean"].is_boolean() {
            self.known_af = r["valueBoolean"].as_bool();
        } else if concept_text(code).as_deref() == Some("Usual cognition") {
            self.cognition = r["valueString"].as_str().unwrap_or_default().to_owned();
        } else if concept_text(code).as_deref() == Some("Usual mobility") {
            self.mobility = r["valueString"].as_str().unwrap_or_default().to_owned();
        } else {
            let what = concept_text(code).unwrap_or_else(|| "uncoded".to_owned());
            skipped.push(format!(
                "{at}: observation {what:?} is not a baseline Red Folder keeps"
            ));
            return;
        }
        if problems.0.len() == before {
            self.any = true;
            let when = r["effectiveDateTime"].as_str().or(r["issued"].as_str());
            if let Some(day) = when.and_then(|w| w.get(..10))
                && redfolder_shared::Date::parse(day).is_some()
                && self.observed_on.as_deref().is_none_or(|d| d < day)
            {
                self.observed_on = Some(day.to_owned());
            }
        }
    }

    fn edit(self) -> Option<Edit> {
        self.any.then(|| Edit::RecordBaseline {
            observed_on: self.observed_on.unwrap_or_default(),
            pulse_bpm: self.pulse,
            systolic_mmhg: self.systolic,
            diastolic_mmhg: self.diastolic,
            respiratory_rate: self.respiratory_rate,
            spo2_percent: self.spo2,
            temperature_decidegrees: self.temperature,
            peak_flow_l_min: self.peak_flow,
            weight_decikg: self.weight,
            known_af: self.known_af,
            usual_cognition: self.cognition,
            usual_mobility: self.mobility,
        })
    }
}

fn same(a: &str, b: &str) -> bool {
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
    if let Some(Edit::RecordBaseline {
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
    }) = &import.baseline
    {
        let b = existing.map(|plan| &plan.baseline);
        let same_values = b.is_some_and(|b| {
            b.pulse_bpm == *pulse_bpm
                && b.systolic_mmhg == *systolic_mmhg
                && b.diastolic_mmhg == *diastolic_mmhg
                && b.respiratory_rate == *respiratory_rate
                && b.spo2_percent == *spo2_percent
                && b.temperature_decidegrees == *temperature_decidegrees
                && b.peak_flow_l_min == *peak_flow_l_min
                && b.weight_decikg == *weight_decikg
                && b.known_af == *known_af
                && b.usual_cognition == *usual_cognition
                && b.usual_mobility == *usual_mobility
        });
        if !same_values {
            edits.push(Edit::RecordBaseline {
                observed_on: if observed_on.is_empty() {
                    today.to_owned()
                } else {
                    observed_on.clone()
                },
                pulse_bpm: *pulse_bpm,
                systolic_mmhg: *systolic_mmhg,
                diastolic_mmhg: *diastolic_mmhg,
                respiratory_rate: *respiratory_rate,
                spo2_percent: *spo2_percent,
                temperature_decidegrees: *temperature_decidegrees,
                peak_flow_l_min: *peak_flow_l_min,
                weight_decikg: *weight_decikg,
                known_af: *known_af,
                usual_cognition: usual_cognition.clone(),
                usual_mobility: usual_mobility.clone(),
            });
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
fn resuscitation_edit(
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patient(nhs: &str) -> Value {
        json!({
            "resourceType": "Patient",
            "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": nhs }],
            "name": [{ "use": "official", "family": "Example", "given": ["Ada", "May"] }],
            "birthDate": "1938-02-28",
            "gender": "female",
            "address": [{ "line": ["1 High Street"], "city": "Ashbridge", "postalCode": "AB1 2CD" }],
        })
    }

    fn bundle(resources: Vec<Value>) -> Value {
        let entry: Vec<Value> = resources
            .into_iter()
            .map(|r| json!({ "resource": r }))
            .collect();
        json!({ "resourceType": "Bundle", "type": "collection", "entry": entry })
    }

    #[test]
    fn a_gp_bundle_reads_with_unknown_types_skipped() {
        let b = bundle(vec![
            patient("943 476 5919"),
            json!({ "resourceType": "Condition", "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "13645005", "display": "COPD" }] } }),
            json!({ "resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": { "text": "Salbutamol" }, "dosage": [{ "text": "2 puffs" }] }),
            json!({ "resourceType": "AllergyIntolerance", "code": { "text": "Penicillin" }, "reaction": [{ "manifestation": [{ "text": "rash" }], "severity": "severe" }] }),
            json!({ "resourceType": "Observation", "status": "final", "code": { "coding": [{ "system": "http://loinc.org", "code": "8310-5" }] },
                    "effectiveDateTime": "2026-03-04T10:00:00Z", "valueQuantity": { "value": 36.8, "code": "Cel" } }),
            json!({ "resourceType": "Encounter", "status": "finished" }),
        ]);
        let import = parse_import(&b).unwrap();
        assert_eq!(import.patient.nhs_number, "9434765919");
        assert_eq!(import.patient.name, "Ada May Example");
        assert_eq!(import.patient.address, "1 High Street, Ashbridge, AB1 2CD");
        assert_eq!(import.conditions[0].name, "COPD");
        assert_eq!(import.medications[0].dose, "2 puffs");
        assert_eq!(import.allergies[0].severity, AllergySeverity::Severe);
        assert!(matches!(
            import.baseline,
            Some(Edit::RecordBaseline { temperature_decidegrees: Some(368), ref observed_on, .. }) if observed_on == "2026-03-04"
        ));
        assert_eq!(import.skipped.len(), 1);
        assert!(import.skipped[0].contains("Encounter"));

        let mut n = 0;
        let edits = import_edits(&import, None, "2026-03-05", &mut || {
            n += 1;
            format!("id{n}")
        });
        assert_eq!(edits.edits.len(), 5, "{edits:?}");
        assert!(edits.not_applied.is_empty());
    }

    #[test]
    fn every_problem_is_listed_and_the_bundle_refused_whole() {
        let mut p = patient("9434765918");
        p.as_object_mut().unwrap().remove("birthDate");
        let b = bundle(vec![
            p,
            json!({ "resourceType": "Condition", "code": { "coding": [{ "code": "13645005" }] } }),
            json!({ "resourceType": "Observation", "code": { "coding": [{ "code": "8867-4" }] }, "valueQuantity": { "value": 70, "code": "kg" } }),
        ]);
        let refused = parse_import(&b).unwrap_err();
        let at: Vec<&str> = refused.problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(
            at,
            [
                "entry[0] Patient.identifier",
                "entry[0] Patient.birthDate",
                "entry[1] Condition.code",
                "entry[2] Observation.valueQuantity",
            ]
        );
        assert!(parse_import(&json!({ "resourceType": "Patient" })).is_err());
        assert!(parse_import(&bundle(vec![])).is_err());
    }

    fn new_id() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id{n}")
        }
    }

    fn dnacpr(extra: Value) -> Value {
        let mut o = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "450476008", "display": "Not for attempted cardiopulmonary resuscitation" }] },
            "effectiveDateTime": "2026-01-10",
            "performer": [{ "display": "Dr Decider" }],
        });
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    }

    fn plan_with(edit: Option<Edit>) -> CarePlan {
        use redfolder_shared::{ActorId, PlanDoc};
        let editor = redfolder_shared::testkit::editor("u1", "Nurse One");
        let new = redfolder_shared::testkit::example_patient();
        let mut doc = PlanDoc::create(
            ActorId::from(b"a".as_slice()),
            &new,
            &editor,
            1_790_000_000_000,
        )
        .unwrap();
        if let Some(e) = edit {
            doc.apply(&e, &editor, 1_790_000_001_000).unwrap();
        }
        doc.plan().unwrap()
    }

    #[test]
    fn a_complete_dnacpr_is_imported_only_where_the_plan_has_none() {
        let b = bundle(vec![
            patient("9434765919"),
            dnacpr(json!({ "note": [{ "text": "Original: red folder, kitchen drawer" }] })),
        ]);
        let import = parse_import(&b).unwrap();
        let r = import.resuscitation.as_ref().unwrap();
        assert_eq!(r.status, DnacprStatus::DoNotAttemptCpr);
        assert_eq!(r.decided_by, "Dr Decider");
        assert_eq!(r.decision_date.as_deref(), Some("2026-01-10"));

        // A new plan takes it, as an ordinary edit the plan validates.
        let out = import_edits(&import, None, "2026-03-05", &mut new_id());
        assert!(out.not_applied.is_empty(), "{out:?}");
        let edit = out
            .edits
            .iter()
            .find(|e| matches!(e, Edit::SetResuscitation { .. }))
            .cloned()
            .expect("a resuscitation edit");
        let plan = plan_with(Some(edit));
        assert_eq!(plan.dnacpr, DnacprStatus::DoNotAttemptCpr);
        assert_eq!(
            plan.resuscitation.as_ref().unwrap().original_location,
            "red folder, kitchen drawer"
        );

        // The same decision again changes nothing.
        let out = import_edits(&import, Some(&plan), "2026-03-05", &mut new_id());
        assert!(
            !out.edits
                .iter()
                .any(|e| matches!(e, Edit::SetResuscitation { .. })),
            "{out:?}"
        );

        // A plan that says otherwise is never changed by an import: it is reported.
        let other = plan_with(Some(Edit::SetDnacpr {
            status: DnacprStatus::ForAttemptedCpr,
        }));
        let out = import_edits(&import, Some(&other), "2026-03-05", &mut new_id());
        assert!(
            !out.edits
                .iter()
                .any(|e| matches!(e, Edit::SetResuscitation { .. }))
        );
        assert!(
            out.not_applied[0].contains("care team must confirm"),
            "{out:?}"
        );
    }

    #[test]
    fn an_incomplete_or_contradictory_dnacpr_is_reported_not_imported() {
        // No location of the original form: a crew could not act on it.
        let import = parse_import(&bundle(vec![patient("9434765919"), dnacpr(json!({}))])).unwrap();
        let out = import_edits(&import, None, "2026-03-05", &mut new_id());
        assert!(
            out.edits
                .iter()
                .all(|e| !matches!(e, Edit::SetResuscitation { .. }))
        );
        assert!(
            out.not_applied[0].contains("where the original form is"),
            "{out:?}"
        );

        // A Consent coded "for attempted CPR" and an Observation coded DNACPR disagree.
        let consent = json!({
            "resourceType": "Consent",
            "status": "active",
            "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "adr" }] },
            "category": [{ "coding": [{ "system": "http://snomed.info/sct", "code": "304252001" }] }],
            "dateTime": "2026-02-01",
        });
        let import = parse_import(&bundle(vec![
            patient("9434765919"),
            dnacpr(json!({ "note": [{ "text": "Original: hospital notes" }] })),
            consent.clone(),
        ]))
        .unwrap();
        assert_eq!(import.resuscitation, None);
        assert!(
            import
                .skipped
                .iter()
                .any(|s| s.contains("different resuscitation decisions")),
            "{:?}",
            import.skipped
        );

        // On its own, "for attempted CPR" needs no more than the decision.
        let import = parse_import(&bundle(vec![patient("9434765919"), consent.clone()])).unwrap();
        let out = import_edits(&import, None, "2026-03-05", &mut new_id());
        assert!(out.edits.iter().any(|e| matches!(
            e,
            Edit::SetResuscitation {
                status: DnacprStatus::ForAttemptedCpr,
                ..
            }
        )));

        // A preliminary (conflicting) entry is reported, not imported.
        let import = parse_import(&bundle(vec![
            patient("9434765919"),
            dnacpr(json!({ "status": "preliminary" })),
        ]))
        .unwrap();
        assert_eq!(import.resuscitation, None);
        assert!(
            import.skipped[0].contains("not in force"),
            "{:?}",
            import.skipped
        );

        // Nor is a revoked one.
        let mut revoked = consent;
        revoked["status"] = "inactive".into();
        let import = parse_import(&bundle(vec![patient("9434765919"), revoked])).unwrap();
        assert_eq!(import.resuscitation, None);
    }

    #[test]
    fn the_registered_practice_is_read_through_a_reference() {
        let mut p = patient("9434765919");
        p["generalPractitioner"] =
            json!([{ "reference": "urn:uuid:6f1c2a9e-3b7d-4c55-9e2a-0d4b8f7a1c23" }]);
        let b = json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                { "fullUrl": "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001", "resource": p },
                { "fullUrl": "urn:uuid:6f1c2a9e-3b7d-4c55-9e2a-0d4b8f7a1c23", "resource": {
                    "resourceType": "Organization",
                    "identifier": [{ "system": ODS_SYSTEM, "value": "A81001" }],
                    "name": "Ashbridge Surgery",
                } },
            ],
        });
        let import = parse_import(&b).unwrap();
        assert_eq!(import.patient.gp_practice_ods, "A81001");
        assert_eq!(import.patient.gp_practice_name, "Ashbridge Surgery");
    }
}
