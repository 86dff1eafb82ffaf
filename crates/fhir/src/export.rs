//! The whole plan as a FHIR R4 `collection` Bundle.

use std::collections::BTreeMap;

use redfolder_shared::{
    ActionStatus, AllergySeverity, AllergyStatus, Attribution, CarePlan, ConsentGivenBy,
    ConsentRecipient, DecisionValue, DnacprStatus, GoalStatus, PlanStatus, RegisterState,
    Relationship, SafetyField, Sex, TeamContactKind,
};
use serde_json::{Value, json};

use crate::profile;
use crate::util::{
    USER_SYSTEM, annotation, coded, date, fhir_id, instant, prune, reference, text, urn,
};
use crate::{
    LOINC, ODS_SYSTEM, SNOMED, SNOMED_DNACPR, SNOMED_FOR_CPR, SNOMED_NO_KNOWN_ALLERGY, UCUM,
};

/// Entries of one bundle under construction, who last changed each resource, and the
/// people and organisations its resources refer to.
pub(crate) struct Entries<'a> {
    patient_id: &'a str,
    pub(crate) entries: Vec<Value>,
    /// Last changer → the resources whose latest change was theirs.
    changed_by: BTreeMap<(i64, String, String), Vec<String>>,
    /// Practitioner and Organization resources by id, added once each by
    /// [`Entries::add_parties`] after every reference to them is known.
    parties: BTreeMap<(&'static str, String), Value>,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(patient_id: &'a str) -> Entries<'a> {
        Entries {
            patient_id,
            entries: Vec::new(),
            changed_by: BTreeMap::new(),
            parties: BTreeMap::new(),
        }
    }

    /// The `fullUrl` a resource of this type and id has in this bundle.
    pub(crate) fn url(&self, resource_type: &str, id: &str) -> String {
        urn(self.patient_id, resource_type, id)
    }

    /// Adds a resource (claiming its UK Core profile, pruned of empty elements) and
    /// returns its `fullUrl`.
    pub(crate) fn add(&mut self, mut resource: Value, by: Option<&Attribution>) -> String {
        profile::claim(&mut resource);
        prune(&mut resource);
        let kind = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = resource["id"].as_str().unwrap_or_default().to_owned();
        let url = self.url(&kind, &id);
        if let Some(a) = by {
            self.changed_by
                .entry((a.at_ms, a.user_id.clone(), a.user_name.clone()))
                .or_default()
                .push(url.clone());
        }
        self.entries
            .push(json!({ "fullUrl": url, "resource": resource }));
        url
    }

    /// A reference to the Practitioner of a Red Folder user, who is added to the bundle.
    /// It keeps the user's identifier and name, so a reader that does not resolve
    /// references still knows who it was.
    pub(crate) fn user(&mut self, a: &Attribution) -> Value {
        let id = fhir_id("practitioner", &a.user_id);
        let url = self.url("Practitioner", &id);
        let identifier = json!({ "system": USER_SYSTEM, "value": a.user_id });
        // A user renamed since is named as they were at their latest change.
        let entry = self
            .parties
            .entry(("Practitioner", id.clone()))
            .or_insert_with(|| json!({}));
        if entry["_at"].as_i64().is_none_or(|at| at <= a.at_ms) {
            *entry = json!({
                "_at": a.at_ms,
                "resourceType": "Practitioner",
                "id": id,
                "identifier": [identifier],
                "name": [{ "text": a.user_name }],
            });
        }
        json!({ "reference": url, "identifier": identifier, "display": a.user_name })
    }

    /// A reference to a Practitioner known only by name (and perhaps phone), such as
    /// the case manager, whom the plan names without a user account.
    pub(crate) fn named_practitioner(
        &mut self,
        id: &str,
        name: &str,
        phone: &str,
        display: &str,
    ) -> Value {
        let url = self.url("Practitioner", id);
        self.parties.insert(
            ("Practitioner", id.to_owned()),
            json!({
                "resourceType": "Practitioner",
                "id": id,
                "name": [{ "text": name }],
                "telecom": [if phone.is_empty() { Value::Null } else { json!({ "system": "phone", "value": phone, "use": "work" }) }],
            }),
        );
        reference(&url, Some(display))
    }

    /// A reference to an Organization: by ODS code when known (the registered
    /// practice), otherwise by name.
    pub(crate) fn organization(&mut self, ods: &str, name: &str) -> Value {
        let id = fhir_id("organization", if ods.is_empty() { name } else { ods });
        let url = self.url("Organization", &id);
        let identifier = if ods.is_empty() {
            Value::Null
        } else {
            json!({ "system": ODS_SYSTEM, "value": ods })
        };
        self.parties.insert(
            ("Organization", id.clone()),
            json!({
                "resourceType": "Organization",
                "id": id,
                "identifier": [identifier],
                "name": name,
            }),
        );
        let mut r = json!({ "reference": url, "identifier": identifier, "display": name });
        prune(&mut r);
        r
    }

    /// Adds the Practitioner and Organization resources referred to so far.
    pub(crate) fn add_parties(&mut self) {
        let parties = std::mem::take(&mut self.parties);
        for (_, mut resource) in parties {
            if let Some(map) = resource.as_object_mut() {
                map.remove("_at");
            }
            self.add(resource, None);
        }
    }

    /// One Provenance per person and moment, targeting the resources they changed last.
    pub(crate) fn add_provenance(&mut self) {
        let groups = std::mem::take(&mut self.changed_by);
        for ((at_ms, user_id, user_name), targets) in groups {
            let id = fhir_id("provenance", &format!("{at_ms}-{user_id}"));
            let who = self.user(&Attribution {
                user_id,
                user_name,
                at_ms,
            });
            let resource = json!({
                "resourceType": "Provenance",
                "id": id,
                "target": targets.iter().map(|t| reference(t, None)).collect::<Vec<_>>(),
                "recorded": instant(at_ms),
                "activity": coded("http://terminology.hl7.org/CodeSystem/v3-DataOperation", "UPDATE", "revise"),
                "agent": [{
                    "type": coded("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author", "Author"),
                    "who": who,
                }],
            });
            self.add(resource, None);
        }
    }

    /// The Bundle of everything added, with the parties its resources refer to.
    pub(crate) fn bundle(mut self, kind: &str) -> Value {
        self.add_parties();
        json!({
            "resourceType": "Bundle",
            "meta": { "profile": [profile::uk_core("Bundle")] },
            "type": kind,
            "entry": self.entries,
        })
    }
}

