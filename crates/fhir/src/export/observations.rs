//! Observation: the baseline's vital signs (claiming the UK Core and FHIR core
//! vital-signs profiles) and the resuscitation decision.

use redfolder_shared::{CarePlan, DecisionValue, DnacprStatus, SafetyField};
use serde_json::{Value, json};

use super::Entries;
use crate::util::{coded, date, fhir_id, instant, text};
use crate::{LOINC, SNOMED, SNOMED_DNACPR, SNOMED_FOR_CPR, UCUM};

/// One vital sign: SNOMED and LOINC codes, a UCUM unit.
pub(crate) struct Vital {
    id: &'static str,
    pub(crate) snomed: &'static str,
    pub(crate) loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    code: &'static str,
    /// The UK Core vital-signs profile (`UKCore-Observation-VitalSigns-<name>`) and the
    /// FHIR R4 core vital-signs profile the observation conforms to, if any. Their
    /// fixed units are why `unit` is spelt as UK Core spells it.
    profiles: Option<(&'static str, &'static str)>,
}

pub(crate) const PULSE: Vital = Vital {
    id: "pulse",
    snomed: "444981005",
    loinc: "8867-4",
    display: "Heart rate",
    unit: "per minute",
    code: "/min",
    profiles: Some(("HeartRate", "heartrate")),
};
pub(crate) const RESPIRATORY_RATE: Vital = Vital {
    id: "respiratory-rate",
    snomed: "86290005",
    loinc: "9279-1",
    display: "Respiratory rate",
    unit: "per minute",
    code: "/min",
    profiles: Some(("RespirationRate", "resprate")),
};
pub(crate) const SPO2: Vital = Vital {
    id: "spo2",
    snomed: "431314004",
    loinc: "2708-6",
    display: "Oxygen saturation",
    unit: "percent",
    code: "%",
    profiles: Some(("OxygenSaturation", "oxygensat")),
};
pub(crate) const TEMPERATURE: Vital = Vital {
    id: "temperature",
    snomed: "276885007",
    loinc: "8310-5",
    display: "Body temperature",
    unit: "degree Celsius",
    code: "Cel",
    profiles: Some(("BodyTemperature", "bodytemp")),
};
pub(crate) const PEAK_FLOW: Vital = Vital {
    id: "peak-flow",
    snomed: "29893006",
    loinc: "19935-6",
    display: "Peak expiratory flow rate",
    unit: "L/min",
    code: "L/min",
    profiles: None,
};
pub(crate) const WEIGHT: Vital = Vital {
    id: "weight",
    snomed: "27113001",
    loinc: "29463-7",
    display: "Body weight",
    unit: "kilogram",
    code: "kg",
    profiles: Some(("BodyWeight", "bodyweight")),
};
pub(crate) const BLOOD_PRESSURE: (&str, &str) = ("75367002", "85354-9");
pub(crate) const SYSTOLIC: (&str, &str) = ("271649006", "8480-6");
pub(crate) const DIASTOLIC: (&str, &str) = ("271650006", "8462-4");

pub(super) fn two_codes(snomed: &str, loinc: &str, display: &str) -> Value {
    json!({
        "coding": [
            { "system": SNOMED, "code": snomed, "display": display },
            { "system": LOINC, "code": loinc, "display": display },
        ],
        "text": display,
    })
}

pub(super) fn quantity(value: f64, unit: &str, code: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": code })
}

/// `meta` claiming a UK Core vital-signs profile and the FHIR core one it matches (the
/// FHIR specification requires vital signs to conform to the core profiles).
pub(super) fn vital_sign_profiles(uk_core: &str, core: Option<&str>) -> Value {
    let mut profiles = vec![format!(
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation-VitalSigns-{uk_core}"
    )];
    profiles.extend(core.map(|c| format!("http://hl7.org/fhir/StructureDefinition/{c}")));
    json!({ "profile": profiles })
}

pub(super) fn vital_signs() -> Value {
    json!([coded(
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "vital-signs",
        "Vital Signs"
    )])
}

