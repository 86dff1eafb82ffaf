//! Pre-clinic data for a virtual clinic (seed 004): the results a specialist needs before
//! discussing a patient, read from a GP system's Observations (LOINC or SNOMED CT coded,
//! UCUM units) or typed in by the practice. Each reading is one measure on one day; the
//! value is kept as the text the clinic shows (`53`, `4.2`, `142/86`, `no retinopathy`).

use redfolder_shared::{Date, NhsNumber};
use serde_json::Value;

use super::observations::number;
use super::{ImportProblem, ImportRefused, Problems, concept_text, has_code, in_error};
use crate::NHS_NUMBER_SYSTEM;
use crate::export::{BLOOD_PRESSURE, DIASTOLIC, SYSTOLIC};

/// What a measure's value is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MeasureKind {
    /// A quantity in `unit`, between `min` and `max`, kept to `decimals` places.
    Number { min: f64, max: f64, decimals: u8 },
    /// Systolic over diastolic, mmHg.
    BloodPressure,
    /// A screening done on the day; the value is its result in words.
    Screening,
}

/// One kind of pre-clinic reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    /// The stable key (`hba1c`), in the API and the database.
    pub key: &'static str,
    pub label: &'static str,
    /// The unit values are shown in (UCUM where one applies), empty for a screening.
    pub unit: &'static str,
    pub kind: MeasureKind,
    snomed: &'static [&'static str],
    loinc: &'static [&'static str],
    /// UCUM codes (and the words GP systems put in `unit`) accepted for the value.
    units: &'static [&'static str],
}

/// Every measure a clinic can hold. The codes are those UK GP systems send: SNOMED CT UK
/// edition concepts for the laboratory results, and LOINC as FHIR's vital signs use it.
pub const MEASURES: &[Measure] = &[
    Measure {
        key: "hba1c",
        label: "HbA1c",
        unit: "mmol/mol",
        kind: MeasureKind::Number {
            min: 10.0,
            max: 250.0,
            decimals: 0,
        },
        snomed: &["999791000000106", "1049301000000100"],
        loinc: &["59261-8"],
        units: &["mmol/mol"],
    },
    Measure {
        key: "egfr",
        label: "eGFR",
        unit: "mL/min/1.73m2",
        kind: MeasureKind::Number {
            min: 1.0,
            max: 200.0,
            decimals: 0,
        },
        snomed: &["1011481000000105", "1020291000000106", "1107411000000104"],
        loinc: &["33914-3", "62238-1", "98979-8"],
        units: &["mL/min/{1.73_m2}", "mL/min/1.73m2", "mL/min"],
    },
    Measure {
        key: "acr",
        label: "Urine albumin:creatinine ratio",
        unit: "mg/mmol",
        kind: MeasureKind::Number {
            min: 0.0,
            max: 3000.0,
            decimals: 1,
        },
        snomed: &["1023491000000104"],
        loinc: &["14959-1", "32294-1"],
        units: &["mg/mmol"],
    },
    Measure {
        key: "blood_pressure",
        label: "Blood pressure",
        unit: "mmHg",
        kind: MeasureKind::BloodPressure,
        snomed: &[BLOOD_PRESSURE.0],
        loinc: &[BLOOD_PRESSURE.1],
        units: &["mm[Hg]", "mmHg", "millimeter of mercury"],
    },
    Measure {
        key: "total_cholesterol",
        label: "Total cholesterol",
        unit: "mmol/L",
        kind: MeasureKind::Number {
            min: 0.5,
            max: 25.0,
            decimals: 1,
        },
        snomed: &["1005671000000105"],
        loinc: &["14647-2", "2093-3"],
        units: &["mmol/L"],
    },
    Measure {
        key: "ldl",
        label: "LDL cholesterol",
        unit: "mmol/L",
        kind: MeasureKind::Number {
            min: 0.1,
            max: 20.0,
            decimals: 1,
        },
        snomed: &["1022191000000100"],
        loinc: &["22748-8", "13457-7"],
        units: &["mmol/L"],
    },
    Measure {
        key: "bmi",
        label: "BMI",
        unit: "kg/m2",
        kind: MeasureKind::Number {
            min: 10.0,
            max: 90.0,
            decimals: 1,
        },
        snomed: &["60621009"],
        loinc: &["39156-5"],
        units: &["kg/m2"],
    },
    Measure {
        key: "eye_screening",
        label: "Diabetic eye screening",
        unit: "",
        kind: MeasureKind::Screening,
        snomed: &["134395001"],
        loinc: &[],
        units: &[],
    },
    Measure {
        key: "foot_screening",
        label: "Diabetic foot check",
        unit: "",
        kind: MeasureKind::Screening,
        snomed: &["401191002"],
        loinc: &[],
        units: &[],
    },
];