/// The patient's plan as a FHIR R4 `collection` Bundle: Patient, EpisodeOfCare,
/// CarePlan, CareTeam, RelatedPerson, Condition, MedicationStatement,
/// AllergyIntolerance, Observation (vital signs and the resuscitation decision), Goal,
/// Consent and Provenance, and the Practitioner and Organization resources they refer to.
/// Each claims its UK Core profile. Entries marked entered-in-error are exported with
/// that status.
pub fn plan_bundle(patient_id: &str, plan: &CarePlan) -> Value {
    let mut e = Entries::new(patient_id);
    let patient = add_patient(&mut e, plan);
    add_clinical(&mut e, plan, &patient);
    let subject = reference(&patient, Some(&plan.patient.name));

    let episode = add_episode(&mut e, plan, &subject);
    let team = add_care_team(&mut e, plan, &subject);
    for c in &plan.key_contacts {
        add_related_person(&mut e, c, &patient);
    }
    let goals: Vec<String> = plan
        .goals
        .iter()
        .map(|g| add_goal(&mut e, g, &subject))
        .collect();
    add_consent(&mut e, plan, &subject);
    add_care_plan(&mut e, plan, &subject, &episode, &team, &goals);
    e.add_provenance();
    e.bundle("collection")
}

/// Patient, Condition, MedicationStatement, AllergyIntolerance and Observation: what the
/// plan and the emergency document share. Returns nothing; the Patient's url is known.
fn add_clinical(e: &mut Entries<'_>, plan: &CarePlan, patient: &str) {
    let subject = reference(patient, Some(&plan.patient.name));
    for c in &plan.conditions {
        let id = fhir_id("condition", &c.id);
        let error = c.entered_in_error.is_some();
        let resource = json!({
            "resourceType": "Condition",
            "id": id,
            "clinicalStatus": if error { Value::Null } else {
                coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")
            },
            "verificationStatus": if error {
                coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "entered-in-error", "Entered in Error")
            } else {
                coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed")
            },
            "category": [coded("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")],
            "code": text(&c.name),
            "subject": subject,
            "recordedDate": instant(c.recorded.at_ms),
            "recorder": e.user(&c.recorded),
            "note": [if c.treatment.is_empty() { Value::Null } else { json!({ "text": c.treatment }) }],
        });
        e.add(
            resource,
            Some(latest(
                &c.recorded,
                c.entered_in_error.as_ref().map(|x| &x.by),
            )),
        );
    }
    for m in &plan.medications {
        let id = fhir_id("medication", &m.id);
        let mut notes = Vec::new();
        if !m.notes.is_empty() {
            notes.push(json!({ "text": m.notes }));
        }
        if !m.location.is_empty() {
            notes.push(json!({ "text": format!("Kept: {}", m.location) }));
        }
        let resource = json!({
            "resourceType": "MedicationStatement",
            "id": id,
            "status": if m.entered_in_error.is_some() { "entered-in-error" } else { "active" },
            "category": medication_category(m.anticipatory),
            "medicationCodeableConcept": text(&m.name),
            "subject": subject,
            "dateAsserted": instant(m.recorded.at_ms),
            "informationSource": e.user(&m.recorded),
            "dosage": [if m.dose.is_empty() { Value::Null } else { json!({ "text": m.dose }) }],
            "note": notes,
        });
        e.add(
            resource,
            Some(latest(
                &m.recorded,
                m.entered_in_error.as_ref().map(|x| &x.by),
            )),
        );
    }
    let allergy_conflict = plan.conflict(SafetyField::Allergies).is_some();
    for a in &plan.allergies {
        let id = fhir_id("allergy", &a.id);
        let error = a.entered_in_error.is_some();
        let severity = match a.severity {
            AllergySeverity::Mild => Value::from("mild"),
            AllergySeverity::Moderate => "moderate".into(),
            AllergySeverity::Severe => "severe".into(),
            AllergySeverity::Unknown => Value::Null,
        };
        let reaction = if a.reaction.is_empty() {
            Value::Null
        } else {
            json!({ "manifestation": [text(&a.reaction)], "severity": severity })
        };
        let resource = json!({
            "resourceType": "AllergyIntolerance",
            "id": id,
            "clinicalStatus": if error { Value::Null } else {
                coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")
            },
            "verificationStatus": allergy_verification(error, allergy_conflict),
            "code": text(&a.substance),
            "criticality": if a.severity == AllergySeverity::Severe { Value::from("high") } else { Value::Null },
            "patient": subject,
            "recordedDate": instant(a.recorded.at_ms),
            "recorder": e.user(&a.recorded),
            "reaction": [reaction],
        });
        e.add(
            resource,
            Some(latest(
                &a.recorded,
                a.entered_in_error.as_ref().map(|x| &x.by),
            )),
        );
    }
    // "No known allergies" is exported while it stands, or (unconfirmed) while it
    // conflicts with recorded allergies.
    if (plan.allergy_status() == AllergyStatus::NoKnownAllergies || allergy_conflict)
        && let Some(statement) = &plan.allergy_status
        && statement.status == AllergyStatus::NoKnownAllergies
    {
        let resource = json!({
            "resourceType": "AllergyIntolerance",
            "id": "allergy-none-known",
            "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"),
            "verificationStatus": allergy_verification(false, allergy_conflict),
            "code": coded(SNOMED, SNOMED_NO_KNOWN_ALLERGY, "No known allergy"),
            "patient": subject,
            "recordedDate": instant(statement.recorded.at_ms),
            "recorder": e.user(&statement.recorded),
        });
        e.add(resource, Some(&statement.recorded));
    }
    add_observations(e, plan, &subject);
}

