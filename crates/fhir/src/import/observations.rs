//! Observations read into the plan's baseline: vital signs in the units UK Core uses,
//! usual cognition and mobility; the newest of each kind wins.

use redfolder_shared::Edit;
use serde_json::Value;

use super::{Problems, concept_text, has_code};
use crate::export::{
    BLOOD_PRESSURE, DIASTOLIC, PEAK_FLOW, PULSE, RESPIRATORY_RATE, SPO2, SYSTOLIC, TEMPERATURE,
    Vital, WEIGHT,
};

/// Vital signs gathered from Observations; the newest of each kind wins.
#[derive(Default)]
pub(super) struct Baseline {
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

pub(super) fn coded_as(c: &Value, (snomed, loinc): (&str, &str)) -> bool {
    has_code(c, snomed) || has_code(c, loinc)
}

/// `value × scale`, as a whole number, if the quantity's UCUM code is one of `units`.
pub(super) fn number(
    q: &Value,
    units: &[&str],
    scale: f64,
    at: &str,
    problems: &mut Problems,
) -> Option<u32> {
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

impl Baseline {
    pub(super) fn read(
        &mut self,
        r: &Value,
        at: &str,
        problems: &mut Problems,
        skipped: &mut Vec<String>,
    ) {
        let code = &r["code"];
        let q = &r["valueQuantity"];
        let before = problems.0.len();
        let kind_of = |v: &Vital| coded_as(code, (v.snomed, v.loinc));
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

    pub(super) fn edit(self) -> Option<Edit> {
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
