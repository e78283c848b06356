"""The mapping from a patient's rows to a FHIR R4 ``Bundle`` of type ``collection`` (docs/fhir.md has the table).

Pure: reads the attributes of the rows ``prescriptions.selectors.fhir.fhir_rows`` loads (model instances, but no
import of Django) and returns plain JSON-ready dicts. Every resource's id is a UUID derived from our ids (``uuid5`` of
the installation's namespace and ``"<type>/<our key>"``), so an export names the same thing the same way every time,
and every reference is the full ``urn:uuid:`` of an entry of the same bundle.

``since`` keeps the resources changed at or after that instant, plus every resource they reference, transitively, so
no reference dangles. A resource's change time is the latest of the times its row records (see ``Entry.changed``);
a Practitioner has none of its own and comes only with what references it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from prescriptions.fhir import codes

PROFESSIONS = {
    "physician": "Physician",
    "physical_therapist": "Physical therapist",
    "athletic_trainer": "Athletic trainer",
    "nurse_midwife": "Nurse-midwife",
}
FINDINGS = {
    "no_clearance": "No clearance",
    "clearance_expired": "Clearance expired",
    "clearance_revoked": "Clearance revoked",
    "clearance_not_yet_valid": "Clearance not yet valid",
    "clearance_insufficient_authority": "Cleared by a profession that may not clear this diagnosis",
    "mobility_unknown": "Mobility not assessed",
    "mobility_below_minimum": "Mobility below the stretch's minimum",
    "restricted_movement": "Movement restricted by the clearance",
    "contraindicated": "Contraindicated by a diagnosis",
    "caution": "Caution for a diagnosis",
}
WAIVERS = {"override": "Override", "acknowledgement": "Acknowledgement"}
SIDES = {"both": "both sides", "left": "left side", "right": "right side"}
PAIN_BEFORE = (codes.SESSION_PAIN, "before", "Pain before the session")
PAIN_AFTER = (codes.SESSION_PAIN, "after", "Pain after the session")
FLAG_KINDS = {
    "clearance_conflict": "Clearance conflict",
    "contraindication": "Contraindication",
    "mobility": "Mobility",
    "clearance_expiring": "Clearance expiring",
    "pain_escalation": "Pain escalation",
    "red_flag_symptom": "Red-flag symptom",
    "progression_held": "Progression step held",
    "outcome_worsening": "Outcome measure worsened",
}

ORDER = (
    "Patient",
    "Practitioner",
    "Condition",
    "CarePlan",
    "ServiceRequest",
    "Observation",
    "QuestionnaireResponse",
    "DetectedIssue",
    "Flag",
    "Consent",
)
"""The order of the entries in a bundle: by resource type, then by our key."""


@dataclass(frozen=True)
class Finding:
    """One distinct stored gate finding, (plan version, item, code, cause), as ``fhir_rows`` aggregates them."""

    plan_id: int
    item_id: int | None
    code: str
    cause: str
    severity: str
    message: str
    first_at: dt.datetime
    """When the gate first stored it."""
    worded_at: dt.datetime
    """When it was first stored with its current severity and message (a catalog change may reword it)."""


@dataclass(frozen=True)
class Restriction:
    """A movement a clearance restricts: the clearance row, the tag row, whether the clearance is in force on the
    patient's local today, and, when it is not, the clearance in force instead (that replaced it), if any."""

    clearance: Any
    tag: Any
    in_force: bool
    replaced_by: Any = None


@dataclass
class Rows:
    """Everything one export reads, loaded by ``prescriptions.selectors.fhir.fhir_rows``."""

    patient: Any
    today: dt.date
    mrn_system: str
    namespace: uuid.UUID
    diagnoses: Sequence[Any] = ()
    plans: Sequence[Any] = ()
    items: Sequence[Any] = ()
    logs: Sequence[Any] = ()
    responses: Sequence[Any] = ()
    findings: Sequence[Finding] = ()
    waivers: Sequence[Any] = ()
    restrictions: Sequence[Restriction] = ()
    flags: Sequence[Any] = ()


@dataclass
class Entry:
    url: str
    resource: dict[str, Any]
    changed: dt.datetime | None
    """When what it says last changed; None: never on its own (a Practitioner)."""
    current: bool = True
    """Part of the patient's record now. A resolved safety flag or the restriction of a clearance no longer in force
    is not: it comes only in an export ``since`` before it changed, to tell the receiver it ended."""
    sort: tuple = field(default=())