/// The measure with this key.
pub fn measure(key: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.key == key)
}

/// A screening result or typed value longer than this is refused.
const MAX_TEXT: usize = 200;

impl Measure {
    fn coded(&self, code: &Value) -> bool {
        self.snomed
            .iter()
            .chain(self.loinc)
            .any(|c| has_code(code, c))
    }

    /// A typed value as the clinic keeps it, or why it is not one: a number in range
    /// (`53`, `4.2`), `systolic/diastolic`, or a screening's result in words.
    pub fn read_typed(&self, value: &str) -> Result<String, String> {
        let value = value.trim();
        match self.kind {
            MeasureKind::Number { min, max, decimals } => {
                let n: f64 = value
                    .parse()
                    .map_err(|_| format!("{} must be a number in {}", self.label, self.unit))?;
                in_range(self, n, min, max, decimals)
            }
            MeasureKind::BloodPressure => {
                let (s, d) = value
                    .split_once('/')
                    .and_then(|(s, d)| {
                        Some((s.trim().parse::<u32>().ok()?, d.trim().parse::<u32>().ok()?))
                    })
                    .ok_or_else(|| {
                        "blood pressure must be systolic/diastolic, as 142/86".to_owned()
                    })?;
                blood_pressure(s, d)
            }
            MeasureKind::Screening => {
                if value.is_empty() || value.chars().count() > MAX_TEXT {
                    return Err(format!(
                        "{}: give the result in words (up to {MAX_TEXT} characters)",
                        self.label
                    ));
                }
                Ok(value.to_owned())
            }
        }
    }
}

fn in_range(m: &Measure, n: f64, min: f64, max: f64, decimals: u8) -> Result<String, String> {
    if !n.is_finite() || n < min || n > max {
        return Err(format!(
            "{} of {n} is outside {min} to {max} {}",
            m.label, m.unit
        ));
    }
    Ok(format!("{n:.*}", usize::from(decimals)))
}

fn blood_pressure(systolic: u32, diastolic: u32) -> Result<String, String> {
    if !(50..=300).contains(&systolic) || !(20..=200).contains(&diastolic) || diastolic >= systolic
    {
        return Err(format!(
            "blood pressure {systolic}/{diastolic} is not plausible (systolic 50 to 300 over a lower diastolic)"
        ));
    }
    Ok(format!("{systolic}/{diastolic}"))
}

/// One reading of one measure on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicReading {
    pub measure: &'static str,
    pub value: String,
    /// `YYYY-MM-DD`.
    pub observed_on: String,
}

/// What a GP system's Observations say for a clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicObservations {
    /// The NHS number the resources name (a Patient's identifier or an Observation's
    /// subject), when they name one: the caller checks it is the clinic's patient.
    pub nhs_number: Option<String>,
    pub readings: Vec<ClinicReading>,
    /// Entries not read, each with why.
    pub skipped: Vec<String>,
}