pub(super) fn add_observations(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) {
    let b = &plan.baseline;
    let Some(recorded) = &b.recorded else { return };
    let effective = b
        .observed_on
        .as_deref()
        .and_then(date)
        .unwrap_or_else(|| instant(recorded.at_ms));
    let performer = e.user(recorded);
    let base = |id: &str, category: Value, code: Value| {
        json!({
            "resourceType": "Observation",
            "id": format!("baseline-{id}"),
            "status": "final",
            "category": category,
            "code": code,
            "subject": subject,
            "effectiveDateTime": effective,
            "issued": instant(recorded.at_ms),
            "performer": [performer],
        })
    };
    let values = [
        (&PULSE, b.pulse_bpm.map(f64::from)),
        (&RESPIRATORY_RATE, b.respiratory_rate.map(f64::from)),
        (&SPO2, b.spo2_percent.map(f64::from)),
        (
            &TEMPERATURE,
            b.temperature_decidegrees.map(|t| f64::from(t) / 10.0),
        ),
        (&PEAK_FLOW, b.peak_flow_l_min.map(f64::from)),
        (&WEIGHT, b.weight_decikg.map(|w| f64::from(w) / 10.0)),
    ];
    for (vital, value) in values {
        let Some(value) = value else { continue };
        let mut o = base(
            vital.id,
            vital_signs(),
            two_codes(vital.snomed, vital.loinc, vital.display),
        );
        o["valueQuantity"] = quantity(value, vital.unit, vital.code);
        if let Some((uk, core)) = vital.profiles {
            o["meta"] = vital_sign_profiles(uk, Some(core));
        }
        e.add(o, Some(recorded));
    }
    if b.systolic_mmhg.is_some() || b.diastolic_mmhg.is_some() {
        let mut o = base(
            "blood-pressure",
            vital_signs(),
            two_codes(BLOOD_PRESSURE.0, BLOOD_PRESSURE.1, "Blood pressure"),
        );
        let component = |(snomed, loinc): (&str, &str), display: &str, v: Option<u32>| {
            v.map(|v| {
                json!({
                    "code": two_codes(snomed, loinc, display),
                    "valueQuantity": quantity(f64::from(v), "millimeter of mercury", "mm[Hg]"),
                })
            })
        };
        o["component"] = json!([
            component(SYSTOLIC, "Systolic blood pressure", b.systolic_mmhg),
            component(DIASTOLIC, "Diastolic blood pressure", b.diastolic_mmhg),
        ]);
        // UK Core's blood pressure profile needs the systolic reading, the core one both.
        if b.systolic_mmhg.is_some() {
            let core = b.diastolic_mmhg.map(|_| "bp");
            o["meta"] = vital_sign_profiles("BloodPressure", core);
        }
        e.add(o, Some(recorded));
    }
    let exam = json!([coded(
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "exam",
        "Exam"
    )]);
    if let Some(af) = b.known_af {
        let mut o = base(
            "known-af",
            exam.clone(),
            coded(SNOMED, "49436004", "Atrial fibrillation"),
        );
        o["valueBoolean"] = af.into();
        e.add(o, Some(recorded));
    }
    if !b.usual_cognition.is_empty() {
        let mut o = base("usual-cognition", exam.clone(), text("Usual cognition"));
        o["valueString"] = b.usual_cognition.clone().into();
        e.add(o, Some(recorded));
    }
    if !b.usual_mobility.is_empty() {
        let mut o = base("usual-mobility", exam, text("Usual mobility"));
        o["valueString"] = b.usual_mobility.clone().into();
        e.add(o, Some(recorded));
    }
}

/// The resuscitation decision as an Observation coded with SNOMED CT; one per value when
/// replicas conflict, each `preliminary` until a clinician resolves it. Returns the urls.
pub(super) fn add_resuscitation(
    e: &mut Entries<'_>,
    plan: &CarePlan,
    subject: &Value,
) -> Vec<String> {
    let mut decisions = Vec::new();
    let conflicting = match plan.conflict(SafetyField::Dnacpr) {
        Some(c) => {
            for v in &c.values {
                if let DecisionValue::Resuscitation(r) = &v.value {
                    decisions.push((fhir_id("resuscitation", &v.id), r.clone()));
                }
            }
            true
        }
        None => {
            if let Some(r) = &plan.resuscitation {
                decisions.push(("resuscitation".to_owned(), r.clone()));
            }
            false
        }
    };
    let mut urls = Vec::new();
    for (id, r) in decisions {
        let value = match r.status {
            DnacprStatus::DoNotAttemptCpr => coded(
                SNOMED,
                SNOMED_DNACPR,
                "Not for attempted cardiopulmonary resuscitation",
            ),
            DnacprStatus::ForAttemptedCpr => coded(
                SNOMED,
                SNOMED_FOR_CPR,
                "For attempted cardiopulmonary resuscitation",
            ),
            DnacprStatus::NotRecorded => continue,
        };
        let mut notes = Vec::new();
        if r.respect_form {
            notes.push(json!({ "text": "Recorded on a ReSPECT form" }));
        }
        if !r.decided_by.is_empty() {
            notes.push(json!({ "text": format!("Decided by: {}", r.decided_by) }));
        }
        if !r.original_location.is_empty() {
            notes.push(json!({ "text": format!("Original: {}", r.original_location) }));
        }
        if conflicting {
            notes.push(json!({ "text": "CONFLICTING ENTRIES: confirm with the care team" }));
        }
        let o = json!({
            "resourceType": "Observation",
            "id": id,
            "status": if conflicting { "preliminary" } else { "final" },
            "category": [coded("http://terminology.hl7.org/CodeSystem/observation-category", "survey", "Survey")],
            "code": coded(SNOMED, "735324008", "Treatment escalation plan"),
            "subject": subject,
            "effectiveDateTime": r.decision_date.as_deref().and_then(date).unwrap_or_else(|| instant(r.recorded.at_ms)),
            "issued": instant(r.recorded.at_ms),
            "performer": [e.user(&r.recorded)],
            "valueCodeableConcept": value,
            "note": notes,
        });
        urls.push(e.add(o, Some(&r.recorded)));
    }
    urls
}