def _latest(*moments: dt.datetime | None) -> dt.datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def coding(code: tuple[str, str, str | None]) -> dict[str, str]:
    system, value, display = code
    body = {"system": system, "code": value}
    if display:
        body["display"] = display
    return body


def concept(*codes: tuple[str, str, str | None], text: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"coding": [coding(code) for code in codes]}
    if text:
        body["text"] = text
    return body


def _number(value: Decimal | int | float) -> int | float:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _instant(moment: dt.datetime) -> str:
    return moment.isoformat()


class _Builder:
    def __init__(self, rows: Rows, now: dt.datetime):
        self.rows = rows
        self.now = now
        self.zone = ZoneInfo(rows.patient.timezone)
        self.entries: dict[str, Entry] = {}
        self._urls: dict[str, str] = {}
        self.patient_ref = self.ref("Patient", rows.patient.pk, rows.patient.full_name)

    def day_starts(self, day: dt.date) -> dt.datetime | None:
        """When ``day`` begins in the patient's zone, if it has begun: a state that flips with the calendar (a
        clearance starting or ending, a diagnosis resolving) changes then, and a ``since`` export must see it."""
        start = dt.datetime.combine(day, dt.time.min, tzinfo=self.zone)
        return start if start <= self.now else None

    def url(self, kind: str, key: Any) -> str:
        name = f"{kind}/{key}"
        found = self._urls.get(name)
        if found is None:  # uuid5 hashes: once per resource, however often it is referenced
            found = self._urls[name] = f"urn:uuid:{uuid.uuid5(self.rows.namespace, name)}"
        return found

    def ref(self, kind: str, key: Any, display: str | None = None) -> dict[str, str]:
        body = {"reference": self.url(kind, key), "type": kind}
        if display:
            body["display"] = display
        return body

    def add(
        self, kind: str, key: Any, resource: dict[str, Any], changed: dt.datetime | None, *, current: bool = True
    ) -> None:
        url = self.url(kind, key)
        body = {"resourceType": kind, "id": url.removeprefix("urn:uuid:"), **resource}
        sort = (ORDER.index(kind), str(key))
        self.entries[url] = Entry(url=url, resource=body, changed=changed, current=current, sort=sort)

    # --- People ------------------------------------------------------------------------------------------------

    def patient(self) -> None:
        p = self.rows.patient
        telecom = []
        if p.email_consent and p.email:
            telecom.append({"system": "email", "value": p.email, "use": "home"})
        if p.sms_consent and p.phone:
            telecom.append({"system": "sms", "value": p.phone, "use": "mobile"})
        resource: dict[str, Any] = {
            "identifier": [
                {"use": "usual", "type": concept(codes.MRN_TYPE), "system": self.rows.mrn_system, "value": p.mrn}
            ],
            "active": p.archived_at is None,
            "name": [{"use": "official", "family": p.last_name, "given": [p.first_name]}],
            "birthDate": p.date_of_birth.isoformat(),
        }
        if telecom:
            resource["telecom"] = telecom
        self.add("Patient", p.pk, resource, p.updated_at)

    def user(self, user) -> dict[str, str]:
        """A member of staff (or a superuser) as a Practitioner; returns the reference to it."""
        name = user.get_full_name() or user.get_username()
        key = f"user:{user.pk}"
        membership = getattr(user, "membership", None)
        profession = getattr(membership, "profession", "") if membership is not None else ""
        if self.url("Practitioner", key) not in self.entries:
            human = {"use": "official", "text": name}
            if user.last_name:
                human["family"] = user.last_name
            if user.first_name:
                human["given"] = [user.first_name]
            self.add("Practitioner", key, {"name": [human], **self._qualification(profession)}, None)
        return self.ref("Practitioner", key, name)

    def professional(self, name: str, profession: str) -> dict[str, str]:
        """A clearing professional (named on a clearance letter, not a user) as a Practitioner: one per clinic,
        profession and name (two clinics' Dr. Smiths are two people)."""
        key = f"clearing:{self.rows.patient.clinic_id}:{profession}:{' '.join(name.casefold().split())}"
        if self.url("Practitioner", key) not in self.entries:
            self.add("Practitioner", key, {"name": [{"text": name}], **self._qualification(profession)}, None)
        return self.ref("Practitioner", key, name)

    @staticmethod
    def _qualification(profession: str) -> dict[str, Any]:
        if not profession:
            return {}
        label = PROFESSIONS.get(profession, profession.replace("_", " ").capitalize())
        return {"qualification": [{"code": concept((codes.PROFESSION, profession, label), text=label)}]}

    # --- Conditions and plans ----------------------------------------------------------------------------------

    def conditions(self) -> None:
        for dx in self.rows.diagnoses:
            resolved = dx.resolved_date is not None and dx.resolved_date <= self.rows.today
            clinical = (codes.CONDITION_CLINICAL, "resolved", "Resolved") if resolved else (
                codes.CONDITION_CLINICAL, "active", "Active")  # fmt: skip
            resource: dict[str, Any] = {
                "clinicalStatus": concept(clinical),
                "verificationStatus": concept(codes.CONFIRMED),
                "category": [concept(codes.PROBLEM_LIST_ITEM)],
                "code": concept((codes.ICD10CM, dx.diagnosis.code, dx.diagnosis.name), text=dx.diagnosis.name),
                "subject": self.patient_ref,
                "recordedDate": _instant(dx.created_at),
                "recorder": self.user(dx.recorded_by),
            }
            extensions = [
                {"url": url, "valueCode": value}
                for url, value in ((codes.CONDITION_PHASE, dx.phase), (codes.CONDITION_QUALIFIER, dx.qualifier))
                if value
            ]
            if extensions:
                resource["extension"] = extensions
            if dx.onset_date is not None:
                resource["onsetDateTime"] = dx.onset_date.isoformat()
            changed = dx.updated_at
            if resolved:
                resource["abatementDateTime"] = dx.resolved_date.isoformat()
                changed = _latest(changed, self.day_starts(dx.resolved_date))
            self.add("Condition", dx.pk, resource, changed)

    def _addressed(self, plan) -> list[dict[str, str]]:
        """The Conditions a plan addresses: its episode's diagnoses and those recorded outside any episode."""
        return [
            self.ref("Condition", dx.pk, dx.diagnosis.code)
            for dx in self.rows.diagnoses
            if dx.episode_id in (plan.episode_id, None)
        ]

    def plans(self) -> None:
        items_of: dict[int, list[Any]] = {}
        for item in self.rows.items:
            items_of.setdefault(item.prescription_id, []).append(item)
        for plan in self.rows.plans:
            status = codes.PLAN_STATUS[plan.status]
            author = self.user(plan.therapist)
            period = {"start": plan.start_date.isoformat()}
            end = plan.end_date
            if plan.ended_at is not None:  # completed, cancelled or superseded: it ended that day, whatever was planned
                ended = plan.ended_at.astimezone(self.zone).date()
                end = max(plan.start_date, min(end, ended) if end else ended)
            if end is not None:
                period["end"] = end.isoformat()
            changed = _latest(plan.updated_at, plan.activated_at, plan.ended_at)
            items = sorted(items_of.get(plan.pk, []), key=lambda item: (item.order, item.pk))
            resource: dict[str, Any] = {
                "status": status,
                "intent": "plan",
                "title": f"Stretch plan, version {plan.version}",
                "subject": self.patient_ref,
                "period": period,
                "created": _instant(plan.created_at),
                "author": author,
                "activity": [{"reference": self.ref("ServiceRequest", item.pk, item.stretch.name)} for item in items],
            }
            if plan.notes:
                resource["description"] = plan.notes
            addressed = self._addressed(plan)
            if addressed:
                resource["addresses"] = addressed
            if plan.supersedes_id is not None:
                resource["replaces"] = [self.ref("CarePlan", plan.supersedes_id)]
            if not items:
                del resource["activity"]
            self.add("CarePlan", plan.pk, resource, changed)
            for item in items:
                self.service_request(plan, item, status=status, author=author, period=period, changed=changed)

    def service_request(self, plan, item, *, status: str, author: dict, period: dict, changed) -> None:
        stretch = item.stretch
        times = sorted(plan.times)
        timing = {  # built for each resource: no two resources share a dict
            "repeat": {
                "boundsPeriod": dict(period),
                "dayOfWeek": [codes.WEEKDAYS[day - 1] for day in sorted(set(plan.days_of_week))],
                "timeOfDay": [f"{at:%H:%M:%S}" for at in times],
                # Each time is local to the patient's zone: the Extensions Pack's timezone extension on each.
                "_timeOfDay": [
                    {"extension": [{"url": codes.TIMEZONE, "valueCode": self.rows.patient.timezone}]} for _ in times
                ],
            },
        }
        side = SIDES.get(item.side)
        dose = f"{item.dosage}{f', {side}' if side else ''}"
        steps = " ".join(f"{number}. {step}" for number, step in enumerate(stretch.steps, start=1))
        instruction = f"{stretch.name}: {dose}. {plan.schedule_text} ({self.rows.patient.timezone}). {steps}"
        if item.notes:
            instruction += f" Note: {item.notes}"
        resource: dict[str, Any] = {
            "status": status,
            "intent": "order",
            "code": concept(codes.EXERCISE_THERAPY, text=stretch.name),
            "subject": self.patient_ref,
            "basedOn": [self.ref("CarePlan", plan.pk)],
            "requester": author,
            "authoredOn": _instant(plan.created_at),
            "occurrenceTiming": timing,
            "patientInstruction": instruction,
        }
        if item.progresses:
            resource["note"] = [{"text": f"Dose progression: {item.progression_text}"}]
        self.add("ServiceRequest", item.pk, resource, changed)

    # --- What the patient reported -----------------------------------------------------------------------------

    def session_logs(self) -> None:
        """One Observation per logged session: the pain after it (LOINC 72514-3) as its value, the pain before it as a
        component of our code (a component may not repeat the Observation's code, FHIR's obs-7), so the two ratings
        of one session never read as two readings of the same thing at the same instant."""
        for log in self.rows.logs:
            resource: dict[str, Any] = {
                "status": "final",
                "category": [concept(codes.SURVEY)],
                "code": concept(codes.PAIN_NRS, PAIN_AFTER, text="Pain after the session (0-10)"),
                "subject": self.patient_ref,
                "basedOn": [self.ref("CarePlan", log.session.prescription_id)],
                "effectiveDateTime": _instant(log.logged_at),
                "performer": [self.patient_ref],
                "valueInteger": log.pain_after,
                "component": [
                    {
                        "code": concept(PAIN_BEFORE, text="Pain before the session (0-10)"),
                        "valueInteger": log.pain_before,
                    }
                ],
            }
            if log.note:
                resource["note"] = [{"text": log.note}]
            self.add("Observation", f"log:{log.pk}", resource, log.logged_at)

    def outcomes(self) -> None:
        for response in self.rows.responses:
            instrument = response.instrument
            questionnaire = f"measure:{response.pk}"
            author = self.user(response.entered_by) if response.via == "clinic" else self.patient_ref
            items = []
            for number, item_id in enumerate(instrument.item_ids, start=1):
                value = response.answers.get(item_id)
                if value is None:
                    continue  # a skipped ODI or NDI section: no item (the score accounts for it)
                item: dict[str, Any] = {"linkId": item_id, "answer": [{"valueInteger": value}]}
                if instrument.code == "psfs" and number <= len(response.activities):
                    item["text"] = response.activities[number - 1]
                items.append(item)
            resource: dict[str, Any] = {
                "questionnaire": codes.QUESTIONNAIRE + instrument.code,
                "status": "completed",
                "subject": self.patient_ref,
                "authored": _instant(response.taken_at),
                "author": author,
                "source": self.patient_ref,
            }
            if items:
                resource["item"] = items
            self.add("QuestionnaireResponse", questionnaire, resource, response.taken_at)
            self.score(response, self.ref("QuestionnaireResponse", questionnaire, instrument.abbreviation))

    def score(self, response, derived_from: dict[str, str]) -> None:
        instrument = response.instrument
        unit, words = ("%", "%") if instrument.code == "odi" else ("{score}", "score")
        ours = (codes.OUTCOME_SCORE, instrument.code, f"{instrument.name} score")
        standard = {"odi": [codes.ODI_SCORE], "nprs": [codes.PAIN_NRS]}.get(instrument.code, [])
        resource: dict[str, Any] = {
            "status": "final",
            "category": [concept(codes.SURVEY)],
            "code": concept(*standard, ours, text=f"{instrument.name} ({instrument.abbreviation}) score"),
            "subject": self.patient_ref,
            "effectiveDateTime": _instant(response.taken_at),
            "performer": [self.patient_ref],
            "derivedFrom": [derived_from],
            "valueQuantity": {"value": _number(response.score), "unit": words, "system": codes.UCUM, "code": unit},
        }
        if response.improved or response.worsened:
            resource["interpretation"] = [concept(codes.BETTER if response.improved else codes.WORSE)]
        if response.change is not None:
            change = (codes.OUTCOME_CHANGE, "change-from-baseline", "Change from the episode's baseline")
            resource["component"] = [
                {
                    "code": concept(change),
                    "valueQuantity": {
                        "value": _number(response.change),
                        "unit": words,
                        "system": codes.UCUM,
                        "code": unit,
                    },
                }
            ]
        if response.threshold:
            resource["note"] = [{"text": f"Judged by a meaningful change of {response.threshold}."}]
        self.add("Observation", f"measure:{response.pk}:score", resource, response.taken_at)

    # --- The safety state --------------------------------------------------------------------------------------

    def detected_issues(self) -> None:
        waivers = {(w.item_id, w.code, w.cause): w for w in self.rows.waivers}
        items = {item.pk for item in self.rows.items}
        for finding in self.rows.findings:
            label = FINDINGS.get(finding.code, finding.code.replace("_", " ").capitalize())
            implicated = (
                self.ref("ServiceRequest", finding.item_id)
                if finding.item_id in items
                else self.ref("CarePlan", finding.plan_id)
            )
            resource: dict[str, Any] = {
                "status": "final",
                "code": concept((codes.GATE_FINDING, finding.code, label), text=label),
                "severity": codes.GATE_SEVERITY[finding.severity],
                "patient": self.patient_ref,
                "identifiedDateTime": _instant(finding.first_at),
                "implicated": [implicated],
                "detail": finding.message,
            }
            changed = finding.worded_at
            waiver = waivers.get((finding.item_id, finding.code, finding.cause))
            if waiver is not None:
                kind = WAIVERS[waiver.kind]
                resource["mitigation"] = [
                    {
                        "action": concept((codes.WAIVER, waiver.kind, kind), text=f"{kind}: {waiver.reason}"),
                        "date": _instant(waiver.at),
                        "author": self.user(waiver.by),
                    }
                ]
                changed = max(changed, waiver.at)
            key = f"{finding.plan_id}:{finding.item_id}:{finding.code}:{finding.cause}"
            self.add("DetectedIssue", key, resource, changed)

    def _took_over(self, clearance) -> dt.datetime | None:
        """When ``clearance`` came into force: recorded, and its first day begun."""
        return _latest(clearance.recorded_at, self.day_starts(clearance.valid_from))

    def restriction_flags(self) -> None:
        """A Flag per restriction of the clearance in force (period: its validity). One that ended — revoked, expired
        or replaced by a later clearance — is inactive, its period ending that day, and changed then, so an export
        ``since`` before it tells the receiver; one not yet valid is not told until its first day."""
        for restriction in self.rows.restrictions:
            clearance, tag = restriction.clearance, restriction.tag
            if not restriction.in_force and self.day_starts(clearance.valid_from) is None:
                continue  # not yet valid: it becomes a Flag on its first day
            end = clearance.valid_until
            changed = _latest(clearance.recorded_at, clearance.revoked_at, self.day_starts(clearance.valid_from))
            if not restriction.in_force:
                ended = [self.day_starts(end + dt.timedelta(days=1))]
                if clearance.revoked_at is not None:
                    ended.append(clearance.revoked_at)
                if restriction.replaced_by is not None:
                    ended.append(self._took_over(restriction.replaced_by))
                last = min((moment for moment in ended if moment is not None), default=None)
                if last is not None:
                    end = min(end, max(clearance.valid_from, last.astimezone(self.zone).date()))
                    changed = _latest(changed, last)
            text = f"Restricted movement: {tag.name}." + (f" {tag.description}" if tag.description else "")
            resource = {
                "status": "active" if restriction.in_force else "inactive",
                "category": [concept((codes.FLAG_CATEGORY, "safety", "Safety"))],
                "code": concept((codes.MOVEMENT, tag.slug, tag.name), text=text),
                "subject": self.patient_ref,
                "period": {"start": clearance.valid_from.isoformat(), "end": end.isoformat()},
                "author": self.professional(clearance.professional_name, clearance.profession),
            }
            key = f"restriction:{clearance.pk}:{tag.pk}"
            self.add("Flag", key, resource, changed, current=restriction.in_force)

    def safety_flags(self) -> None:
        for flag in self.rows.flags:
            label = FLAG_KINDS.get(flag.kind, flag.kind.replace("_", " ").capitalize())
            period = {"start": _instant(flag.detected_at)}
            if flag.resolved_at is not None:
                period["end"] = _instant(flag.resolved_at)
            priority = codes.FLAG_SEVERITY[flag.severity]
            resource = {
                "extension": [
                    {
                        "url": codes.FLAG_PRIORITY_EXTENSION,
                        "valueCodeableConcept": concept(priority, text=flag.get_severity_display()),
                    }
                ],
                "status": "inactive" if flag.status == "resolved" else "active",
                "category": [concept((codes.FLAG_CATEGORY, "safety", "Safety"))],
                "code": concept((codes.SAFETY_FLAG, flag.kind, label), text=flag.summary),
                "subject": self.patient_ref,
                "period": period,
            }
            changed = _latest(flag.detected_at, flag.updated_at, flag.acknowledged_at, flag.resolved_at)
            self.add("Flag", f"safety:{flag.pk}", resource, changed, current=flag.status != "resolved")

    def consents(self) -> None:
        p = self.rows.patient
        for channel, given, at, label in (
            ("email", p.email_consent, p.email_consent_at, "Email"),
            ("sms", p.sms_consent, p.sms_consent_at, "SMS"),
        ):
            if at is None:
                continue  # never asked: no consent given or withdrawn to report
            resource = {
                "status": "active",
                "scope": concept(codes.PRIVACY),
                "category": [concept(codes.CONSENT_CATEGORY)],
                "patient": self.patient_ref,
                "dateTime": _instant(at),
                # Deny unless a provision permits (opt-in): the provision permits or, withdrawn, denies this channel.
                "policyRule": concept(codes.OPT_IN),
                "provision": {
                    "type": "permit" if given else "deny",
                    "period": {"start": _instant(at)},
                    "code": [
                        concept(
                            (codes.CONTACT_POINT_SYSTEM, channel, label),
                            text=f"Exercise reminders by {label.lower() if channel == 'email' else label}",
                        )
                    ],
                },
            }
            self.add("Consent", f"{p.pk}:{channel}", resource, at)