/// Reads a Bundle of Observations (other resources are skipped, a Patient is read for
/// its NHS number) or a single Observation; all or nothing, like [`super::parse_import`].
pub fn parse_clinic_observations(resource: &Value) -> Result<ClinicObservations, ImportRefused> {
    let mut problems = Problems(Vec::new());
    let single = [resource.clone()];
    let resources: Vec<&Value> = match resource["resourceType"].as_str() {
        Some("Bundle") => resource["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["resource"])
            .collect(),
        Some("Observation") => single.iter().collect(),
        _ => {
            problems.add("resourceType", "not a FHIR Bundle or Observation");
            return Err(ImportRefused {
                problems: problems.0,
            });
        }
    };
    let mut out = ClinicObservations {
        nhs_number: None,
        readings: Vec::new(),
        skipped: Vec::new(),
    };
    for (i, r) in resources.into_iter().enumerate() {
        let kind = r["resourceType"].as_str().unwrap_or_default();
        let at = format!("entry[{i}] {kind}");
        let named = match kind {
            "Patient" => nhs_of(&r["identifier"]),
            "Observation" => nhs_of(&r["subject"]["identifier"]),
            _ => None,
        };
        if let Some(nhs) = named {
            match (NhsNumber::parse(nhs), &out.nhs_number) {
                (Err(e), _) => problems.add(
                    format!("{at}.identifier"),
                    format!("invalid NHS number: {e}"),
                ),
                (Ok(n), Some(first)) if *first != n.digits() => problems.add(
                    at.clone(),
                    "another patient's NHS number: a clinic import is one patient's results",
                ),
                (Ok(n), _) => out.nhs_number = Some(n.digits()),
            }
        }
        if kind != "Observation" {
            if kind != "Patient" {
                out.skipped.push(format!("{at}: not an Observation"));
            }
            continue;
        }
        if in_error(r) {
            out.skipped.push(format!("{at}: entered in error"));
            continue;
        }
        let Some(m) = MEASURES.iter().find(|m| m.coded(&r["code"])) else {
            let what = concept_text(&r["code"]).unwrap_or_else(|| "uncoded".to_owned());
            out.skipped
                .push(format!("{at}: {what} is not pre-clinic data"));
            continue;
        };
        let Some(observed_on) = effective_date(r) else {
            problems.add(
                format!("{at}.effectiveDateTime"),
                "required: the date the result was taken (YYYY-MM-DD…)",
            );
            continue;
        };
        if let Some(value) = read_value(m, r, &at, &mut problems) {
            out.readings.push(ClinicReading {
                measure: m.key,
                value,
                observed_on,
            });
        }
    }
    if problems.0.is_empty() {
        Ok(out)
    } else {
        Err(ImportRefused {
            problems: problems.0,
        })
    }
}

/// The NHS number in an identifier (an object, or an array of them).
fn nhs_of(identifier: &Value) -> Option<&str> {
    let is_nhs = |i: &&Value| i["system"] == NHS_NUMBER_SYSTEM;
    match identifier {
        Value::Array(a) => a.iter().find(is_nhs).and_then(|i| i["value"].as_str()),
        Value::Object(_) => Some(identifier)
            .filter(is_nhs)
            .and_then(|i| i["value"].as_str()),
        _ => None,
    }
}

fn effective_date(r: &Value) -> Option<String> {
    let when = r["effectiveDateTime"]
        .as_str()
        .or(r["effectivePeriod"]["start"].as_str())
        .or(r["issued"].as_str())?;
    let day = when.get(..10)?;
    Date::parse(day).map(|d| d.to_string())
}

fn read_value(m: &Measure, r: &Value, at: &str, problems: &mut Problems) -> Option<String> {
    let refuse = |problems: &mut Problems, why: String| {
        problems.0.push(ImportProblem {
            at: format!("{at}.value"),
            problem: why,
        });
        None
    };
    match m.kind {
        MeasureKind::Number { min, max, decimals } => {
            let scale = 10f64.powi(i32::from(decimals));
            let n = number(&r["valueQuantity"], m.units, scale, at, problems)?;
            match in_range(m, f64::from(n) / scale, min, max, decimals) {
                Ok(v) => Some(v),
                Err(why) => refuse(problems, why),
            }
        }
        MeasureKind::BloodPressure => {
            let mut systolic = None;
            let mut diastolic = None;
            for c in r["component"].as_array().into_iter().flatten() {
                let code = &c["code"];
                if has_code(code, SYSTOLIC.0) || has_code(code, SYSTOLIC.1) {
                    systolic = number(&c["valueQuantity"], m.units, 1.0, at, problems);
                } else if has_code(code, DIASTOLIC.0) || has_code(code, DIASTOLIC.1) {
                    diastolic = number(&c["valueQuantity"], m.units, 1.0, at, problems);
                }
            }
            match (systolic, diastolic) {
                (Some(s), Some(d)) => match blood_pressure(s, d) {
                    Ok(v) => Some(v),
                    Err(why) => refuse(problems, why),
                },
                _ => refuse(
                    problems,
                    "a blood pressure needs systolic and diastolic components in mmHg".into(),
                ),
            }
        }
        MeasureKind::Screening => {
            let text = r["valueString"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| concept_text(&r["valueCodeableConcept"]))
                .unwrap_or_else(|| "done".to_owned());
            match m.read_typed(&text) {
                Ok(v) => Some(v),
                Err(why) => refuse(problems, why),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obs(code: Value, value: Value, when: &str) -> Value {
        let mut o = json!({
            "resourceType": "Observation", "status": "final", "code": code,
            "effectiveDateTime": when,
            "subject": { "identifier": { "system": NHS_NUMBER_SYSTEM, "value": "9434765919" } },
        });
        for (k, v) in value.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    }

    fn coded(system: &str, code: &str) -> Value {
        json!({ "coding": [{ "system": system, "code": code }] })
    }

    #[test]
    fn a_bundle_of_diabetes_results_reads_each_measure() {
        let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
            { "resource": { "resourceType": "Patient", "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": "9434765919" }] } },
            { "resource": obs(coded(crate::LOINC, "59261-8"), json!({ "valueQuantity": { "value": 58, "code": "mmol/mol" } }), "2026-10-01T09:00:00Z") },
            { "resource": obs(coded(crate::SNOMED, "1011481000000105"), json!({ "valueQuantity": { "value": 61, "code": "mL/min/{1.73_m2}" } }), "2026-10-01") },
            { "resource": obs(coded(crate::LOINC, "85354-9"), json!({ "component": [
                { "code": coded(crate::LOINC, "8480-6"), "valueQuantity": { "value": 142, "code": "mm[Hg]" } },
                { "code": coded(crate::LOINC, "8462-4"), "valueQuantity": { "value": 86, "code": "mm[Hg]" } },
            ] }), "2026-09-12") },
            { "resource": obs(coded(crate::LOINC, "14647-2"), json!({ "valueQuantity": { "value": 4.24, "code": "mmol/L" } }), "2026-10-01") },
            { "resource": obs(coded(crate::SNOMED, "134395001"), json!({ "valueCodeableConcept": { "text": "No retinopathy" } }), "2026-03-02") },
            { "resource": obs(coded(crate::LOINC, "8867-4"), json!({ "valueQuantity": { "value": 70, "code": "/min" } }), "2026-10-01") },
        ] });
        let read = parse_clinic_observations(&bundle).unwrap();
        assert_eq!(read.nhs_number.as_deref(), Some("9434765919"));
        let got: Vec<(&str, &str, &str)> = read
            .readings
            .iter()
            .map(|r| (r.measure, r.value.as_str(), r.observed_on.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("hba1c", "58", "2026-10-01"),
                ("egfr", "61", "2026-10-01"),
                ("blood_pressure", "142/86", "2026-09-12"),
                ("total_cholesterol", "4.2", "2026-10-01"),
                ("eye_screening", "No retinopathy", "2026-03-02"),
            ]
        );
        assert_eq!(read.skipped.len(), 1, "{:?}", read.skipped);
        assert!(read.skipped[0].contains("not pre-clinic data"));
    }

    #[test]
    fn wrong_units_missing_dates_and_two_patients_refuse_the_whole_import() {
        let mut other = obs(
            coded(crate::LOINC, "39156-5"),
            json!({ "valueQuantity": { "value": 31.2, "code": "kg/m2" } }),
            "2026-10-01",
        );
        other["subject"]["identifier"]["value"] = json!("9990100101");
        let bundle = json!({ "resourceType": "Bundle", "entry": [
            { "resource": obs(coded(crate::LOINC, "59261-8"), json!({ "valueQuantity": { "value": 7.5, "code": "%" } }), "2026-10-01") },
            { "resource": obs(coded(crate::LOINC, "39156-5"), json!({ "valueQuantity": { "value": 31.2, "code": "kg/m2" } }), "yesterday") },
            { "resource": other },
        ] });
        let refused = parse_clinic_observations(&bundle).unwrap_err();
        let problems: Vec<&str> = refused
            .problems
            .iter()
            .map(|p| p.problem.as_str())
            .collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("unit \"%\" is not supported"));
        assert!(problems[1].starts_with("required: the date"));
        assert!(problems[2].contains("another patient"));
        assert!(parse_clinic_observations(&json!({ "resourceType": "Patient" })).is_err());
    }

    #[test]
    fn typed_values_are_checked_and_kept_as_shown() {
        let check = |key: &str, value: &str| measure(key).unwrap().read_typed(value);
        assert_eq!(check("hba1c", " 53 "), Ok("53".into()));
        assert_eq!(check("ldl", "2.04"), Ok("2.0".into()));
        assert_eq!(check("blood_pressure", "138 / 82"), Ok("138/82".into()));
        assert_eq!(check("foot_screening", "low risk"), Ok("low risk".into()));
        assert!(
            check("hba1c", "high")
                .unwrap_err()
                .contains("must be a number")
        );
        assert!(check("egfr", "0").unwrap_err().contains("outside"));
        assert!(
            check("blood_pressure", "80/120")
                .unwrap_err()
                .contains("not plausible")
        );
        assert!(check("eye_screening", "  ").is_err());
        assert!(measure("pulse").is_none());
    }
}
