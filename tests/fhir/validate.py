#!/usr/bin/env python3
"""Validates a FHIR R4 Bundle read from stdin with fhir.resources 6.4.0 (FHIR 4.0.1).

Every entry's resource is validated on its own (structure, cardinality, datatypes and
primitive formats, required enumerations), then the whole bundle. Checks the pydantic
models cannot express are done here: references inside the bundle resolve to an entry's
fullUrl, a document's first entry is a Composition, and fullUrls are unique.

Profile claims are checked too, as far as this script can without the profiles' own
definitions: every resource of a type UK Core profiles claims that UK Core profile (or a
UK Core vital-signs profile derived from it) and only profiles known to exist; the
Patient's NHS number carries the UK Core verification-status extension with a code of
its value set; an Observation claiming a UK Core vital-signs profile has its status,
single category, LOINC and SNOMED CT codings, fixed UCUM code and unit string (and, for
blood pressure, its closed component slicing); one claiming a FHIR core vital-signs
profile has that profile's fixed LOINC code, category and UCUM units.

Exit 0 when valid; otherwise exit 1 and list every error on stderr. Exit 2 when the
validator itself is not installed (see tests/fhir/requirements.txt).
"""
import json
import re
import sys

try:
    import fhir.resources
    from fhir.resources import construct_fhir_element
    from pydantic import ValidationError
except ImportError as e:  # pragma: no cover - reported to the Rust test
    print(f"fhir.resources is not installed ({e}): run "
          "`python3 -m venv target/fhir-venv && target/fhir-venv/bin/python -m pip install "
          "-r tests/fhir/requirements.txt`", file=sys.stderr)
    sys.exit(2)


# Required bindings (FHIR R4 value sets bound `required`) of the elements Red Folder writes:
# fhir.resources checks structure, cardinality and datatypes but not these codes.
REQUIRED_CODES = {
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch",
                         "batch-response", "history", "searchset", "collection"},
    ("*", "text.status"): {"generated", "extensions", "additional", "empty"},
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("*", "telecom[].system"): {"phone", "fax", "email", "pager", "url", "sms", "other"},
    ("*", "telecom[].use"): {"home", "work", "temp", "old", "mobile"},
    ("*", "name[].use"): {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"},
    ("EpisodeOfCare", "status"): {"planned", "waitlist", "active", "onhold", "finished",
                                  "cancelled", "entered-in-error"},
    ("CarePlan", "status"): {"draft", "active", "on-hold", "revoked", "completed",
                             "entered-in-error", "unknown"},
    ("CarePlan", "intent"): {"proposal", "plan", "order", "option"},
    ("CarePlan", "activity[].detail.status"): {"not-started", "scheduled", "in-progress",
                                               "on-hold", "completed", "cancelled", "stopped",
                                               "unknown", "entered-in-error"},
    ("CareTeam", "status"): {"proposed", "active", "suspended", "inactive", "entered-in-error"},
    ("Condition", "clinicalStatus.coding[].code"): {"active", "recurrence", "relapse", "inactive",
                                                    "remission", "resolved"},
    ("Condition", "verificationStatus.coding[].code"): {"unconfirmed", "provisional",
                                                        "differential", "confirmed", "refuted",
                                                        "entered-in-error"},
    ("MedicationStatement", "status"): {"active", "completed", "entered-in-error", "intended",
                                        "stopped", "on-hold", "unknown", "not-taken"},
    ("AllergyIntolerance", "clinicalStatus.coding[].code"): {"active", "inactive", "resolved"},
    ("AllergyIntolerance", "verificationStatus.coding[].code"): {"unconfirmed", "confirmed",
                                                                 "refuted", "entered-in-error"},
    ("AllergyIntolerance", "reaction[].severity"): {"mild", "moderate", "severe"},
    ("AllergyIntolerance", "criticality"): {"low", "high", "unable-to-assess"},
    ("Observation", "status"): {"registered", "preliminary", "final", "amended", "corrected",
                                "cancelled", "entered-in-error", "unknown"},
    ("Goal", "lifecycleStatus"): {"proposed", "planned", "accepted", "active", "on-hold",
                                  "completed", "cancelled", "entered-in-error", "rejected"},
    ("Consent", "status"): {"draft", "proposed", "active", "rejected", "inactive",
                            "entered-in-error"},
    ("Consent", "provision.type"): {"deny", "permit"},
    ("Consent", "provision.provision[].type"): {"deny", "permit"},
    ("Composition", "status"): {"preliminary", "final", "amended", "entered-in-error"},
    ("Composition", "section[].text.status"): {"generated", "extensions", "additional", "empty"},
    ("ServiceRequest", "status"): {"draft", "active", "on-hold", "revoked", "completed",
                                   "entered-in-error", "unknown"},
    ("ServiceRequest", "intent"): {"proposal", "plan", "directive", "order", "original-order",
                                   "reflex-order", "filler-order", "instance-order", "option"},
    ("ServiceRequest", "priority"): {"routine", "urgent", "asap", "stat"},
    ("DocumentReference", "status"): {"current", "superseded", "entered-in-error"},
}


