"""The code systems, extensions and bound codes of the FHIR export, in one place (docs/fhir.md lists them).

Standard systems where one exists (ICD-10-CM, SNOMED CT, LOINC, UCUM, HL7 terminology); where none does, a code
system of ours under ``urn:limber:fhir:CodeSystem:`` (``OURS``), each listed with its codes in ``OUR_CODES``.
"""

from __future__ import annotations

# --- Standard code systems ----------------------------------------------------------------------------------------

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY = "http://hl7.org/fhir/flag-priority-code"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONTACT_POINT_SYSTEM = "http://hl7.org/fhir/contact-point-system"

STANDARD_SYSTEMS = frozenset(
    {
        ICD10CM,
        SNOMED,
        LOINC,
        UCUM,
        IDENTIFIER_TYPE,
        CONDITION_CLINICAL,
        CONDITION_VERIFICATION,
        CONDITION_CATEGORY,
        OBSERVATION_CATEGORY,
        INTERPRETATION,
        FLAG_CATEGORY,
        FLAG_PRIORITY,
        CONSENT_SCOPE,
        ACT_CODE,
        CONTACT_POINT_SYSTEM,
    }
)

# --- Standard codes ----------------------------------------------------------------------------------------------

EXERCISE_THERAPY = (SNOMED, "229065009", "Exercise therapy")
PAIN_NRS = (LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
ODI_SCORE = (LOINC, "97909-6", None)  # the ODI's total score; no display: LOINC's own wording is not shipped here
CONSENT_CATEGORY = (LOINC, "59284-0", None)  # R4's consent-category value set calls it "Patient Consent"
MRN_TYPE = (IDENTIFIER_TYPE, "MR", "Medical record number")
SURVEY = (OBSERVATION_CATEGORY, "survey", "Survey")
PROBLEM_LIST_ITEM = (CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
CONFIRMED = (CONDITION_VERIFICATION, "confirmed", "Confirmed")
PRIVACY = (CONSENT_SCOPE, "patient-privacy", "Privacy Consent")
OPT_IN = (ACT_CODE, "OPTIN", "opt-in")
BETTER = (INTERPRETATION, "B", "Better")
WORSE = (INTERPRETATION, "W", "Worse")

# --- Extensions --------------------------------------------------------------------------------------------------

TIMEZONE = "http://hl7.org/fhir/StructureDefinition/timezone"
"""HL7's time zone extension (FHIR Extensions Pack; an IANA zone as ``valueCode``, its context includes ``time``): on
each of a ServiceRequest's ``occurrenceTiming.repeat.timeOfDay`` (through ``_timeOfDay``), the zone the time is local
to. R4 core's ``tz-code`` may only sit on a date, dateTime or instant."""
FLAG_PRIORITY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/flag-priority"
CONDITION_PHASE = "urn:limber:fhir:StructureDefinition:condition-phase"
"""Ours: a Condition's phase, ``valueCode`` acute | subacute | chronic."""
CONDITION_QUALIFIER = "urn:limber:fhir:StructureDefinition:condition-qualifier"
"""Ours: what qualifies a Condition for the safety rules (e.g. the surgical approach), ``valueCode``."""

EXTENSIONS = frozenset({TIMEZONE, FLAG_PRIORITY_EXTENSION, CONDITION_PHASE, CONDITION_QUALIFIER})

# --- Our code systems --------------------------------------------------------------------------------------------

OURS = "urn:limber:fhir:CodeSystem:"
SESSION_PAIN = OURS + "session-pain"  # before | after: which of a session's two pain ratings
OUTCOME_SCORE = OURS + "outcome-score"  # nprs | psfs | odi | ndi: an outcome measure's score
OUTCOME_CHANGE = OURS + "outcome-change"  # change-from-baseline: a score's component
GATE_FINDING = OURS + "gate-finding"  # the safety gate's finding codes
WAIVER = OURS + "gate-waiver"  # override | acknowledgement: how a therapist answered a finding
PROFESSION = OURS + "profession"  # a practitioner's profession
MOVEMENT = OURS + "movement"  # a movement a clearance restricts (the catalog's movement tags; any slug)
SAFETY_FLAG = OURS + "safety-flag"  # the kinds of safety flag
QUESTIONNAIRE = "urn:limber:fhir:Questionnaire:"  # + instrument code: the canonical a QuestionnaireResponse answers

OUR_CODES: dict[str, frozenset[str] | None] = {
    SESSION_PAIN: frozenset({"before", "after"}),
    OUTCOME_SCORE: frozenset({"nprs", "psfs", "odi", "ndi"}),
    OUTCOME_CHANGE: frozenset({"change-from-baseline"}),
    GATE_FINDING: frozenset(
        {
            "no_clearance",
            "clearance_expired",
            "clearance_revoked",
            "clearance_not_yet_valid",
            "clearance_insufficient_authority",
            "mobility_unknown",
            "mobility_below_minimum",
            "restricted_movement",
            "contraindicated",
            "caution",
        }
    ),
    WAIVER: frozenset({"override", "acknowledgement"}),
    PROFESSION: frozenset({"physician", "physical_therapist", "athletic_trainer", "nurse_midwife"}),
    MOVEMENT: None,  # the catalog's movement tags: a clinic's vocabulary grows, any slug
    SAFETY_FLAG: frozenset(
        {
            "clearance_conflict",
            "contraindication",
            "mobility",
            "clearance_expiring",
            "pain_escalation",
            "red_flag_symptom",
            "progression_held",
            "outcome_worsening",
        }
    ),
}
"""Each of our code systems → its codes (None: open, any code)."""

# --- Required bindings: the codes an element may take (checked by ``checks``) ----------------------------------

PLAN_STATUS = {
    "draft": "draft",
    "active": "active",
    "paused": "on-hold",
    "completed": "completed",
    "cancelled": "revoked",
}
"""A plan's status → the CarePlan's (and its ServiceRequests') status."""

GATE_SEVERITY = {"block": "high", "warn": "moderate"}
"""A finding's severity → the DetectedIssue's."""

FLAG_SEVERITY = {
    "info": (FLAG_PRIORITY, "PL", "Low priority"),
    "warning": (FLAG_PRIORITY, "PM", "Medium priority"),
    "urgent": (FLAG_PRIORITY, "PH", "High priority"),
}
"""A safety flag's severity → the flag-priority extension's code."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""ISO weekday 1…7 → Timing.repeat.dayOfWeek."""

REQUEST_STATUS = frozenset({"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"})

BOUND = {
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
    ("CarePlan", "status"): REQUEST_STATUS,
    ("CarePlan", "intent"): frozenset({"proposal", "plan", "order", "option"}),
    ("ServiceRequest", "status"): REQUEST_STATUS,
    ("ServiceRequest", "intent"): frozenset(
        {"proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order"}
    ),
    ("Observation", "status"): frozenset(
        {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
    ),
    ("QuestionnaireResponse", "status"): frozenset(
        {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
    ),
    ("DetectedIssue", "status"): frozenset(
        {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
    ),
    ("DetectedIssue", "severity"): frozenset({"high", "moderate", "low"}),
    ("Flag", "status"): frozenset({"active", "inactive", "entered-in-error"}),
    ("Consent", "status"): frozenset({"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}),
}
"""(resource type, top-level element) → the codes its required binding allows."""

REFERENCE_TARGETS = {
    ("Condition", "subject"): {"Patient"},
    ("Condition", "recorder"): {"Practitioner"},
    ("CarePlan", "subject"): {"Patient"},
    ("CarePlan", "author"): {"Practitioner"},
    ("CarePlan", "addresses"): {"Condition"},
    ("CarePlan", "replaces"): {"CarePlan"},
    ("CarePlan", "activity.reference"): {"ServiceRequest"},
    ("ServiceRequest", "subject"): {"Patient"},
    ("ServiceRequest", "requester"): {"Practitioner"},
    ("ServiceRequest", "basedOn"): {"CarePlan"},
    ("Observation", "subject"): {"Patient"},
    ("Observation", "performer"): {"Patient", "Practitioner"},
    ("Observation", "basedOn"): {"CarePlan"},
    ("Observation", "derivedFrom"): {"QuestionnaireResponse"},
    ("QuestionnaireResponse", "subject"): {"Patient"},
    ("QuestionnaireResponse", "source"): {"Patient"},
    ("QuestionnaireResponse", "author"): {"Patient", "Practitioner"},
    ("DetectedIssue", "patient"): {"Patient"},
    ("DetectedIssue", "implicated"): {"ServiceRequest", "CarePlan"},
    ("DetectedIssue", "mitigation.author"): {"Practitioner"},
    ("Flag", "subject"): {"Patient"},
    ("Flag", "author"): {"Practitioner"},
    ("Consent", "patient"): {"Patient"},
}
"""(resource type, element path) → the resource types its references may name: every reference the export makes."""
