"""Staff catalog endpoints: every role reads global rows plus its clinic's own, clinic admins add their own rows,
another clinic's rows are invisible (404), global rows are never writable, lists run constant queries."""

from __future__ import annotations

import pytest

from clinic.models import Contraindication, Diagnosis, MovementTag, Stretch
from tests import factories

STAFF = ["therapist", "front_desk", "clinic_admin"]
CATALOG_LISTS = [
    "/api/v1/catalog/stretches/",
    "/api/v1/catalog/diagnoses/",
    "/api/v1/catalog/movement-tags/",
    "/api/v1/catalog/mobility-levels/",
    "/api/v1/catalog/contraindications/",
]

NEW_STRETCH = {
    "slug": "towel-hamstring-stretch",
    "name": "Towel hamstring stretch",
    "steps": ["Lie on your back with a towel around one foot.", "Raise the leg until you feel a gentle stretch."],
    "body_region": "hip",
    "position": "supine",
    "kind": "static",
    "tags": ["supine"],
    "min_mobility": 2,
    "default_hold_seconds": 30,
    "default_reps": 3,
}


def slugs(response) -> list[str]:
    return [row["slug"] for row in response.json()["results"]]


def theirs_stretch(clinic, **fields) -> Stretch:
    return factories.StretchFactory(clinic=clinic, **fields)


# --- Reading ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("url", CATALOG_LISTS)
def test_every_staff_role_reads_every_catalog_list(db, request, as_user, role, url):
    response = as_user(request.getfixturevalue(role)).get(url + "?page_size=100")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] > 0


@pytest.mark.parametrize("url", [*CATALOG_LISTS, "/api/v1/catalog/stretches/1/"])
def test_portal_users_are_refused_and_anonymous_must_log_in(as_user, portal_user, api, url):
    assert as_user(portal_user).get(url).status_code == 403
    api.force_authenticate(None)
    assert api.get(url).status_code == 401


def test_stretch_detail_has_steps_tags_minimum_mobility_and_default_dosage(as_user, front_desk, stretch):
    seeded = stretch("knees-to-chest")
    body = as_user(front_desk).get(f"/api/v1/catalog/stretches/{seeded.pk}/").json()
    assert body["slug"] == "knees-to-chest" and body["kind"] == "static"
    assert body["steps"] and all(isinstance(step, str) for step in body["steps"])
    assert "lumbar_flexion" in body["tags"]
    assert body["min_mobility"] == seeded.min_mobility.level
    assert (body["default_hold_seconds"], body["default_reps"], body["default_sets"]) == (
        seeded.default_hold_seconds,
        seeded.default_reps,
        seeded.default_sets,
    )
    assert body["is_global"] is True and body["clinic"] is None
    assert body["source"]


def test_stretch_filters(as_user, therapist):
    client = as_user(therapist)
    url = "/api/v1/catalog/stretches/?page_size=100"
    cervical = slugs(client.get(url + "&body_region=cervical"))
    assert "chin-tuck" in cervical and "pelvic-tilt" not in cervical
    dynamic = slugs(client.get(url + "&kind=dynamic"))
    assert {"cat-cow", "pelvic-tilt"} <= set(dynamic) and "knees-to-chest" not in dynamic
    quadruped = slugs(client.get(url + "&position=quadruped"))
    assert "cat-cow" in quadruped and "pelvic-tilt" not in quadruped
    flexion = slugs(client.get(url + "&tag=lumbar_flexion"))
    assert {"knees-to-chest", "prayer-stretch"} <= set(flexion) and "chin-tuck" not in flexion
    assert client.get(url + "&kind=isometric").status_code == 400


