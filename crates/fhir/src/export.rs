//! The whole plan as a FHIR R4 `collection` Bundle.

mod care_plan;
mod clinical;
mod observations;
mod people;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use redfolder_shared::{Attribution, CarePlan};
use serde_json::{Value, json};

use crate::ODS_SYSTEM;
use crate::profile;
use crate::util::{USER_SYSTEM, coded, fhir_id, instant, prune, reference, urn};

use care_plan::{add_care_plan, add_consent, add_goal};
use clinical::add_clinical;
pub(crate) use clinical::medication_category;
pub(crate) use observations::{
    BLOOD_PRESSURE, DIASTOLIC, PEAK_FLOW, PULSE, RESPIRATORY_RATE, SPO2, SYSTOLIC, TEMPERATURE,
    Vital, WEIGHT,
};
pub(crate) use people::split_name;
use people::{add_care_team, add_episode, add_patient, add_related_person};

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