UK_CORE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"
# Resource types with a UK Core profile (NHS England's FHIR R4 UK Core,
# structuredefinitions/UKCore-<type>.xml). Goal has none.
UK_CORE_TYPES = {"AllergyIntolerance", "Bundle", "CarePlan", "CareTeam", "Composition",
                 "Condition", "Consent", "DocumentReference", "EpisodeOfCare",
                 "MedicationStatement", "Observation", "Organization", "Patient", "Practitioner",
                 "Provenance", "RelatedPerson", "ServiceRequest"}
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
NHS_VERIFICATION = ("https://fhir.hl7.org.uk/StructureDefinition/"
                    "Extension-UKCore-NHSNumberVerificationStatus")
NHS_VERIFICATION_SYSTEM = ("https://fhir.hl7.org.uk/CodeSystem/"
                           "UKCore-NHSNumberVerificationStatusEngland")
NHS_VERIFICATION_CODES = {"01", "02", "03", "04", "05", "06", "07", "08"}
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# FHIR R4 core vital-signs profiles: fixed LOINC code and allowed UCUM units.
CORE_VITALS = {
    "http://hl7.org/fhir/StructureDefinition/heartrate": ("8867-4", {"/min"}),
    "http://hl7.org/fhir/StructureDefinition/resprate": ("9279-1", {"/min"}),
    "http://hl7.org/fhir/StructureDefinition/oxygensat": ("2708-6", {"%"}),
    "http://hl7.org/fhir/StructureDefinition/bodytemp": ("8310-5", {"Cel", "[degF]"}),
    "http://hl7.org/fhir/StructureDefinition/bodyweight": ("29463-7", {"kg", "g", "[lb_av]"}),
    "http://hl7.org/fhir/StructureDefinition/bp": ("85354-9", None),
}

SNOMED = "http://snomed.info/sct"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# UK Core vital-signs profiles (UKCore-Observation-VitalSigns-<name>, parent
# UKCore-Observation-VitalSigns): fixed LOINC code, UCUM code and unit string.
UK_VITALS = {
    "HeartRate": ("8867-4", "/min", "per minute"),
    "RespirationRate": ("9279-1", "/min", "per minute"),
    "OxygenSaturation": ("2708-6", "%", "percent"),
    "BodyTemperature": ("8310-5", "Cel", "degree Celsius"),
    "BodyWeight": ("29463-7", "kg", "kilogram"),
    "BloodPressure": ("85354-9", None, None),
}
BP_COMPONENTS = {"Systolic blood pressure": ("8480-6", 1, 1),
                 "Diastolic blood pressure": ("8462-4", 0, 1)}


