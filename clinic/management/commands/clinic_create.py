"""``manage.py clinic_create``: start a real clinic — the clinic and its first clinic admin (``clinic_create``).

The password never travels as an argument (it would sit in the shell's history and the process list): it is
prompted for twice on a terminal, or read from ``--password-file`` (``-`` for standard input).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from clinic import services

FLAGS = {
    "name": "--name",
    "timezone": "--timezone",
    "phone": "--phone",
    "address": "--address",
    "admin_username": "--admin-username",
    "admin_email": "--admin-email",
    "admin_first_name": "--admin-first-name",
    "admin_last_name": "--admin-last-name",
    "admin_password": "password",
}
"""The service's field → what the operator typed it as, for its error messages."""


class Command(BaseCommand):
    help = (
        "Start a real clinic: create the clinic and its first clinic admin, who then adds the clinic's staff in the"
        " admin. The admin's password is prompted for twice, or read from --password-file; never an argument."
    )
    stealth_options = ("stdin",)

    def create_parser(self, prog_name, subcommand, **kwargs):
        # No abbreviations: ``--password secret`` must not be read as ``--password-file secret``.
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="The clinic's name (unique).")
        parser.add_argument("--timezone", required=True, help="An IANA region/city zone, e.g. America/Chicago.")
        parser.add_argument("--phone", required=True, help="The number patients call, e.g. '+1 312 555 0142'.")
        parser.add_argument("--address", default="", help="Where patients come (optional).")
        parser.add_argument("--admin-username", required=True, help="The first clinic admin's username.")
        parser.add_argument("--admin-email", default="", help="The first clinic admin's email (optional).")
        parser.add_argument("--admin-first-name", default="", help="The first clinic admin's first name (optional).")
        parser.add_argument("--admin-last-name", default="", help="The first clinic admin's last name (optional).")
        parser.add_argument(
            "--password-file",
            metavar="PATH",
            help="Read the clinic admin's password from this file (its first line), or from standard input with"
            " '-'. Without it the password is prompted for on the terminal.",
        )
        # Caught only to refuse them without echoing the value back (argparse would, as an unrecognized argument).
        for trap in ("--password", "--admin-password"):
            parser.add_argument(trap, dest="password_argument", help=argparse.SUPPRESS)

    def handle(self, *args, **options) -> None:
        if options.get("password_argument") is not None:
            raise CommandError(
                "There is no --password option: a password given as an argument stays in the shell's history and the"
                " process list. Use --password-file PATH ('-' for standard input), or run on a terminal to be"
                " prompted. Nothing was created."
            )
        password = self._password(options)
        try:
            clinic = services.clinic_create(
                name=options["name"],
                timezone=options["timezone"],
                phone=options["phone"],
                address=options["address"],
                admin_username=options["admin_username"],
                admin_password=password,
                admin_email=options["admin_email"],
                admin_first_name=options["admin_first_name"],
                admin_last_name=options["admin_last_name"],
            )
        except ValidationError as refused:
            lines = [
                f"  {FLAGS.get(field, field)}: {message}"
                for field, messages in refused.message_dict.items()
                for message in messages
            ]
            raise CommandError("\n".join(["Nothing was created:", *lines])) from refused
        self.stdout.write(self.style.SUCCESS(f"Clinic {clinic.name!r} created (id {clinic.pk}, {clinic.timezone})."))
        self.stdout.write(f"  Clinic admin: {options['admin_username']}")
        self.stdout.write(f"  Log in at:    {_admin_url()}")
        self.stdout.write("  Then add the clinic's staff there: Staff memberships → Add (login, name, password, role).")

    def _password(self, options) -> str:
        path = options["password_file"]
        stdin = options.get("stdin") or sys.stdin
        if path == "-":
            return _first_line(stdin.read(), "standard input")
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot read --password-file {path}: {error.strerror or error}.") from error
            return _first_line(text, path)
        if not stdin.isatty():
            raise CommandError(
                "No terminal to ask for the clinic admin's password: give --password-file PATH (or '-' to read it"
                " from standard input). There is no --password option, so that it never shows in the shell's"
                " history or the process list."
            )
        password = getpass.getpass(f"Password for {options['admin_username']}: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ. Nothing was created.")
        return password


def _first_line(text: str, where: str) -> str:
    """The password is the first line, without its line break (other spaces are the password's own)."""
    line = text.splitlines()[0] if text else ""
    if not line:
        raise CommandError(f"The password in {where} is empty. Nothing was created.")
    return line


def _admin_url() -> str:
    """Where the admin is: locally what ``make run`` serves; deployed, the first public host of ``ALLOWED_HOSTS``."""
    path = reverse("admin:index")
    if settings.DEBUG:
        return f"http://127.0.0.1:8000{path}"
    host = next((h for h in settings.ALLOWED_HOSTS if h and not h.startswith(".") and h != "*"), None)
    return f"https://{host}{path}" if host else f"{path} on this deployment's host"
