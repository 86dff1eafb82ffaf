//! UK Core (FHIR R4) profiles that exported resources claim in `meta.profile`.
//!
//! Every resource type Red Folder exports has a UK Core profile except Goal, which UK
//! Core does not profile; Goal therefore claims none. The canonical URLs are those of the
//! NHS England FHIR R4 UK Core repository (`structuredefinitions/UKCore-*.xml`).

use serde_json::{Value, json};

/// The canonical URL prefix of UK Core structure definitions.
const UK_CORE: &str = "https://fhir.hl7.org.uk/StructureDefinition/";

/// Resource types with a UK Core profile of the same name (`UKCore-<type>`).
const PROFILED: &[&str] = &[
    "AllergyIntolerance",
    "Bundle",
    "CarePlan",
    "CareTeam",
    "Composition",
    "Condition",
    "Consent",
    "DocumentReference",
    "EpisodeOfCare",
    "MedicationStatement",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "Provenance",
    "RelatedPerson",
    "ServiceRequest",
];

/// The UK Core profile of a resource type, if UK Core has one.
pub(crate) fn uk_core(resource_type: &str) -> Option<String> {
    PROFILED
        .contains(&resource_type)
        .then(|| format!("{UK_CORE}UKCore-{resource_type}"))
}

/// Sets `meta.profile` to the resource type's UK Core profile, unless the resource
/// already claims profiles (vital signs claim the FHIR core vital-signs profile too).
pub(crate) fn claim(resource: &mut Value) {
    if resource.get("meta").is_some() {
        return;
    }
    let kind = resource["resourceType"].as_str().unwrap_or_default();
    if let Some(p) = uk_core(kind) {
        resource["meta"] = json!({ "profile": [p] });
    }
}

/// The UK Core extension on `Patient.identifier` that says whether an NHS number was
/// traced on the Personal Demographics Service.
pub(crate) const NHS_NUMBER_VERIFICATION: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
/// The code system of that extension (NHS Data Dictionary "NHS number status indicator").
pub(crate) const NHS_NUMBER_VERIFICATION_SYSTEM: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";

/// The NHS number identifier with its verification status. Red Folder checks the
/// Modulus 11 digit but never traces a number on PDS, so it says "02 Number present but
/// not traced" rather than claiming a verification it did not do.
pub(crate) fn nhs_number_identifier(nhs_number: &str) -> Value {
    json!({
        "extension": [{
            "url": NHS_NUMBER_VERIFICATION,
            "valueCodeableConcept": {
                "coding": [{
                    "system": NHS_NUMBER_VERIFICATION_SYSTEM,
                    "code": "02",
                    "display": "Number present but not traced",
                }],
            },
        }],
        "system": crate::NHS_NUMBER_SYSTEM,
        "value": nhs_number,
    })
}

/// Languages interpreters are most often booked for in England, by English name, with
/// their BCP-47 tags.
const LANGUAGES: &[(&str, &str)] = &[
    ("albanian", "sq"),
    ("amharic", "am"),
    ("arabic", "ar"),
    ("bengali", "bn"),
    ("british sign language", "bfi"),
    ("bsl", "bfi"),
    ("bulgarian", "bg"),
    ("cantonese", "yue"),
    ("chinese", "zh"),
    ("czech", "cs"),
    ("dari", "prs"),
    ("farsi", "fa"),
    ("french", "fr"),
    ("german", "de"),
    ("greek", "el"),
    ("gujarati", "gu"),
    ("hindi", "hi"),
    ("hungarian", "hu"),
    ("italian", "it"),
    ("kurdish", "ku"),
    ("latvian", "lv"),
    ("lithuanian", "lt"),
    ("mandarin", "cmn"),
    ("nepali", "ne"),
    ("pashto", "ps"),
    ("persian", "fa"),
    ("polish", "pl"),
    ("portuguese", "pt"),
    ("punjabi", "pa"),
    ("romanian", "ro"),
    ("russian", "ru"),
    ("slovak", "sk"),
    ("somali", "so"),
    ("spanish", "es"),
    ("sylheti", "syl"),
    ("tamil", "ta"),
    ("tigrinya", "ti"),
    ("turkish", "tr"),
    ("ukrainian", "uk"),
    ("urdu", "ur"),
    ("vietnamese", "vi"),
    ("welsh", "cy"),
];

/// The BCP-47 tag and display of a language named in free text ("Polish", "polish "),
/// if it is one of [`LANGUAGES`].
pub(crate) fn language_tag(name: &str) -> Option<(&'static str, String)> {
    let key = name.trim().to_lowercase();
    LANGUAGES
        .iter()
        .find(|(n, _)| *n == key)
        .map(|(_, tag)| (*tag, name.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_has_no_uk_core_profile() {
        assert_eq!(
            uk_core("Patient").as_deref(),
            Some("https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient")
        );
        assert_eq!(uk_core("Goal"), None);
    }

    #[test]
    fn languages_get_a_tag_only_when_known() {
        assert_eq!(language_tag(" Polish ").map(|l| l.0), Some("pl"));
        assert_eq!(language_tag("Klingon"), None);
        assert_eq!(language_tag(""), None);
    }
}
