"""The apps depend one way, ``clinic`` ← ``patients`` ← ``prescriptions`` (DESIGN §1, issue 14 item 3).

A lower app never imports a higher one, not even inside a function: the API's base views, permissions,
problem handler and enqueue helper in ``clinic`` take nothing from above; the bases of views that may show
patient data (and log those reads) live in ``patients.api.base``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from clinic.api.views import ClinicAPIView

ROOT = Path(__file__).resolve().parent.parent
HIGHER = {"clinic": {"patients", "prescriptions"}, "patients": {"prescriptions"}}


def _imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


@pytest.mark.parametrize("app", sorted(HIGHER))
def test_a_lower_app_never_imports_a_higher_one(app):
    sources = [path for path in sorted((ROOT / app).rglob("*.py")) if "migrations" not in path.parts]
    assert len(sources) > 10
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sources
        for line, module in _imported_modules(path)
        if module.split(".")[0] in HIGHER[app]
    ]
    assert found == []


def test_a_clinic_view_cannot_declare_that_it_shows_patients():
    """Reads that show patients are logged by ``patients.api.base.Audited``: a clinic base refuses to name them."""
    for kind in ("url", "objects"):
        with pytest.raises(ImproperlyConfigured, match="patients.api.base"):
            type("ShowsPatients", (ClinicAPIView,), {"shows_patients": kind})