def test_other_clinics_rows_are_invisible_own_rows_visible(as_user, therapist, clinic, other_clinic, stretch):
    mine = theirs_stretch(clinic, slug="our-stretch")
    theirs = theirs_stretch(other_clinic, slug="their-stretch")
    their_row = Contraindication.objects.create(
        clinic=other_clinic, diagnosis=Diagnosis.objects.get(code="M54.50"), stretch=theirs,
        severity="relative", rationale="Their own caution.",
    )  # fmt: skip
    client = as_user(therapist)
    listed = slugs(client.get("/api/v1/catalog/stretches/?page_size=100"))
    assert "our-stretch" in listed and "their-stretch" not in listed and "pelvic-tilt" in listed
    assert client.get(f"/api/v1/catalog/stretches/{mine.pk}/").json()["is_global"] is False
    assert client.get(f"/api/v1/catalog/stretches/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/catalog/contraindications/{their_row.pk}/").status_code == 404
    ids = [row["id"] for row in client.get("/api/v1/catalog/contraindications/?page_size=100").json()["results"]]
    assert their_row.pk not in ids


def test_contraindications_filter_by_diagnosis_code(as_user, front_desk):
    client = as_user(front_desk)
    rows = client.get("/api/v1/catalog/contraindications/?diagnosis=M51.26").json()["results"]
    assert rows and {row["diagnosis"] for row in rows} == {"M51.26"}
    flexion = {row["phase"]: row for row in rows if row["tag"] == "lumbar_flexion"}
    assert (flexion["acute"]["severity"], flexion["acute"]["is_global"]) == ("absolute", True)
    assert flexion["subacute"]["severity"] == "relative"  # beyond the acute phase a caution (issue 12)
    assert flexion["subacute"]["source"] and flexion["subacute"]["precaution_window"] == ""
    osteoporosis = client.get("/api/v1/catalog/contraindications/?diagnosis=M81.0&severity=relative").json()
    assert [row["tag"] for row in osteoporosis["results"]] == ["spinal_rotation"]
    assert client.get("/api/v1/catalog/contraindications/?diagnosis=Z00.000").json()["count"] == 0


def test_diagnoses_tags_and_levels(as_user, therapist):
    client = as_user(therapist)
    [disc] = client.get("/api/v1/catalog/diagnoses/?code=M51.26").json()["results"]
    assert "physical_therapist" in disc["clearance_by"]
    [osteoporosis] = client.get("/api/v1/catalog/diagnoses/?code=M81.0").json()["results"]
    assert osteoporosis["clearance_by"] == ["physician", "physical_therapist"]
    [fracture_rule] = osteoporosis["clearance_rules"]
    assert fracture_rule["professions"] == ["physician"] and fracture_rule["with_diagnosis"] == "M48.56XA"
    assert fracture_rule["source"] and fracture_rule["rationale"] and osteoporosis["clearance_by_source"]
    [hip] = client.get("/api/v1/catalog/diagnoses/?code=Z96.641").json()["results"]
    assert [(r["professions"], r["from_day"], r["until_day"]) for r in hip["clearance_rules"]] == [
        (["physician"], 0, 84)
    ]
    [pregnancy] = client.get("/api/v1/catalog/diagnoses/?code=Z33.1").json()["results"]
    assert pregnancy["clearance_by"] == ["physician", "nurse_midwife"] and pregnancy["clearance_rules"] == []
    tags = client.get("/api/v1/catalog/movement-tags/?page_size=100").json()["results"]
    assert {"lumbar_flexion", "supine", "kneeling"} <= {t["slug"] for t in tags}
    levels = client.get("/api/v1/catalog/mobility-levels/").json()["results"]
    assert [level["level"] for level in levels] == [1, 2, 3, 4, 5]


# --- Clinic admins add their clinic's rows ---------------------------------------------------------------


def test_clinic_admin_adds_a_stretch_of_the_clinics_own(as_user, clinic_admin, clinic, therapist):
    response = as_user(clinic_admin).post("/api/v1/catalog/stretches/", NEW_STRETCH)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["clinic"], body["is_global"], body["tags"], body["min_mobility"]) == (clinic.pk, False, ["supine"], 2)
    row = Stretch.objects.get(pk=body["id"])
    assert row.clinic == clinic and row.default_sets == 1
    # Everyone in the clinic now sees it.
    assert as_user(therapist).get(f"/api/v1/catalog/stretches/{row.pk}/").status_code == 200


