//! A resuscitation decision (an Observation or Consent coded with SNOMED CT) read from
//! the bundle; when it holds several, the latest decision.

use redfolder_shared::DnacprStatus;
use serde_json::Value;

use super::{ImportedResuscitation, has_code, notes};
use crate::{SNOMED_DNACPR, SNOMED_FOR_CPR};

/// The resuscitation decision a resource is coded with, if any: SNOMED CT 450476008
/// (not for attempted CPR) or 304252001 (for attempted CPR) in an Observation's code or
/// value, or a Consent's category or provision codes.
pub(super) fn resuscitation_status(r: &Value) -> Option<DnacprStatus> {
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

pub(super) fn read_resuscitation(r: &Value, at: &str) -> ImportedResuscitation {
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
pub(super) fn one_resuscitation(
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