def check_uk_vital(resource, name, where, errors):
    """The rules of UKCore-Observation-VitalSigns and its child profile `name`."""
    loinc, ucum, unit = UK_VITALS[name]
    what = f"{where}: UKCore-Observation-VitalSigns-{name}"
    if resource.get("status") != "final":
        errors.append(f"{what} needs status final")
    categories = resource.get("category", [])
    if len(categories) != 1 or not has_coding(categories[0], OBSERVATION_CATEGORY, "vital-signs"):
        errors.append(f"{what} needs exactly one category, vital-signs")
    codings = resource.get("code", {}).get("coding", [])
    loincs = [c for c in codings if c.get("system") == LOINC]
    if len(loincs) != 1 or loincs[0].get("code") != loinc:
        errors.append(f"{what} needs one LOINC coding {loinc}")
    if not any(c.get("system") == SNOMED and c.get("code") for c in codings):
        errors.append(f"{what} needs a SNOMED CT coding")
    if "subject" not in resource or not any(k.startswith("effective") for k in resource):
        errors.append(f"{what} needs subject and effective[x]")

    def quantity(q, code, unit, at):
        if (not q or "value" not in q or q.get("system") != UCUM or q.get("code") != code
                or q.get("unit") != unit):
            errors.append(f"{what}{at} needs value, system UCUM, code {code!r}, unit {unit!r}")

    if ucum is None:
        if any(k.startswith("value") for k in resource):
            errors.append(f"{what} has no value[x] (its components carry the readings)")
        components = resource.get("component", [])
        for c in components:
            if c.get("code", {}).get("text") not in BP_COMPONENTS:
                errors.append(f"{what}: component {c.get('code')} is not a slice of the "
                              "closed slicing by code.text")
        for text, (code, low, high) in BP_COMPONENTS.items():
            found = [c for c in components if c.get("code", {}).get("text") == text]
            if not low <= len(found) <= high:
                errors.append(f"{what} needs {low}..{high} component {text!r}")
            for c in found:
                codings = c["code"].get("coding", [])
                if not any(x.get("system") == LOINC and x.get("code") == code
                           and x.get("display") == text for x in codings):
                    errors.append(f"{what}: component {text!r} needs LOINC {code} '{text}'")
                if not any(x.get("system") == SNOMED for x in codings):
                    errors.append(f"{what}: component {text!r} needs a SNOMED CT coding")
                quantity(c.get("valueQuantity"), "mm[Hg]", "millimeter of mercury",
                         f".component({text})")
    else:
        quantity(resource.get("valueQuantity"), ucum, unit, ".valueQuantity")


def has_coding(concept, system, code):
    return any(c.get("system") == system and c.get("code") == code
               for c in (concept or {}).get("coding", []))


def check_vital(resource, profile, where, errors):
    code, units = CORE_VITALS[profile]
    if not has_coding(resource.get("code"), LOINC, code):
        errors.append(f"{where}: {profile} needs code LOINC {code}")
    if not any(has_coding(c, "http://terminology.hl7.org/CodeSystem/observation-category",
                          "vital-signs") for c in resource.get("category", [])):
        errors.append(f"{where}: {profile} needs category vital-signs")
    if "subject" not in resource or not any(k.startswith("effective") for k in resource):
        errors.append(f"{where}: {profile} needs subject and effective[x]")

    def quantity(q, allowed, at):
        if not q or q.get("system") != UCUM or q.get("code") not in allowed or "value" not in q:
            errors.append(f"{where}{at}: {profile} needs a UCUM quantity in {sorted(allowed)}")

    if units is None:
        components = resource.get("component", [])
        for loinc in ("8480-6", "8462-4"):
            found = [c for c in components if has_coding(c.get("code"), LOINC, loinc)]
            if len(found) != 1:
                errors.append(f"{where}: {profile} needs one component LOINC {loinc}")
            for c in found:
                quantity(c.get("valueQuantity"), {"mm[Hg]"}, f".component({loinc})")
    else:
        quantity(resource.get("valueQuantity"), units, ".valueQuantity")


def check_profiles(resource, where, errors):
    """UK Core and core vital-signs profile claims, and the UK Core rules checked here."""
    kind = resource.get("resourceType")
    profiles = resource.get("meta", {}).get("profile", [])
    uk_vital = UK_CORE + "Observation-VitalSigns-"
    claims_uk_core = UK_CORE + kind in profiles or (
        kind == "Observation" and any(p.startswith(uk_vital) for p in profiles))
    if kind in UK_CORE_TYPES and not claims_uk_core:
        errors.append(f"{where}: does not claim {UK_CORE}{kind} (or a profile derived from it)")
    for p in profiles:
        if p == UK_CORE + kind:
            continue
        if kind == "Observation" and p.startswith(uk_vital) and p[len(uk_vital):] in UK_VITALS:
            check_uk_vital(resource, p[len(uk_vital):], where, errors)
            continue
        if kind == "Observation" and p in CORE_VITALS:
            check_vital(resource, p, where, errors)
            continue
        errors.append(f"{where}: claims {p}, which is not a profile this script knows exists "
                      f"for {kind}")
    if kind == "Patient":
        # UK Core binds communication.language to AllLanguages (BCP-47), required.
        for c in resource.get("communication", []):
            codings = c.get("language", {}).get("coding", [])
            if not any(x.get("system") == "urn:ietf:bcp:47"
                       and re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*", x.get("code", ""))
                       for x in codings):
                errors.append(f"{where}: communication.language needs a BCP-47 coding "
                              "(UK Core binds it, required)")
        nhs = [i for i in resource.get("identifier", []) if i.get("system") == NHS_NUMBER_SYSTEM]
        for i in nhs:
            value = i.get("value", "")
            if not (len(value) == 10 and value.isdigit()):
                errors.append(f"{where}: NHS number {value!r} is not 10 digits")
            status = [e for e in i.get("extension", []) if e.get("url") == NHS_VERIFICATION]
            if len(status) > 1:
                errors.append(f"{where}: more than one NHS number verification status")
            for e in status:
                codings = e.get("valueCodeableConcept", {}).get("coding", [])
                if not any(c.get("system") == NHS_VERIFICATION_SYSTEM
                           and c.get("code") in NHS_VERIFICATION_CODES for c in codings):
                    errors.append(f"{where}: NHS number verification status {codings} is not "
                                  "in its required value set")


