"""One authorization policy (issue 14, item 5): clinic/policy.py is the only place that says who may do what."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

from clinic.api.views import StaffScoped
from clinic.models import StaffMembership
from clinic.policy import POLICY, ROLE_PERMISSIONS, Action, is_clinical, may, require
from clinic.roles import sync_role_groups
from tests.factories import MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    path
    for app in ("clinic", "patients", "prescriptions", "config")
    for path in sorted((ROOT / app).rglob("*.py"))
    if "migrations" not in path.parts
]
Role = StaffMembership.Role


def _calls(name: str):
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                yield path, node


def test_every_action_has_roles_and_every_role_is_real():
    assert set(POLICY) == set(Action)
    for action, roles in POLICY.items():
        assert roles, action
        assert roles <= set(Role), action


def test_every_require_call_names_an_action_of_the_table():
    sites = list(_calls("require"))
    assert len(sites) >= 26
    for path, node in sites:
        first = node.args[0]
        assert isinstance(first, ast.Attribute) and getattr(first.value, "id", None) == "Action", (path, node.lineno)
        assert Action[first.attr] in POLICY, (path, first.attr)


def test_no_role_tuples_outside_the_policy():
    """No ``require_role(...)``, no view ``read_roles``/``write_roles``, no hand-kept role tuple elsewhere."""
    found = []
    pattern = re.compile(r"require_role\(|\b(read|write)_roles\b|\(\s*Role\.\w+\s*,")
    for path in SOURCES:
        if path == ROOT / "clinic" / "policy.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def _staff_views(patterns=None):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _staff_views(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
            if view is not None and issubclass(view, StaffScoped):
                yield view


def test_views_declare_actions_of_the_table():
    views = set(_staff_views())
    assert views
    declared = set()
    for view in views:
        for attribute in ("read_action", "write_action"):
            action = getattr(view, attribute)
            assert action is None or action in POLICY, (view, attribute)
            if action is not None:
                declared.add(action)
    assert {Action.PRESCRIBE, Action.VIEW_PLANS, Action.RESOLVE_FLAG, Action.EDIT_CATALOG} <= declared


def test_groups_equal_what_the_table_says(db):
    assert set(ROLE_PERMISSIONS) == {role.value for role in Role}
    for role, names in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        perms = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert perms == set(names), role


def test_post_migrate_rebuilds_the_groups_idempotently(db):
    Group.objects.filter(name__in=ROLE_PERMISSIONS).delete()
    Group.objects.create(name=Role.THERAPIST.value)  # a stale group without permissions
    call_command("migrate", verbosity=0)  # nothing to migrate: the post_migrate handler still runs
    first = {
        g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.filter(name__in=ROLE_PERMISSIONS)
    }
    assert set(first) == set(ROLE_PERMISSIONS)
    sync_role_groups(global_apps)
    call_command("migrate", verbosity=0)
    again = {
        g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.filter(name__in=ROLE_PERMISSIONS)
    }
    assert again == first
    for role, names in ROLE_PERMISSIONS.items():
        assert len(first[role]) == len(names)


def test_clinical_actions_are_therapist_only_and_refuse_superusers(db, django_user_model):
    superuser = django_user_model.objects.create_superuser("root", password="x")
    for action in Action:
        if is_clinical(action):
            assert POLICY[action] == {Role.THERAPIST}
            with pytest.raises(PermissionDenied):
                require(action, superuser, 1)
        else:
            assert require(action, superuser, 1) is None


def test_the_table_is_what_it_was():
    """Who may do what, as before the table (issue 14 item 5 changes no behaviour)."""
    T, F, A = Role.THERAPIST, Role.FRONT_DESK, Role.CLINIC_ADMIN
    assert dict(POLICY) == {
        Action.REGISTER_PATIENT: {T, F, A},
        Action.GRANT_PORTAL_ACCESS: {T, F, A},
        Action.RECORD_EPISODE: {T},
        Action.RECORD_DIAGNOSIS: {T},
        Action.ASSESS_MOBILITY: {T},
        Action.RECORD_CLEARANCE: {T, F},
        Action.REVOKE_CLEARANCE: {T, F},
        Action.VIEW_PLANS: {T, A},
        Action.VIEW_PROGRAM: {T, F, A},  # issue 15: the live plan, read-only, on the patient page
        Action.PRESCRIBE: {T},
        Action.VIEW_ADHERENCE: {T, A},
        Action.ACKNOWLEDGE_FLAG: {T, F},
        Action.RESOLVE_FLAG: {T},
        Action.RETRY_REMINDER: {T, F, A},
        Action.EDIT_CATALOG: {A},
        Action.EDIT_TEMPLATES: {T, A},  # issue 17: the clinic's own protocol templates
        Action.MANAGE_STAFF: {A},  # issue 15: clinic admins add their clinic's staff
        Action.VIEW_AUDIT: {A},  # issue 15: clinic admins browse their clinic's change trail and access log
        Action.RECORD_MEASURE: {T, F},  # issue 18: answers taken at the counter or in the treatment room
        Action.VIEW_OUTCOMES: {T, A},
        Action.CHOOSE_MEASURES: {T},
        Action.LOAD_WORDING: {A},  # the clinic holds the ODI/NDI licence
        Action.EXPORT_RECORD: {T, A},  # issue 19: the FHIR export holds plans, the gate's reasoning and scores
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.FRONT_DESK, Action.VIEW_PROGRAM, True),
        (Role.FRONT_DESK, Action.VIEW_PLANS, False),
        (Role.CLINIC_ADMIN, Action.VIEW_AUDIT, True),
        (Role.THERAPIST, Action.VIEW_AUDIT, False),
    ],
)
def test_may_says_what_require_enforces(role, action, allowed):
    membership = MembershipFactory(role=role)
    assert may(action, membership.user) is allowed
    if allowed:
        require(action, membership.user, membership.clinic)
    else:
        with pytest.raises(PermissionDenied):
            require(action, membership.user, membership.clinic)


@pytest.mark.django_db
def test_may_lets_a_superuser_maintain_but_not_act_clinically_and_refuses_the_inactive():
    root = UserFactory(is_superuser=True)
    assert may(Action.VIEW_AUDIT, root)
    assert not may(Action.PRESCRIBE, root)
    assert not may(Action.VIEW_AUDIT, UserFactory(is_superuser=True, is_active=False))
    assert not may(Action.VIEW_PROGRAM, None)
    assert not may(Action.VIEW_PROGRAM, UserFactory())  # no membership