@pytest.mark.parametrize("role", ["therapist", "front_desk"])
def test_only_clinic_admins_add_catalog_rows(request, as_user, role):
    client = as_user(request.getfixturevalue(role))
    assert client.post("/api/v1/catalog/stretches/", NEW_STRETCH).status_code == 403
    row = {"diagnosis": "M54.50", "tag": "kneeling", "severity": "relative", "rationale": "Careful."}
    assert client.post("/api/v1/catalog/contraindications/", row).status_code == 403
    assert not Stretch.objects.filter(slug=NEW_STRETCH["slug"]).exists()


def test_portal_and_anonymous_cannot_add_rows(as_user, portal_user, api):
    assert as_user(portal_user).post("/api/v1/catalog/stretches/", NEW_STRETCH).status_code == 403
    api.force_authenticate(None)
    assert api.post("/api/v1/catalog/stretches/", NEW_STRETCH).status_code == 401


def test_a_clinic_slug_may_not_collide_with_a_global_one(as_user, clinic_admin):
    response = as_user(clinic_admin).post("/api/v1/catalog/stretches/", {**NEW_STRETCH, "slug": "pelvic-tilt"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"slug"}
    assert Stretch.objects.filter(slug="pelvic-tilt").count() == 1


def test_a_clinic_slug_may_not_repeat_its_own_but_another_clinic_may_use_it(
    as_user, clinic_admin, other_clinic, clinic
):
    theirs_stretch(other_clinic, slug=NEW_STRETCH["slug"])
    client = as_user(clinic_admin)
    assert client.post("/api/v1/catalog/stretches/", NEW_STRETCH).status_code == 201
    again = client.post("/api/v1/catalog/stretches/", NEW_STRETCH)
    assert again.status_code == 400 and set(again.json()["errors"]) == {"slug"}


def test_a_static_stretch_needs_a_hold(as_user, clinic_admin):
    response = as_user(clinic_admin).post("/api/v1/catalog/stretches/", {**NEW_STRETCH, "default_hold_seconds": None})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"default_hold_seconds"}
    dynamic = {**NEW_STRETCH, "kind": "dynamic", "default_hold_seconds": None, "default_reps": 10}
    assert as_user(clinic_admin).post("/api/v1/catalog/stretches/", dynamic).status_code == 201


def test_bad_stretch_input_names_each_field_flat(as_user, clinic_admin):
    response = as_user(clinic_admin).post(
        "/api/v1/catalog/stretches/",
        {**NEW_STRETCH, "steps": ["Fine.", ""], "tags": ["no_such_tag"], "min_mobility": 9, "kind": "yoga"},
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"steps[1]", "tags", "min_mobility", "kind"}
    assert all(isinstance(messages, list) and all(isinstance(m, str) for m in messages) for messages in errors.values())


