"""The read-only detail pages link only to pages the reader may open (issue 15, item 4): a person is shown by their
full name, a plan as text for a role that may not view plans."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from tests import factories

HREF = re.compile(r'href="(/admin/[^"#]*)"')


@pytest.fixture
def rows(patient, therapist):
    therapist.first_name, therapist.last_name = "Adaeze", "Reyes"
    therapist.save()
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan = factories.PrescriptionFactory(episode=episode, therapist=therapist)
    session = factories.SessionFactory(prescription=plan)
    clearance = factories.ClearanceFactory(
        patient=patient,
        recorded_by=therapist,
        revoked_at=timezone.now(),
        revoked_by=therapist,
        revoke_reason="Wrong letter.",
    )
    return {
        "clearance": f"/admin/patients/clearance/{clearance.pk}/change/",
        "session": f"/admin/prescriptions/session/{session.pk}/change/",
        "reminder": f"/admin/prescriptions/reminder/{factories.ReminderFactory(session=session).pk}/change/",
        "portal-access": f"/admin/patients/portalaccess/{factories.PortalAccessFactory(patient=patient).pk}/change/",
        "flag": f"/admin/prescriptions/safetyflag/{factories.SafetyFlagFactory(patient=patient).pk}/change/",
    }


def content_links(html: str) -> set[str]:
    content = html[html.index('id="content"') :]
    return {url for url in HREF.findall(content) if "/logout" not in url}


@pytest.mark.parametrize("role", ["front_desk", "clinic_admin"])
def test_every_link_on_a_detail_page_opens(request, staff_client, rows, role):
    client = staff_client(request.getfixturevalue(role))
    refused = {}
    for name, url in rows.items():
        page = client.get(url)
        assert page.status_code == 200, (name, page.status_code)
        for link in content_links(page.content.decode()):
            status = client.get(link).status_code
            if status >= 400:
                refused[f"{name} → {link}"] = status
    assert refused == {}


def test_people_are_named_and_plans_are_text_for_the_desk(staff_client, front_desk, rows):
    client = staff_client(front_desk)

    clearance = client.get(rows["clearance"]).content.decode()
    assert clearance.count("Adaeze Reyes") == 2  # recorded by, revoked by
    assert "/admin/auth/user/" not in clearance
    session = client.get(rows["session"]).content.decode()
    assert "/admin/prescriptions/prescription/" not in session
    assert "field-prescription__as_text" in session
    assert "/admin/auth/user/" not in client.get(rows["portal-access"]).content.decode()


def test_a_therapist_still_follows_the_plan_link(staff_client, therapist, rows):
    session = staff_client(therapist).get(rows["session"]).content.decode()
    assert "/admin/prescriptions/prescription/" in session
