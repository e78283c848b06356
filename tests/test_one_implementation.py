"""One implementation of each rule, one facts loader, one locking API, no import dodges (issue 14).

``make lint`` runs the import contracts (import-linter); these tests pin what a contract cannot see: that a
rule, a conversion or a constant is written once, and that no project import hides inside a function.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "clinic", "patients", "prescriptions")


def sources(*apps: str) -> list[Path]:
    return [
        path
        for app in apps or APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and ".venv" not in path.parts
    ]


def where(pattern: str, *apps: str) -> list[str]:
    """``path`` of every source file of ``apps`` matching ``pattern`` (a regular expression, per line)."""
    regex = re.compile(pattern, re.M)
    return sorted(str(path.relative_to(ROOT)) for path in sources(*apps) if regex.search(path.read_text()))


@pytest.mark.parametrize(
    ("pattern", "home"),
    [
        # Which clearance is in force on D: the pure rule and its one SQL twin (property-tested equal).
        (r"^def effective_clearance\(", "patients/clearance.py"),
        (r"^    def in_force\(", "patients/models.py"),
        # Constants, once.
        (r"^EXPIRING_WITHIN_DAYS\s*=", "patients/clearance.py"),
        (r"^LOG_WINDOW_DAYS\s*=", "prescriptions/scheduling.py"),
        (r"^PAIN_STOP_AT\s*=", "prescriptions/gate/pain.py"),
        # The gate's one facts loader.
        (r"^def facts_for\(", "prescriptions/gate/facts.py"),
        (r"^def gate_facts(_for_plans)?\(", "prescriptions/gate/facts.py"),
        # The authorization policy table.
        (r"^POLICY\s*[:=]", "clinic/policy.py"),
    ],
)
def test_defined_once(pattern, home):
    assert where(pattern) == [home]


@pytest.mark.parametrize(
    "fact", ["ClearanceFact", "DiagnosisFact", "ContraindicationFact", "AuthorityRuleFact", "StretchFact"]
)
def test_rows_become_facts_in_the_one_loader(fact):
    """Every row → fact conversion is in ``prescriptions/gate/facts.py`` (the rules only define the types)."""
    assert where(rf"(?<![\w.]){fact}\(|\.{fact}\(") == ["prescriptions/gate/facts.py"]


def test_every_row_lock_of_the_prescriptions_services_goes_through_locks():
    assert where(r"select_for_update|pg_(try_)?advisory", "prescriptions") == ["prescriptions/services/locks.py"]


def _function_level_project_imports(path: Path) -> list[str]:
    found = []

    def visit(node: ast.AST, inside: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if inside is not None and isinstance(child, ast.Import | ast.ImportFrom):
                names = [child.module or ""] if isinstance(child, ast.ImportFrom) else [a.name for a in child.names]
                if any(name.split(".")[0] in APPS for name in names) and inside != "ready":
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno} in {inside}()")
            visit(child, inside)

    visit(ast.parse(path.read_text()), None)
    return found


def test_no_project_import_hides_inside_a_function():
    """An import inside a function is how a cycle or an upward dependency hides from a reader; only an
    ``AppConfig.ready`` connects what must load after the app registry."""
    found = [hit for path in sources() for hit in _function_level_project_imports(path)]
    assert found == []


def test_a_service_enqueues_tasks_by_name_and_never_imports_a_task_module():
    assert where(r"^\s*(from|import) prescriptions\.tasks", "prescriptions/services") == []
    assert where(r"^\s*(from|import) prescriptions\.tasks", "clinic", "patients") == []