/// `MedicationStatement.category` (one CodeableConcept): "community" from the UK Core
/// value set (taken at home), plus SNOMED CT "anticipatory medicine" for a just-in-case
/// medicine, which that extensible value set has no code for.
pub(crate) fn medication_category(anticipatory: bool) -> Value {
    let mut codings = vec![json!({
        "system": "http://terminology.hl7.org/CodeSystem/medication-statement-category",
        "code": "community",
        "display": "Community",
    })];
    if anticipatory {
        codings.push(json!({ "system": SNOMED, "code": "1066711000000100", "display": "Anticipatory medicine" }));
    }
    json!({
        "coding": codings,
        "text": if anticipatory { "Anticipatory medicine" } else { "Community" },
    })
}

fn allergy_verification(error: bool, conflicting: bool) -> Value {
    let system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
    if error {
        coded(system, "entered-in-error", "Entered in Error")
    } else if conflicting {
        // Replicas disagree about allergies: nothing here is confirmed until a clinician
        // resolves the conflict.
        coded(system, "unconfirmed", "Unconfirmed")
    } else {
        coded(system, "confirmed", "Confirmed")
    }
}

fn latest<'a>(recorded: &'a Attribution, other: Option<&'a Attribution>) -> &'a Attribution {
    match other {
        Some(o) if o.at_ms >= recorded.at_ms => o,
        _ => recorded,
    }
}

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

