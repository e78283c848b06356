"""What a FHIR model library does not check in our export: code systems and bound codes, reference targets, no
dangling ``urn:uuid``, no empty value. ``bundle_problems`` returns each problem in words ([] for a sound bundle);
the tests run it on every export beside ``fhir.resources``' R4B models, which check structure and types.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from prescriptions.fhir import codes

ICD10CM_CODE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")
"""An ICD-10-CM code as FHIR writes it: a letter, two characters, and after the dot up to four more."""


def references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Each ``(element path, reference)`` in ``node``: the path names the keys from the resource down to the
    Reference (list positions left out), e.g. ``("activity.reference", "urn:uuid:…")``."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield path, node["reference"]
        for key, value in node.items():
            if key != "reference" or not isinstance(value, str):
                yield from references(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for value in node:
            yield from references(value, path)


def _codings(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if key == "coding" and isinstance(value, list):
                for item in value:
                    yield here, item
            else:
                yield from _codings(value, here)
    elif isinstance(node, list):
        for value in node:
            yield from _codings(value, path)


def _empties(node: Any, path: str = "") -> Iterator[str]:
    """Paths of values FHIR's JSON forbids: null, "", [] and {}."""
    if node is None or node == "" or node == [] or node == {}:
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _empties(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for value in node:
            yield from _empties(value, path)


def _extensions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "extension" and isinstance(value, list):
                yield from (extension.get("url", "") for extension in value)
            yield from _extensions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _extensions(value)


def _coded(resource: dict, element: str, system: str) -> list[str]:
    return [c.get("code", "") for c in resource.get(element, {}).get("coding", []) if c.get("system") == system]


def _coding_problems(where: str, path: str, coding: dict) -> list[str]:
    system, code = coding.get("system"), coding.get("code")
    if not system or not code:
        return [f"{where} {path}: a coding needs its system and code"]
    if system in codes.OUR_CODES:
        allowed = codes.OUR_CODES[system]
        if allowed is not None and code not in allowed:
            return [f"{where} {path}: {code!r} is not a code of {system}"]
        return []
    if system not in codes.STANDARD_SYSTEMS:
        return [f"{where} {path}: unknown code system {system!r}"]
    if system == codes.ICD10CM and not ICD10CM_CODE.fullmatch(code):
        return [f"{where} {path}: {code!r} is not an ICD-10-CM code"]
    return []


def _specific(where: str, kind: str, resource: dict) -> list[str]:
    """The codes the export promises for its resource types (docs/fhir.md)."""
    problems = []
    if kind == "Condition" and not _coded(resource, "code", codes.ICD10CM):
        problems.append(f"{where}: a Condition's code is ICD-10-CM")
    if kind == "ServiceRequest" and codes.EXERCISE_THERAPY[1] not in _coded(resource, "code", codes.SNOMED):
        problems.append(f"{where}: a ServiceRequest's code is SNOMED CT 229065009")
    if kind == "Observation":
        if _coded(resource, "code", codes.SESSION_PAIN) and codes.PAIN_NRS[1] not in _coded(
            resource, "code", codes.LOINC
        ):
            problems.append(f"{where}: a session's pain is LOINC 72514-3")
        if "odi" in _coded(resource, "code", codes.OUTCOME_SCORE) and codes.ODI_SCORE[1] not in _coded(
            resource, "code", codes.LOINC
        ):
            problems.append(f"{where}: an ODI score is LOINC 97909-6")
        for quantity in [
            resource.get("valueQuantity"),
            *(c.get("valueQuantity") for c in resource.get("component", [])),
        ]:
            if quantity is not None and quantity.get("system") != codes.UCUM:
                problems.append(f"{where}: a quantity's unit is UCUM")
    return problems


def bundle_problems(bundle: dict) -> list[str]:
    """Everything wrong with ``bundle`` that the model library lets through; [] when it is sound."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "collection":
        return ["not a Bundle of type collection"]
    problems = [f"Bundle: empty value at {path or '(root)'}" for path in _empties(bundle)]
    entries = bundle.get("entry", [])
    kinds: dict[str, str] = {}
    for index, entry in enumerate(entries):
        url, resource = entry.get("fullUrl", ""), entry.get("resource", {})
        where = f"entry[{index}] {resource.get('resourceType')}"
        try:
            uid = str(uuid.UUID(url.removeprefix("urn:uuid:")))
        except ValueError:
            problems.append(f"{where}: fullUrl {url!r} is not a urn:uuid")
            continue
        if url != f"urn:uuid:{uid}" or resource.get("id") != uid:
            problems.append(f"{where}: fullUrl and id differ ({url!r}, {resource.get('id')!r})")
        if url in kinds:
            problems.append(f"{where}: fullUrl {url} appears twice")
        kinds[url] = resource.get("resourceType", "")
    for index, entry in enumerate(entries):
        resource = entry.get("resource", {})
        kind = resource.get("resourceType", "")
        where = f"entry[{index}] {kind}"
        for path, target in references(resource):
            if target not in kinds:
                problems.append(f"{where} {path}: {target} is not in the bundle")
                continue
            allowed = codes.REFERENCE_TARGETS.get((kind, path))
            if allowed is None:
                problems.append(f"{where} {path}: the export makes no such reference")
            elif kinds[target] not in allowed:
                problems.append(f"{where} {path}: refers to a {kinds[target]}, not a {' or '.join(sorted(allowed))}")
        for (bound_kind, element), allowed in codes.BOUND.items():
            if bound_kind == kind and element in resource and resource[element] not in allowed:
                problems.append(f"{where} {element}: {resource[element]!r} is not one of its codes")
        for path, coding in _codings(resource):
            problems.extend(_coding_problems(where, path, coding))
        problems.extend(
            f"{where}: unknown extension {url!r}" for url in _extensions(resource) if url not in codes.EXTENSIONS
        )
        problems.extend(_specific(where, kind, resource))
    return problems
