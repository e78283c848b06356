"""Protocol templates in the admin (issue 17): the global ones read-only beside the clinic's own, which therapists
and clinic admins add and change with their items through the services (the version goes up); another clinic's are
not found; the front desk has no templates page."""

from __future__ import annotations

import pytest

from clinic.models import Diagnosis, ProtocolTemplate, Stretch
from tests import factories

TEMPLATES = "/admin/clinic/protocoltemplate/"
PREFIX = "items"


def template_with(clinic, *slugs: str, **fields) -> ProtocolTemplate:
    template = factories.ProtocolTemplateFactory(clinic=clinic, **fields)
    for order, slug in enumerate(slugs or ("pelvic-tilt",), start=1):
        factories.ProtocolTemplateItemFactory(
            template=template, order=order, stretch=Stretch.objects.get(clinic=None, slug=slug)
        )
    return template


def form(items: list[dict[str, str]], initial: int = 0, **fields) -> dict[str, object]:
    """The change form as a browser posts it: the template's fields and the items inline."""
    data: dict[str, object] = {
        "name": "Evening back care",
        "slug": "evening-back-care",
        "description": "",
        "diagnoses": [str(Diagnosis.objects.get(code="M54.50").pk)],
        "phase": "",
        "days_of_week": "1,3,5",
        "times": "19:00",
        "weeks": "4",
        "source": "Clinic protocol",
        f"{PREFIX}-TOTAL_FORMS": str(len(items)),
        f"{PREFIX}-INITIAL_FORMS": str(initial),
        f"{PREFIX}-MIN_NUM_FORMS": "0",
        f"{PREFIX}-MAX_NUM_FORMS": "1000",
    }
    for index, item in enumerate(items):
        row = {"order": str(index + 1), "sets": "1", "side": "none", "notes": "", "hold_seconds": "", **item}
        data.update({f"{PREFIX}-{index}-{key}": value for key, value in row.items()})
    data.update(fields)
    return data


def stretch_pk(slug: str) -> str:
    return str(Stretch.objects.get(clinic=None, slug=slug).pk)


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_the_list_shows_the_global_and_the_clinics_own(request, staff_client, clinic, other_clinic, role):
    own = template_with(clinic, name="Own back care")
    shared = template_with(None, name="Shared back care")
    theirs = template_with(other_clinic, name="Their back care")
    response = staff_client(request.getfixturevalue(role)).get(TEMPLATES)
    assert response.status_code == 200
    shown = set(response.context["cl"].result_list)
    assert {own, shared} <= shown and theirs not in shown


def test_a_global_template_is_read_only_and_another_clinics_is_not_found(staff_client, therapist, other_clinic):
    shared = template_with(None)
    theirs = template_with(other_clinic)
    client = staff_client(therapist)
    page = client.get(f"{TEMPLATES}{shared.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    refused = client.post(f"{TEMPLATES}{shared.pk}/change/", form([{"stretch": stretch_pk("chin-tuck"), "reps": "3"}]))
    assert refused.status_code == 403
    shared.refresh_from_db()
    assert shared.version == 1 and [i.stretch.slug for i in shared.items.all()] == ["pelvic-tilt"]
    assert client.get(f"{TEMPLATES}{theirs.pk}/change/", follow=True).redirect_chain  # "not found": to the index


def test_a_therapist_adds_a_template_with_items_through_the_service(staff_client, therapist, clinic):
    client = staff_client(therapist)
    assert client.get(f"{TEMPLATES}add/").status_code == 200
    response = client.post(
        f"{TEMPLATES}add/",
        form(
            [
                {"stretch": stretch_pk("knees-to-chest"), "hold_seconds": "20", "reps": "3", "order": "2"},
                {"stretch": stretch_pk("pelvic-tilt"), "reps": "8", "order": "1"},
            ]
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    template = ProtocolTemplate.objects.get(slug="evening-back-care")
    assert (template.clinic, template.version, template.review_note) == (clinic, 1, "")
    assert [(i.order, i.stretch.slug, i.reps) for i in template.items.all()] == [
        (1, "pelvic-tilt", 8),
        (2, "knees-to-chest", 3),
    ]
    assert list(template.diagnoses.values_list("code", flat=True)) == ["M54.50"]


def test_a_change_replaces_the_items_and_bumps_the_version(staff_client, clinic_admin, clinic):
    template = template_with(clinic, "pelvic-tilt", "knees-to-chest", slug="evening-back-care")
    client = staff_client(clinic_admin)
    items = [
        {"id": str(item.pk), "template": str(template.pk), "stretch": str(item.stretch_id), "reps": "4",
         "hold_seconds": "20"}
        for item in template.items.all()
    ]  # fmt: skip
    items[1]["DELETE"] = "on"
    response = client.post(f"{TEMPLATES}{template.pk}/change/", form(items, initial=2, name="Renamed"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    template.refresh_from_db()
    assert (template.name, template.version) == ("Renamed", 2)
    assert [(i.order, i.stretch.slug, i.reps) for i in template.items.all()] == [(1, "pelvic-tilt", 4)]


def test_a_refusal_of_the_service_shows_on_the_form_and_nothing_is_saved(staff_client, therapist):
    client = staff_client(therapist)
    response = client.post(f"{TEMPLATES}add/", form([{"stretch": stretch_pk("knees-to-chest"), "reps": "3"}]))
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any(message.startswith("Item 1:") and "hold" in message for message in errors), errors
    assert not ProtocolTemplate.objects.filter(slug="evening-back-care").exists()
    empty = client.post(f"{TEMPLATES}add/", form([]))
    assert empty.status_code == 200 and "at least one stretch" in str(empty.context["adminform"].form.errors)


def test_the_front_desk_has_no_templates_page(staff_client, front_desk, clinic):
    template = template_with(clinic)
    client = staff_client(front_desk)
    assert client.get(TEMPLATES).status_code == 403
    assert client.get(f"{TEMPLATES}{template.pk}/change/").status_code == 403
