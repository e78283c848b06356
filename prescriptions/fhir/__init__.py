"""A patient's program, its safety state and outcomes as a FHIR R4 ``Bundle`` (issue 19; docs/fhir.md).

Pure: no Django, no I/O. ``codes`` names every code system, extension and bound value set the export uses;
``mapping`` turns the rows ``prescriptions.selectors.fhir`` loads into the bundle; ``checks`` verifies a bundle
beyond what a FHIR model library checks (code systems, bound codes, reference targets, no dangling ``urn:uuid``).
"""