def test_clinic_admin_adds_a_contraindication_by_tag_or_stretch(as_user, clinic_admin, clinic, stretch):
    client = as_user(clinic_admin)
    by_tag = client.post(
        "/api/v1/catalog/contraindications/",
        {"diagnosis": "M54.50", "tag": "kneeling", "phase": "acute", "severity": "relative", "rationale": "Sore."},
    )
    assert by_tag.status_code == 201, by_tag.json()
    assert (by_tag.json()["tag"], by_tag.json()["clinic"], by_tag.json()["is_global"]) == ("kneeling", clinic.pk, False)
    by_slug = client.post(
        "/api/v1/catalog/contraindications/",
        {"diagnosis": "M54.50", "stretch": "bridge", "severity": "absolute", "rationale": "Not in our protocol."},
    )
    assert by_slug.status_code == 201 and by_slug.json()["stretch"] == "bridge"
    by_id = client.post(
        "/api/v1/catalog/contraindications/",
        {"diagnosis": "M54.2", "stretch": stretch("chin-tuck").pk, "severity": "relative", "rationale": "Gently."},
    )
    assert by_id.status_code == 201 and by_id.json()["stretch_id"] == stretch("chin-tuck").pk
    assert Contraindication.objects.filter(clinic=clinic).count() == 3
    listed = client.get("/api/v1/catalog/contraindications/?diagnosis=M54.50").json()["results"]
    assert {row["id"] for row in listed} >= {by_tag.json()["id"], by_slug.json()["id"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "tag"),  # neither a tag nor a stretch
        ({"tag": "kneeling", "stretch": "bridge"}, "stretch"),  # both
        ({"tag": "kneeling", "diagnosis": "Z00.000"}, "diagnosis"),
        ({"tag": "kneeling", "from_day": 30, "until_day": 10}, "until_day"),
        ({"tag": "kneeling", "severity": "mild"}, "severity"),
        ({"stretch": "no-such-stretch"}, "stretch"),
    ],
)
def test_bad_contraindication_is_a_field_error(as_user, clinic_admin, change, field):
    row = {"diagnosis": "M54.50", "severity": "relative", "rationale": "Careful.", **change}
    response = as_user(clinic_admin).post("/api/v1/catalog/contraindications/", row)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Contraindication.objects.filter(clinic__isnull=False).exists()


def test_another_clinics_stretch_cannot_be_named(as_user, clinic_admin, other_clinic):
    theirs = theirs_stretch(other_clinic)
    for name in (theirs.pk, theirs.slug):
        response = as_user(clinic_admin).post(
            "/api/v1/catalog/contraindications/",
            {"diagnosis": "M54.50", "stretch": name, "severity": "relative", "rationale": "Careful."},
        )
        assert response.status_code == 400 and set(response.json()["errors"]) == {"stretch"}


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_global_rows_are_never_writable(as_user, clinic_admin, stretch, method):
    seeded = stretch("pelvic-tilt")
    client = as_user(clinic_admin)
    assert getattr(client, method)(f"/api/v1/catalog/stretches/{seeded.pk}/", {"name": "Mine now"}).status_code == 405
    row = Contraindication.objects.filter(clinic=None).first()
    assert getattr(client, method)(f"/api/v1/catalog/contraindications/{row.pk}/", {}).status_code == 405
    seeded.refresh_from_db()
    assert seeded.name == "Pelvic tilt"


# --- Constant queries ------------------------------------------------------------------------------------


def _add_clinic_rows(clinic, n: int) -> None:
    tags = list(MovementTag.objects.all()[:3])
    for _ in range(n):
        row = theirs_stretch(clinic)
        row.tags.set(tags)
        Contraindication.objects.create(
            clinic=clinic, diagnosis=Diagnosis.objects.get(code="M54.50"), stretch=row,
            severity="relative", rationale="Careful.",
        )  # fmt: skip


@pytest.mark.parametrize("url", ["/api/v1/catalog/stretches/", "/api/v1/catalog/contraindications/"])
def test_catalog_lists_run_constant_queries(as_user, therapist, clinic, count_queries, url):
    client = as_user(therapist)
    url += "?page_size=100"
    _add_clinic_rows(clinic, 1)
    small = count_queries(lambda: client.get(url))
    count_small = client.get(url).json()["count"]
    _add_clinic_rows(clinic, 10)
    large = count_queries(lambda: client.get(url))
    assert client.get(url).json()["count"] == count_small + 10
    assert small == large


@pytest.mark.parametrize(
    "url", ["/api/v1/catalog/diagnoses/", "/api/v1/catalog/movement-tags/", "/api/v1/catalog/mobility-levels/"]
)
def test_global_only_lists_run_constant_queries(as_user, front_desk, count_queries, url):
    client = as_user(front_desk)
    one = count_queries(lambda: client.get(url + "?page_size=1"))
    every = count_queries(lambda: client.get(url + "?page_size=100"))
    assert one == every == 2  # count + page
