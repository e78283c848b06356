"""A clinic's licensed wording of an outcome measure (issue 18): the ODI and NDI texts are copyrighted, so Limber ships
only their item ids, answer levels and scoring, and each clinic loads the text it is licensed to use — through
``clinic.services.instrument_wording_load`` (a clinic admin of that clinic, or a superuser), in the admin or with
``manage.py load_instrument_wording``. The texts below are placeholders, never the instruments' own.
"""

from __future__ import annotations

import io
import json

import pytest
from django.apps import apps as global_apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from clinic import services
from clinic.models import Instrument, InstrumentWording
from clinic.roles import sync_role_groups
from prescriptions.selectors.measures import wording_for
from tests import factories

WORDINGS = "/admin/clinic/instrumentwording/"
INSTRUMENTS = "/admin/clinic/instrument/"


@pytest.fixture(autouse=True)
def role_groups(db):
    """The role groups exactly as clinic/policy.py has them (view of the instruments for every role): in the parallel
    tier a test earlier on the same worker left the groups without the newest models' permissions (not reproduced in
    isolation), so these admin tests set them themselves."""
    sync_role_groups(global_apps)


LICENCE = "Mapi Research Trust licence 2026-0042 (placeholder)"


def instrument(code: str) -> Instrument:
    return Instrument.objects.get(code=code)


def wording(code: str = "odi", **items) -> dict:
    """A complete placeholder wording of ``code``: every item with a text and its end levels; ``items`` replace
    (or, with None, remove) an item's wording."""
    shown = {
        item["id"]: {
            "text": f"Placeholder text of {item['id']}",
            "levels": {str(item["low"]): "Placeholder lowest", str(item["high"]): "Placeholder highest"},
        }
        for item in instrument(code).items
    }
    for key, value in items.items():
        if value is None:
            shown.pop(key)
        else:
            shown[key] = value
    return {"instructions": "Placeholder instructions: tick one statement per section.", "items": shown}


def load(clinic, by, code: str = "odi", given: dict | None = None, licence: str = LICENCE) -> InstrumentWording:
    return services.instrument_wording_load(
        clinic=clinic, instrument=instrument(code), wording=given or wording(code), licence=licence, by=by
    )