fn two_codes(snomed: &str, loinc: &str, display: &str) -> Value {
    json!({
        "coding": [
            { "system": SNOMED, "code": snomed, "display": display },
            { "system": LOINC, "code": loinc, "display": display },
        ],
        "text": display,
    })
}

fn quantity(value: f64, unit: &str, code: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": code })
}

/// `meta` claiming a UK Core vital-signs profile and the FHIR core one it matches (the
/// FHIR specification requires vital signs to conform to the core profiles).
fn vital_sign_profiles(uk_core: &str, core: Option<&str>) -> Value {
    let mut profiles = vec![format!(
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation-VitalSigns-{uk_core}"
    )];
    profiles.extend(core.map(|c| format!("http://hl7.org/fhir/StructureDefinition/{c}")));
    json!({ "profile": profiles })
}

fn vital_signs() -> Value {
    json!([coded(
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "vital-signs",
        "Vital Signs"
    )])
}

fn add_observations(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) {
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
fn add_resuscitation(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) -> Vec<String> {
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

fn add_patient(e: &mut Entries<'_>, plan: &CarePlan) -> String {
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
fn practice(e: &mut Entries<'_>, plan: &CarePlan) -> Value {
    let p = &plan.patient;
    if p.gp_practice_ods.is_empty() && p.gp_practice_name.is_empty() {
        return Value::Null;
    }
    e.organization(&p.gp_practice_ods, &p.gp_practice_name)
}

/// A reference to the case manager as a Practitioner: the plan names them (with role and
/// phone) rather than linking a user account, so they have a Practitioner of their own.
fn case_manager(e: &mut Entries<'_>, plan: &CarePlan) -> Value {
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

fn add_episode(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) -> String {
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

fn add_care_team(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) -> String {
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

fn add_related_person(e: &mut Entries<'_>, c: &redfolder_shared::Contact, patient: &str) {
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

fn add_goal(e: &mut Entries<'_>, g: &redfolder_shared::Goal, subject: &Value) -> String {
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

fn add_consent(e: &mut Entries<'_>, plan: &CarePlan, subject: &Value) {
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

fn add_care_plan(
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

#[cfg(test)]
mod tests {
    use redfolder_shared::{ActorId, Edit, Editor, NewPlan, PlanDoc};
    use serde_json::Value;

    use super::*;

    fn resources<'b>(bundle: &'b Value, kind: &str) -> Vec<&'b Value> {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == kind)
            .collect()
    }

    fn resolve<'b>(bundle: &'b Value, reference: &Value) -> &'b Value {
        let url = reference["reference"].as_str().expect("a reference");
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["fullUrl"] == url)
            .map(|e| &e["resource"])
            .unwrap_or_else(|| panic!("{url} does not resolve"))
    }

    #[test]
    fn people_and_the_practice_are_resources_of_the_bundle() {
        let nurse = redfolder_shared::testkit::editor("u1", "Nurse One");
        let new = redfolder_shared::testkit::example_patient();
        let t = 1_790_000_000_000;
        let mut doc = PlanDoc::create(ActorId::from(b"a".as_slice()), &new, &nurse, t).unwrap();
        doc.apply_all(
            &[
                Edit::SetPatientDetails {
                    preferred_name: String::new(),
                    sex: None,
                    phone: String::new(),
                    access_notes: String::new(),
                    residence: None,
                    gp_practice_ods: "A81001".into(),
                    gp_practice_name: "Ashbridge Surgery".into(),
                    named_gp: String::new(),
                    communication_needs: String::new(),
                    interpreter_language: String::new(),
                },
                Edit::SetCaseManager {
                    name: "Cath Manager".into(),
                    role: "community matron".into(),
                    phone: "01234 567890".into(),
                },
                Edit::AddCondition {
                    id: "c1".into(),
                    name: "COPD".into(),
                    treatment: String::new(),
                },
                Edit::AddAnticipatoryMedication {
                    id: "m1".into(),
                    name: "Morphine sulfate".into(),
                    dose: "2.5 mg subcutaneous".into(),
                    location: "kitchen cupboard".into(),
                    notes: String::new(),
                },
            ],
            &nurse,
            t + 1000,
        )
        .unwrap();
        let bundle = plan_bundle("p1", &doc.plan().unwrap());

        // MedicationStatement.category is one CodeableConcept; an anticipatory medicine
        // and where it is kept read back.
        let medication = resources(&bundle, "MedicationStatement")[0];
        assert!(medication["category"].is_object(), "{medication:#}");
        let import = crate::parse_import(&bundle).unwrap();
        assert!(import.medications[0].anticipatory);
        assert_eq!(import.medications[0].location, "kitchen cupboard");

        let patient = resources(&bundle, "Patient")[0];
        let practice = resolve(&bundle, &patient["generalPractitioner"][0]);
        assert_eq!(practice["resourceType"], "Organization");
        assert_eq!(practice["identifier"][0]["value"], "A81001");
        assert_eq!(
            patient["identifier"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
            "02"
        );
        let episode = resources(&bundle, "EpisodeOfCare")[0];
        let cm = resolve(&bundle, &episode["careManager"]);
        assert_eq!(cm["name"][0]["text"], "Cath Manager");
        assert_eq!(cm["telecom"][0]["value"], "01234 567890");
        let condition = resources(&bundle, "Condition")[0];
        let recorder = resolve(&bundle, &condition["recorder"]);
        assert_eq!(recorder["identifier"][0]["value"], "u1");
        for p in resources(&bundle, "Provenance") {
            let who = resolve(&bundle, &p["agent"][0]["who"]);
            assert_eq!(who["resourceType"], "Practitioner");
        }
        // One Practitioner per user, however many resources they touched.
        let practitioners = resources(&bundle, "Practitioner");
        assert_eq!(practitioners.len(), 2, "{practitioners:#?}");

        for entry in bundle["entry"].as_array().unwrap() {
            let r = &entry["resource"];
            let kind = r["resourceType"].as_str().unwrap();
            let claimed = r["meta"]["profile"][0].as_str();
            match profile::uk_core(kind) {
                // Vital signs claim UK Core's more specific profiles, derived from it.
                Some(p) => assert!(claimed.is_some_and(|c| c.starts_with(&p)), "{r:#}"),
                None => assert!(claimed.is_none(), "{r:#}"),
            }
        }
        assert_eq!(
            bundle["meta"]["profile"][0],
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Bundle"
        );
    }

    /// Every string at a `text` key anywhere in `v`.
    fn texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if let (true, Some(s)) = (k == "text", v.as_str()) {
                        out.push(s.to_owned());
                    }
                    texts(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
            _ => {}
        }
    }

    /// Two tablets that set DNACPR and the ceiling of treatment differently, merged.
    fn diverged() -> CarePlan {
        let nurse = |id: &str| Editor {
            user_id: id.into(),
            user_name: id.into(),
        };
        let new = NewPlan {
            nhs_number: "9434765919".into(),
            name: "Ada Example".into(),
            date_of_birth: "1938-02-28".into(),
            address: "1 High Street".into(),
        };
        let t = 1_790_000_000_000;
        let mut base =
            PlanDoc::create(ActorId::from(b"s".as_slice()), &new, &nurse("u0"), t).unwrap();
        let saved = base.save();
        let mut one = PlanDoc::load(&saved, ActorId::from(b"a".as_slice())).unwrap();
        let mut two = PlanDoc::load(&saved, ActorId::from(b"b".as_slice())).unwrap();
        let set = |status, ceiling| {
            [
                Edit::SetDnacpr { status },
                Edit::SetCeilingOfTreatment {
                    ceiling,
                    notes: String::new(),
                },
            ]
        };
        one.apply_all(
            &set(
                DnacprStatus::ForAttemptedCpr,
                redfolder_shared::TreatmentCeiling::FullEscalation,
            ),
            &nurse("u1"),
            t + 1000,
        )
        .unwrap();
        two.apply_all(
            &set(
                DnacprStatus::DoNotAttemptCpr,
                redfolder_shared::TreatmentCeiling::ComfortCareOnly,
            ),
            &nurse("u2"),
            t + 2000,
        )
        .unwrap();
        base.automerge().merge(one.automerge()).unwrap();
        base.automerge().merge(two.automerge()).unwrap();
        base.plan().unwrap()
    }

    #[test]
    fn a_conflicting_register_is_exported_as_conflicting_never_as_a_value() {
        let plan = diverged();
        let bundle = plan_bundle("p1", &plan);
        let mut all = Vec::new();
        texts(&bundle, &mut all);
        let ceilings: Vec<&String> = all
            .iter()
            .filter(|t| t.starts_with("Ceiling of treatment"))
            .collect();
        assert_eq!(
            ceilings,
            [&"Ceiling of treatment: Conflicting: Full escalation including intensive care / Comfort and symptom control only \u{2014} confirm with the care team".to_owned()],
        );
        // Both resuscitation values go out preliminary; none is final.
        let resus: Vec<&Value> = resources(&bundle, "Observation")
            .into_iter()
            .filter(|o| {
                o["code"]["coding"][0]["code"] == "735324008"
                    || o["valueCodeableConcept"]["coding"][0]["code"] == SNOMED_DNACPR
            })
            .collect();
        assert!(!resus.is_empty());
        for o in resus {
            assert_ne!(o["status"], "final", "{o}");
        }
    }

    #[test]
    fn a_conflicting_summary_document_codes_no_resuscitation_decision() {
        let summary = redfolder_shared::emergency_summary(&diverged());
        let doc = crate::summary_document("p1", &summary);
        let text = doc.to_string();
        for o in resources(&doc, "Observation") {
            assert_eq!(o["status"], "preliminary", "{o}");
        }
        let composition = &resources(&doc, "Composition")[0];
        let section = composition["section"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"] == "Resuscitation (DNACPR / ReSPECT)")
            .unwrap();
        assert_eq!(section["code"]["coding"][0]["code"], "735324008");
        assert!(!section["code"].to_string().contains(SNOMED_DNACPR));
        assert!(text.contains(
            "Conflicting: For attempted CPR / DNACPR in place: do not attempt CPR \u{2014} confirm with the care team"
        ));
    }
}
