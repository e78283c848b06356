"""``manage.py load_instrument_wording``: load a clinic's licensed wording of an outcome measure (issue 18).

The ODI and NDI texts are copyrighted and licensed to organisations by their owners, so Limber ships only their item
ids, answer levels and scoring. A clinic that holds a licence loads its text, from a JSON file:

    {"instructions": "…", "items": {"<item id>": {"text": "…", "levels": {"0": "…", "5": "…"}}, …}}

with every item of the instrument (the admin lists their ids on the instrument's page). Loading again replaces the
clinic's wording. Checked and saved by ``clinic.services.instrument_wording_load``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from clinic import services
from clinic.models import Clinic, Instrument, InstrumentWording

FLAGS = {"instrument": "--instrument", "wording": "--file", "licence": "--licence", "clinic": "--clinic"}
"""The service's field → what the operator typed it as, for its error messages."""


class Command(BaseCommand):
    help = (
        "Load a clinic's licensed wording of an outcome measure (the ODI or NDI: their texts are copyrighted and"
        " never ship with Limber) from a JSON file. Loading again replaces it."
    )
    stealth_options = ("stdin",)

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", required=True, help="The clinic: its id, or its name exactly.")
        parser.add_argument("--instrument", required=True, help="The instrument's code: odi or ndi.")
        parser.add_argument(
            "--file",
            required=True,
            metavar="PATH",
            help='The wording as JSON: {"instructions": "…", "items": {"<item id>": {"text": "…", "levels":'
            ' {"0": "…"}}}}, every item; \'-\' reads standard input.',
        )
        parser.add_argument(
            "--licence", required=True, help="The licence under which the clinic uses this wording (recorded)."
        )
        parser.add_argument(
            "--by",
            metavar="USERNAME",
            help="Load it as this clinic admin of the clinic (or superuser), recorded as who loaded it. Without it,"
            " the server's operator loads it and no one is recorded.",
        )

    def handle(self, *args, **options) -> None:
        clinic = _clinic(options["clinic"])
        code = options["instrument"].strip().lower()
        instrument = Instrument.objects.filter(code=code).first()
        if instrument is None:
            known = ", ".join(Instrument.objects.values_list("code", flat=True))
            raise CommandError(f"No instrument {code!r} (known: {known}). Nothing was loaded.")
        wording = self._wording(options["file"], options.get("stdin") or sys.stdin)
        by = _user(options["by"]) if options["by"] else services.SHELL_OPERATOR
        replacing = InstrumentWording.objects.filter(clinic=clinic, instrument=instrument).exists()
        try:
            services.instrument_wording_load(
                clinic=clinic, instrument=instrument, wording=wording, licence=options["licence"], by=by
            )
        except PermissionDenied as refused:
            raise CommandError(f"--by {options['by']}: {refused} Nothing was loaded.") from refused
        except ValidationError as refused:
            lines = [
                f"  {FLAGS.get(field, field)}: {message}"
                for field, messages in refused.message_dict.items()
                for message in messages
            ]
            raise CommandError("\n".join(["Nothing was loaded:", *lines])) from refused
        verb = "Replaced" if replacing else "Loaded"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} the {instrument.abbreviation} wording of {clinic.name} (id {clinic.pk}).")
        )

    def _wording(self, path: str, stdin):
        if path == "-":
            text, where = stdin.read(), "standard input"
        else:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot read --file {path}: {error.strerror or error}.") from error
            except UnicodeDecodeError as error:
                raise CommandError(f"--file {path} is not UTF-8 text. Nothing was loaded.") from error
            where = path
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{where} is not JSON: {error.msg} (line {error.lineno}, column {error.colno}). Nothing was loaded."
            ) from error


def _clinic(given: str) -> Clinic:
    """A clinic by id (digits) or by its exact name."""
    given = given.strip()
    clinic = Clinic.objects.filter(pk=int(given)).first() if given.isdigit() and len(given) <= 18 else None
    clinic = clinic or Clinic.objects.filter(name=given).first()
    if clinic is None:
        raise CommandError(f"No clinic with the id or name {given!r}. Nothing was loaded.")
    return clinic


def _user(username: str):
    user = get_user_model()._default_manager.filter(username=username).first()
    if user is None:
        raise CommandError(f"--by {username}: no such user. Nothing was loaded.")
    return user