def refused(clinic, by, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refusal:
        load(clinic, by, **kwargs)
    assert not InstrumentWording.objects.exists()
    return refusal.value.message_dict


@pytest.fixture
def superuser(db):
    return factories.UserFactory(is_staff=True, is_superuser=True)


# --- The service -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["odi", "ndi"])
def test_a_clinic_admin_loads_the_clinics_wording(clinic, clinic_admin, code):
    row = load(clinic, clinic_admin, code)
    assert (row.clinic, row.instrument.code, row.licence, row.loaded_by) == (clinic, code, LICENCE, clinic_admin)
    assert set(row.wording["items"]) == set(instrument(code).item_ids)
    assert row.wording["items"]["pain_intensity"] == {
        "text": "Placeholder text of pain_intensity",
        "levels": {"0": "Placeholder lowest", "5": "Placeholder highest"},
    }
    assert wording_for(clinic_id=clinic.pk, instruments=[instrument(code)]) == {instrument(code).pk: row.wording}


def test_a_superuser_loads_any_clinics_wording(clinic, superuser):
    assert load(clinic, superuser).loaded_by == superuser


def test_loading_again_replaces_the_clinics_wording(clinic, clinic_admin, superuser):
    load(clinic, clinic_admin)
    again = wording(pain_intensity={"text": "  A new placeholder  ", "levels": {"3": " Middle "}})
    row = load(clinic, superuser, given=again, licence="  Renewed licence  ")
    assert InstrumentWording.objects.get() == row
    assert (row.licence, row.loaded_by) == ("Renewed licence", superuser)
    assert row.wording["items"]["pain_intensity"] == {"text": "A new placeholder", "levels": {"3": "Middle"}}


def test_each_clinic_has_its_own_wording(clinic, clinic_admin, other_clinic):
    other_admin = factories.MembershipFactory(clinic=other_clinic, role="clinic_admin").user
    load(clinic, clinic_admin)
    load(other_clinic, other_admin, given=wording(lifting={"text": "Theirs"}))
    odi = instrument("odi")
    assert wording_for(clinic_id=clinic.pk, instruments=[odi])[odi.pk]["items"]["lifting"]["text"] != "Theirs"
    assert wording_for(clinic_id=other_clinic.pk, instruments=[odi])[odi.pk]["items"]["lifting"]["text"] == "Theirs"


@pytest.mark.parametrize("who", ["therapist", "front_desk", "other_therapist"])
def test_only_a_clinic_admin_of_that_clinic_loads_it(request, clinic, who):
    with pytest.raises(PermissionDenied):
        load(clinic, request.getfixturevalue(who))
    assert not InstrumentWording.objects.exists()


def test_another_clinics_admin_may_not(clinic, other_clinic):
    other_admin = factories.MembershipFactory(clinic=other_clinic, role="clinic_admin").user
    with pytest.raises(PermissionDenied):
        load(clinic, other_admin)


@pytest.mark.parametrize("code", ["nprs", "psfs"])
def test_a_free_instruments_wording_ships_and_is_not_loaded(clinic, clinic_admin, code):
    assert "instrument" in refused(clinic, clinic_admin, code=code, given=wording(code))


def test_every_item_needs_its_text(clinic, clinic_admin):
    errors = refused(clinic, clinic_admin, given=wording(walking=None, sitting={"text": "   ", "levels": {}}))
    assert errors["wording"] == [
        "items.walking: missing; every item needs its text.",
        "items.sitting.text: give its text.",
    ]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"6": "Too high"}, "items.lifting.levels.6: answer levels are 0 to 5."),
        ({"-1": "Too low"}, "items.lifting.levels.-1: answer levels are 0 to 5."),
        ({"two": "Not a level"}, "items.lifting.levels.two: answer levels are 0 to 5."),
        ({"2": ""}, "items.lifting.levels.2: give its text."),
    ],
)
def test_answer_levels_stay_within_the_items_range(clinic, clinic_admin, levels, message):
    errors = refused(clinic, clinic_admin, given=wording(lifting={"text": "Placeholder", "levels": levels}))
    assert errors["wording"] == [message]


def test_an_item_the_instrument_does_not_have_is_refused(clinic, clinic_admin):
    errors = refused(clinic, clinic_admin, given=wording(headaches={"text": "An NDI item", "levels": {}}))
    assert errors["wording"] == ["items.headaches: no such item in the ODI."]


@pytest.mark.parametrize("given", [[], "text", {"items": []}, {"instructions": 3, "items": {}}])
def test_wording_of_the_wrong_shape_is_refused(clinic, clinic_admin, given):
    with pytest.raises(ValidationError) as refusal:
        services.instrument_wording_load(
            clinic=clinic, instrument=instrument("odi"), wording=given, licence=LICENCE, by=clinic_admin
        )
    assert "wording" in refusal.value.message_dict


@pytest.mark.parametrize("licence", ["", "   ", "x" * 301])
def test_the_licence_is_named(clinic, clinic_admin, licence):
    assert set(refused(clinic, clinic_admin, licence=licence)) == {"licence"}


def test_every_refusal_comes_at_once(clinic, clinic_admin):
    errors = refused(clinic, clinic_admin, code="nprs", given={"items": {}}, licence="")
    assert set(errors) == {"instrument", "licence", "wording"}


# --- The admin ---------------------------------------------------------------------------------------------------


def post_data(code: str = "odi", given: dict | None = None, **fields) -> dict[str, str]:
    return {
        "instrument": str(instrument(code).pk),
        "wording": json.dumps(given or wording(code)),
        "licence": LICENCE,
        **fields,
    }


def test_a_clinic_admin_adds_the_clinics_wording_in_the_admin(staff_client, clinic, clinic_admin):
    client = staff_client(clinic_admin)
    page = client.get(f"{WORDINGS}add/")
    assert page.status_code == 200
    offered = {
        choice.instance.code for choice, _ in page.context["adminform"].form.fields["instrument"].choices if choice
    }
    assert offered == {"odi", "ndi"}
    assert "clinic" not in page.context["adminform"].form.fields

    response = client.post(f"{WORDINGS}add/", post_data())

    assert response.status_code == 302
    row = InstrumentWording.objects.get()
    assert (row.clinic, row.loaded_by, row.licence) == (clinic, clinic_admin, LICENCE)