def values_at(value, path):
    """The values at a dotted path, `[]` stepping into every list item."""
    if not path:
        yield value
        return
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    key = head[:-2] if many else head
    if not isinstance(value, dict) or key not in value:
        return
    child = value[key]
    items = child if many and isinstance(child, list) else [child]
    for item in items:
        yield from values_at(item, rest)


def check_codes(resource, where, errors):
    kind = resource.get("resourceType")
    for (rtype, path), allowed in REQUIRED_CODES.items():
        if rtype not in ("*", kind):
            continue
        for v in values_at(resource, path):
            if v not in allowed:
                errors.append(f"{where}: {path} = {v!r} is not in its required value set")


def references(value, path=""):
    """Every (path, reference string) in a resource."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield path, v
            else:
                yield from references(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from references(v, f"{path}[{i}]")


def main():
    if fhir.resources.__fhir_version__ != "4.0.1":
        print(f"expected FHIR 4.0.1 models, found {fhir.resources.__fhir_version__}", file=sys.stderr)
        return 2
    bundle = json.load(sys.stdin)
    errors = []
    if bundle.get("resourceType") != "Bundle":
        errors.append("not a Bundle")
    entries = bundle.get("entry", [])
    full_urls = [e.get("fullUrl") for e in entries]
    if len(set(full_urls)) != len(full_urls):
        errors.append("duplicate fullUrl in bundle")
    known = set(u for u in full_urls if u)
    for e in entries:
        r = e.get("resource", {})
        if r.get("id"):
            known.add(f"{r.get('resourceType')}/{r['id']}")
    for i, e in enumerate(entries):
        r = e.get("resource")
        if not isinstance(r, dict):
            errors.append(f"entry[{i}]: no resource")
            continue
        where = f"entry[{i}] {r.get('resourceType')}/{r.get('id')}"
        try:
            construct_fhir_element(r.get("resourceType"), r)
        except (ValidationError, KeyError, ValueError, LookupError) as ex:
            errors.append(f"{where}: {ex}")
        check_codes(r, where, errors)
        check_profiles(r, where, errors)
        # Contained resources: their codes and profiles, and every local reference
        # ("#id") must name one of them.
        contained = [c for c in r.get("contained", []) if isinstance(c, dict)]
        contained_ids = {c.get("id") for c in contained}
        for j, c in enumerate(contained):
            cwhere = f"{where} contained[{j}] {c.get('resourceType')}/{c.get('id')}"
            check_codes(c, cwhere, errors)
            check_profiles(c, cwhere, errors)
        for path, ref in references(r):
            if ref.startswith("#"):
                if ref[1:] not in contained_ids:
                    errors.append(f"{where}{path}: reference {ref} names no contained resource")
            elif ref not in known:
                errors.append(f"{where}{path}: reference {ref} does not resolve inside the bundle")
    if bundle.get("type") == "document":
        if not entries or entries[0].get("resource", {}).get("resourceType") != "Composition":
            errors.append("a document's first entry must be a Composition")
        if "identifier" not in bundle or "timestamp" not in bundle:
            errors.append("a document needs identifier and timestamp (bdl-9, bdl-10)")
    check_codes(bundle, "Bundle", errors)
    check_profiles(bundle, "Bundle", errors)
    try:
        construct_fhir_element("Bundle", bundle)
    except (ValidationError, ValueError) as ex:
        errors.append(f"Bundle: {ex}")
    if errors:
        for err in errors:
            print(err, file=sys.stderr)
        return 1
    print(f"valid: {len(entries)} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