def _kept(entries: dict[str, Entry], since: dt.datetime | None) -> set[str]:
    """The entries an export lists: those of the record now (``since`` None) or those changed at or after ``since``,
    and everything they reference, transitively (a Practitioner comes only so)."""
    kept = {
        url
        for url, entry in entries.items()
        if entry.changed is not None and (entry.current if since is None else entry.changed >= since)
    }
    pending = list(kept)
    while pending:
        for target in _targets(entries[pending.pop()].resource):
            if target in entries and target not in kept:
                kept.add(target)
                pending.append(target)
    return kept


def _targets(resource: dict[str, Any]) -> list[str]:
    """Every reference in ``resource`` (``checks.references`` without the paths: the closure walks every resource)."""
    found, stack = [], [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            reference = node.get("reference")
            if isinstance(reference, str):
                found.append(reference)
            stack.extend(value for value in node.values() if isinstance(value, dict | list))
        else:
            stack.extend(value for value in node if isinstance(value, dict | list))
    return found


def bundle(rows: Rows, *, now: dt.datetime, since: dt.datetime | None = None) -> dict[str, Any]:
    """The patient's export: a FHIR R4 ``Bundle`` of type ``collection``, as a JSON-ready dict."""
    builder = _Builder(rows, now)
    builder.patient()
    builder.conditions()
    builder.plans()
    builder.session_logs()
    builder.outcomes()
    builder.detected_issues()
    builder.restriction_flags()
    builder.safety_flags()
    builder.consents()
    kept = _kept(builder.entries, since)
    entries = [entry for entry in builder.entries.values() if entry.url in kept]
    body: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "timestamp": _instant(now)}
    listed = [{"fullUrl": entry.url, "resource": entry.resource} for entry in sorted(entries, key=lambda e: e.sort)]
    if listed:  # FHIR JSON has no empty arrays: nothing changed since, no entry
        body["entry"] = listed
    return body