def test_the_admin_shows_the_services_refusals_on_the_form(staff_client, clinic, clinic_admin):
    client = staff_client(clinic_admin)
    response = client.post(f"{WORDINGS}add/", post_data(given=wording(walking=None)))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["wording"] == [
        "items.walking: missing; every item needs its text."
    ]
    refused_free = client.post(f"{WORDINGS}add/", post_data(code="nprs", given=wording("nprs")))
    assert "instrument" in refused_free.context["adminform"].form.errors
    assert not InstrumentWording.objects.exists()


def test_a_second_wording_of_the_same_instrument_is_changed_not_added(staff_client, clinic, clinic_admin):
    load(clinic, clinic_admin)
    response = staff_client(clinic_admin).post(f"{WORDINGS}add/", post_data())
    assert response.status_code == 200
    assert "already" in response.context["adminform"].form.errors["instrument"][0]
    assert InstrumentWording.objects.count() == 1


def test_a_clinic_admin_changes_the_text_and_licence_but_not_the_instrument(staff_client, clinic, clinic_admin):
    row = load(clinic, clinic_admin)
    client = staff_client(clinic_admin)
    page = client.get(f"{WORDINGS}{row.pk}/change/")
    assert page.status_code == 200
    assert {"clinic", "instrument", "loaded_by_name"} <= set(page.context["adminform"].readonly_fields)
    assert clinic_admin.get_username() in client.get(WORDINGS).content.decode()
    changed = wording(lifting={"text": "Changed placeholder", "levels": {}})
    response = client.post(
        f"{WORDINGS}{row.pk}/change/",
        post_data(code="ndi", given=changed, licence="Renewed licence"),
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.instrument.code == "odi"
    assert (row.licence, row.wording["items"]["lifting"]["text"]) == ("Renewed licence", "Changed placeholder")


def test_another_clinics_wording_is_not_found(staff_client, clinic_admin, other_clinic, superuser):
    theirs = load(other_clinic, superuser)
    client = staff_client(clinic_admin)
    listed = client.get(WORDINGS)
    assert listed.status_code == 200
    assert theirs not in listed.context["cl"].result_list
    assert client.get(f"{WORDINGS}{theirs.pk}/change/", follow=True).redirect_chain  # "not found": to the index


@pytest.mark.parametrize("who", ["therapist", "front_desk"])
def test_other_staff_do_not_load_wording_in_the_admin(request, staff_client, who):
    client = staff_client(request.getfixturevalue(who))
    assert client.get(f"{WORDINGS}add/").status_code == 403
    assert client.post(f"{WORDINGS}add/", post_data()).status_code == 403
    assert not InstrumentWording.objects.exists()


def test_a_superuser_chooses_the_clinic(client, clinic, superuser):
    client.force_login(superuser)
    response = client.post(f"{WORDINGS}add/", post_data(clinic=str(clinic.pk)))
    assert response.status_code == 302
    assert InstrumentWording.objects.get().clinic == clinic


@pytest.mark.parametrize("who", ["therapist", "front_desk", "clinic_admin"])
def test_staff_read_the_instruments_but_do_not_change_them(request, staff_client, who):
    client = staff_client(request.getfixturevalue(who))
    odi = instrument("odi")
    assert client.get(INSTRUMENTS).status_code == 200
    page = client.get(f"{INSTRUMENTS}{odi.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert client.post(f"{INSTRUMENTS}{odi.pk}/change/", {"name": "Renamed"}).status_code == 403
    assert client.get(f"{INSTRUMENTS}add/").status_code == 403
    odi.refresh_from_db()
    assert odi.name == "Oswestry Disability Index"


def test_a_superuser_changes_an_instrument_but_never_its_code_or_items(client, superuser):
    client.force_login(superuser)
    odi = instrument("odi")
    page = client.get(f"{INSTRUMENTS}{odi.pk}/change/")
    assert page.status_code == 200
    assert {"code", "items"} <= set(page.context["adminform"].readonly_fields)


# --- The management command --------------------------------------------------------------------------------------


def command(*argv: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    kwargs = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("load_instrument_wording", *argv, stdout=out, **kwargs)
    return out.getvalue()


@pytest.fixture
def wording_file(tmp_path):
    def write(given) -> str:
        path = tmp_path / "wording.json"
        path.write_text(given if isinstance(given, str) else json.dumps(given), encoding="utf-8")
        return str(path)

    return write


@pytest.mark.parametrize("by", ["id", "name"])
def test_the_command_loads_a_clinics_wording_from_a_file(clinic, wording_file, by):
    chosen = str(clinic.pk) if by == "id" else clinic.name
    out = command("--clinic", chosen, "--instrument", "odi", "--file", wording_file(wording()), "--licence", LICENCE)
    assert f"Loaded the ODI wording of {clinic.name}" in out
    row = InstrumentWording.objects.get()
    assert (row.clinic, row.licence, row.loaded_by) == (clinic, LICENCE, None)
    assert set(row.wording["items"]) == set(instrument("odi").item_ids)


def test_the_command_replaces_and_reads_standard_input(clinic, clinic_admin):
    load(clinic, clinic_admin)
    given = json.dumps(wording(lifting={"text": "From stdin", "levels": {}}))
    out = command("--clinic", str(clinic.pk), "--instrument", "ODI", "--file", "-", "--licence", "Renewed", stdin=given)
    assert "Replaced the ODI wording" in out
    row = InstrumentWording.objects.get()
    assert (row.licence, row.wording["items"]["lifting"]["text"]) == ("Renewed", "From stdin")


def test_the_command_loads_as_a_clinic_admin_given_by(clinic, clinic_admin, therapist, wording_file):
    path = wording_file(wording())
    argv = ("--clinic", str(clinic.pk), "--instrument", "odi", "--file", path, "--licence", LICENCE)
    with pytest.raises(CommandError, match="Only a clinic admin"):
        command(*argv, "--by", therapist.username)
    command(*argv, "--by", clinic_admin.username)
    assert InstrumentWording.objects.get().loaded_by == clinic_admin


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--clinic", "999999", "--instrument", "odi"), "No clinic with the id or name '999999'"),
        (("--clinic", "Nowhere Physio", "--instrument", "odi"), "No clinic with the id or name"),
        (("--instrument", "sf36"), "No instrument 'sf36'"),
        (("--instrument", "odi", "--by", "nobody-here"), "--by nobody-here: no such user"),
    ],
)
def test_the_command_refuses_what_it_cannot_find(clinic, wording_file, argv, message):
    path = wording_file(wording())
    given = dict(zip(argv[::2], argv[1::2], strict=True))
    full = {"--clinic": str(clinic.pk), "--file": path, "--licence": LICENCE, **given}
    with pytest.raises(CommandError, match=message):
        command(*[part for pair in full.items() for part in pair])
    assert not InstrumentWording.objects.exists()


def test_the_command_lists_every_refusal(clinic, wording_file):
    path = wording_file(wording(walking=None))
    with pytest.raises(CommandError) as refusal:
        command("--clinic", str(clinic.pk), "--instrument", "nprs", "--file", path, "--licence", " ")
    lines = str(refusal.value).splitlines()
    assert lines[0] == "Nothing was loaded:"
    assert any(line.startswith("  --instrument: The NPRS is free") for line in lines)
    assert any(line.startswith("  --licence: ") for line in lines)
    assert any(line.startswith("  --file: items.") for line in lines)
    assert not InstrumentWording.objects.exists()


def test_the_command_refuses_a_file_that_is_not_json(clinic, wording_file, tmp_path):
    with pytest.raises(CommandError, match="is not JSON"):
        command(
            "--clinic", str(clinic.pk), "--instrument", "odi", "--file", wording_file("{not json"), "--licence", "L"
        )
    with pytest.raises(CommandError, match="Cannot read --file"):
        command(
            "--clinic", str(clinic.pk), "--instrument", "odi", "--file", str(tmp_path / "no.json"), "--licence", "L"
        )
