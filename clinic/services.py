"""Writes for clinics, staff accounts, a clinic's own catalog rows and its protocol templates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_variables

from clinic import outbox, signals
from clinic.enqueue import enqueue_after_commit
from clinic.models import (
    REVIEW_NOTE,
    CatalogRecheckRequest,
    CatalogRow,
    Clinic,
    Contraindication,
    Diagnosis,
    DosedItem,
    MovementTag,
    Profession,
    ProtocolTemplate,
    ProtocolTemplateItem,
    Side,
    StaffMembership,
    Stretch,
)
from clinic.policy import Action, require

# --- Starting a clinic, adding its staff -------------------------------------------------------------------

USERNAME_TAKEN = "That username is taken."
PHONE_REQUIRED = "A clinic needs the phone number its patients call."
STAFF_FIELDS = ("username", "first_name", "last_name", "email", "password", "role", "profession")
"""What ``staff_add`` is given besides the clinic and who adds: the admin's staff form posts exactly these."""


def _staff_user_check(
    *, username: str, password: str, email: str = "", first_name: str = "", last_name: str = ""
) -> AbstractBaseUser:
    """The staff user (``is_staff``: they work in the admin) a service would save, password set, not saved; or every
    refusal at once as field errors: username (its form, free), email, names, password (Django's validators, with
    the user's own attributes)."""
    User = get_user_model()
    user = User(username=username, email=email, first_name=first_name, last_name=last_name, is_staff=True)
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "username" not in errors and User.objects.filter(username=username).exists():
        errors["username"] = [USERNAME_TAKEN]
    try:
        validate_password(password, user)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    return user


def _staff_user_save(user: AbstractBaseUser) -> None:
    """Save a checked user; a concurrent insert of the same username is the same refusal as a taken one."""
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise ValidationError({"username": USERNAME_TAKEN}) from exc


def clinic_create_check(
    *,
    name: str,
    timezone: str,
    phone: str,
    address: str = "",
    admin_username: str,
    admin_password: str,
    admin_email: str = "",
    admin_first_name: str = "",
    admin_last_name: str = "",
) -> Clinic:
    """What ``clinic_create`` refuses, without writing: the validated clinic it would save, or every refusal at once
    (the first admin's fields named ``admin_<field>``)."""
    clinic = Clinic(name=name.strip(), timezone=timezone.strip(), phone=phone.strip(), address=address.strip())
    errors: dict[str, list[str]] = {}
    if not clinic.phone:
        errors["phone"] = [PHONE_REQUIRED]
    try:
        clinic.full_clean()  # a unique name, a zone of the pinned list (``validate_timezone``), a dialable phone
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        _staff_user_check(
            username=admin_username,
            password=admin_password,
            email=admin_email,
            first_name=admin_first_name,
            last_name=admin_last_name,
        )
    except ValidationError as exc:
        errors.update({f"admin_{field}": messages for field, messages in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    return clinic


@transaction.atomic
def clinic_create(
    *,
    name: str,
    timezone: str,
    phone: str,
    address: str = "",
    admin_username: str,
    admin_password: str,
    admin_email: str = "",
    admin_first_name: str = "",
    admin_last_name: str = "",
) -> Clinic:
    """Start a clinic: the clinic and its first clinic admin (a staff user in the ``clinic_admin`` group), who then
    adds the clinic's staff (``staff_add``). All or nothing. Run from the shell (``manage.py clinic_create``), as
    ``createsuperuser`` is: whoever can run it already owns the deployment."""
    clinic = clinic_create_check(
        name=name,
        timezone=timezone,
        phone=phone,
        address=address,
        admin_username=admin_username,
        admin_password=admin_password,
        admin_email=admin_email,
        admin_first_name=admin_first_name,
        admin_last_name=admin_last_name,
    )
    try:
        with transaction.atomic():
            clinic.save()
    except IntegrityError as exc:  # a concurrent clinic of the same name
        raise ValidationError({"name": "A clinic with this name already exists."}) from exc
    try:
        staff_member_create(
            clinic=clinic,
            username=admin_username,
            password=admin_password,
            role=StaffMembership.Role.CLINIC_ADMIN,
            email=admin_email,
            first_name=admin_first_name,
            last_name=admin_last_name,
        )
    except ValidationError as exc:  # a username taken since the check
        raise ValidationError({f"admin_{field}": messages for field, messages in exc.message_dict.items()}) from exc
    return clinic


@transaction.atomic
def staff_member_create(
    *,
    clinic: Clinic,
    username: str,
    password: str,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    profession: str = "",
):
    """Create a staff user with exactly one membership, in the role's permission group. No authorization: the
    callers are ``clinic_create``, ``staff_add`` (which checks who adds) and the demo loader."""
    user = _staff_user_check(
        username=username, password=password, email=email, first_name=first_name, last_name=last_name
    )
    if role == StaffMembership.Role.THERAPIST and not profession:
        profession = Profession.PHYSICAL_THERAPIST
    _staff_user_save(user)
    membership = StaffMembership(user=user, clinic=clinic, role=role, profession=profession)
    membership.full_clean()
    membership.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def staff_add_check(
    *,
    clinic: Clinic,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    password: str,
    role: str,
    profession: str = "",
) -> None:
    """What ``staff_add`` refuses, without writing (the admin's staff form calls it): every refusal at once."""
    errors: dict[str, list[str]] = {}
    if not first_name.strip():
        errors["first_name"] = ["Enter the staff member's first name."]
    if not last_name.strip():
        errors["last_name"] = ["Enter the staff member's last name."]
    try:
        StaffMembership(clinic=clinic, role=role, profession=profession).full_clean(exclude=["user"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        _staff_user_check(username=username, password=password, email=email, first_name=first_name, last_name=last_name)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def staff_add(
    *,
    clinic: Clinic,
    by,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    password: str,
    role: str,
    profession: str = "",
) -> StaffMembership:
    """A clinic admin adds a member of staff to their clinic in one step: the login (``is_staff``), the membership
    in ``role`` and the role's group. Returns the membership."""
    require(Action.MANAGE_STAFF, by, clinic)
    fields = {
        "username": username,
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "email": email,
        "password": password,
        "role": role,
        "profession": profession,
    }
    staff_add_check(clinic=clinic, **fields)
    return staff_member_create(clinic=clinic, **fields).membership


@transaction.atomic
def staff_role_change(*, membership: StaffMembership, by, role: str, profession: str = "") -> StaffMembership:
    """A clinic admin changes a member's role (and profession): the membership and the role group move together,
    so a demoted member keeps none of the old role's permissions. Nobody changes their own role (a clinic admin
    cannot lock the clinic out of its own administration by accident)."""
    require(Action.MANAGE_STAFF, by, membership.clinic_id)
    membership = StaffMembership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    if role != membership.role and membership.user_id == getattr(by, "pk", None):
        raise ValidationError({"role": "You cannot change your own role; ask another clinic admin."})
    old_role = membership.role
    membership.role, membership.profession = role, profession or ""
    membership.full_clean()
    membership.save(update_fields=["role", "profession"])
    if old_role != role:
        membership.user.groups.remove(*Group.objects.filter(name=old_role))
        membership.user.groups.add(Group.objects.get(name=role))
    return membership


# --- The clinic's own catalog rows ----------------------------------------------------------------------
# Global rows (clinic null) come from data migrations and are edited by superusers only; nothing here
# writes one.


@transaction.atomic
def stretch_create(*, clinic: Clinic, by, tags: list[MovementTag] | tuple[MovementTag, ...] = (), **fields) -> Stretch:
    """Add a stretch to ``clinic``'s own catalog. Only its clinic admin may.

    The slug may not repeat a global slug (a clinic row would shadow the seeded one wherever stretches are
    named by slug) nor one of the clinic's own; a static stretch needs a default hold.
    """
    require(Action.EDIT_CATALOG, by, clinic)
    fields.setdefault("review_note", "")  # the seed's review note is about seed content, not the clinic's
    stretch = Stretch(clinic=clinic, **fields)
    errors: dict[str, str] = {}
    if stretch.slug and Stretch.objects.visible_to(clinic).filter(slug=stretch.slug).exists():
        errors["slug"] = f"The catalog already has a stretch {stretch.slug!r}; choose another slug."
    if stretch.kind == Stretch.Kind.STATIC and not stretch.default_hold_seconds:
        errors["default_hold_seconds"] = "A static stretch needs a default hold."
    if errors:
        raise ValidationError(errors)
    stretch.full_clean()
    try:
        with transaction.atomic():
            stretch.save()
    except IntegrityError as exc:  # a concurrent insert of the same slug
        raise ValidationError({"slug": "The catalog already has a stretch with this slug."}) from exc
    stretch.tags.set(tags)
    return stretch


@transaction.atomic
def contraindication_create(*, clinic: Clinic, by, **fields) -> Contraindication:
    """Add a contraindication row of ``clinic``'s own: a diagnosis × (a movement tag or a stretch the clinic
    can see) × optional phase, qualifier and window. Only its clinic admin may. The gate applies it to the
    clinic's patients from the next evaluation on."""
    require(Action.EDIT_CATALOG, by, clinic)
    fields.setdefault("review_note", "")
    row = Contraindication(clinic=clinic, **fields)
    errors: dict[str, str] = {}
    if (row.tag_id is None) == (row.stretch_id is None):
        errors["tag" if row.tag_id is None else "stretch"] = "Name either a movement tag or a stretch, not both."
    elif row.stretch_id is not None and row.stretch.clinic_id not in (None, clinic.pk):
        errors["stretch"] = "That stretch is not in this clinic's catalog."
    if row.from_day is not None and row.until_day is not None and row.until_day < row.from_day:
        errors["until_day"] = "The window cannot end before it starts."
    if errors:
        raise ValidationError(errors)
    row.full_clean()
    row.save()
    catalog_recheck_request(clinic_id=clinic.pk, reason="contraindication added")
    return row


def catalog_recheck_request(*, clinic_id: int | None, reason: str) -> None:
    """Record, in the caller's transaction, that every active plan in the scope (one clinic, or every clinic
    for a global row: ``clinic_id`` None) must be re-checked by the gate; the fast path is published after
    commit (``catalog_changed``), the per-minute drain catches up if it is lost."""
    outbox.request(CatalogRecheckRequest, key="clinic_id", values=[clinic_id], reason=reason)

    def announce() -> None:
        signals.catalog_changed.send_robust(sender=CatalogRecheckRequest, clinic_id=clinic_id)

    transaction.on_commit(announce, robust=True)


@transaction.atomic
def catalog_row_save(*, row: CatalogRow, by, save_related=None) -> CatalogRow:
    """Save a catalog row edited (and validated) in the admin, with its many-to-many fields (``save_related``), and
    record a re-check of every active plan in its scope: a changed contraindication, a stretch's tags or
    minimum mobility, a diagnosis's clearing professions or a mobility level all change what the gate decides.

    Global rows (no clinic, and the vocabularies that have no clinic at all) are superusers' only; a clinic's
    own rows its clinic admin's.
    """
    adding = row._state.adding
    clinic_id = getattr(row, "clinic_id", None)
    # A row moved between scopes (a global row made a clinic's, or back) changes both: the editor must be allowed
    # in both, and both are re-checked.
    stored_clinic_id = clinic_id
    if not adding and hasattr(row, "clinic_id"):
        stored_clinic_id = type(row).objects.values_list("clinic_id", flat=True).get(pk=row.pk)
    scopes = list(dict.fromkeys([clinic_id, stored_clinic_id]))
    for scope in scopes:
        if scope is None:
            if not (by is not None and by.is_active and by.is_superuser):
                raise PermissionDenied("Only a superuser may change the global catalog.")
        else:
            require(Action.EDIT_CATALOG, by, scope)
    row.save()  # validated by the admin's form
    if save_related is not None:
        save_related()
    if not (adding and isinstance(row, Stretch)):  # a new stretch is in no plan yet
        verb = "added" if adding else "changed"
        for scope in scopes:
            catalog_recheck_request(clinic_id=scope, reason=f"{row._meta.verbose_name} {verb}")
    return row


# --- Protocol templates (issue 17) ------------------------------------------------------------------------
# A clinic's therapists and clinic admin write the clinic's own templates; global templates (clinic null) ship in
# data migrations and only a superuser changes one (a clinic's attempt is PermissionDenied: 403 in the API, a
# read-only page in the admin). Every change bumps ``version`` by one; a plan records the version it came from.

TEMPLATE_FIELDS = ("slug", "name", "description", "phase", "days_of_week", "times", "weeks", "source")
"""What ``template_update`` may change besides ``items`` and ``diagnoses``."""


@dataclass(frozen=True)
class ProgressionIn:
    """A dose progression rule (``DosedItem``): every ``every_weeks`` weeks add these, up to the maxima (None: the
    stretch's bound)."""

    every_weeks: int
    hold_seconds: int = 0
    reps: int = 0
    sets: int = 0
    max_hold_seconds: int | None = None
    max_reps: int | None = None
    max_sets: int | None = None

    def as_fields(self) -> dict[str, int | None]:
        """The item's ``progress_*`` fields."""
        return {f"progress_{name}": value for name, value in vars(self).items()}

    @classmethod
    def of(cls, item: DosedItem) -> ProgressionIn | None:
        """An item's rule, or None."""
        if item.progress_every_weeks is None:
            return None
        return cls(**{name: getattr(item, f"progress_{name}") for name in cls.__dataclass_fields__})


NO_PROGRESSION = {
    "progress_every_weeks": None,
    "progress_hold_seconds": 0,
    "progress_reps": 0,
    "progress_sets": 0,
    "progress_max_hold_seconds": None,
    "progress_max_reps": None,
    "progress_max_sets": None,
}


@dataclass(frozen=True)
class ItemIn:
    """One stretch of a plan or a template as the therapist gives it: dose, side, notes and optionally a progression
    rule (a dose within the stretch's bounds, ``dose_errors``)."""

    stretch: Stretch
    reps: int
    sets: int = 1
    hold_seconds: int | None = None
    side: str = Side.NONE
    notes: str = ""
    progression: ProgressionIn | None = None

    def row_fields(self) -> dict:
        """The fields of a ``DosedItem`` row (without its order and parent)."""
        return {
            "stretch": self.stretch,
            "hold_seconds": self.hold_seconds,
            "reps": self.reps,
            "sets": self.sets,
            "side": self.side,
            "notes": self.notes,
            **(self.progression.as_fields() if self.progression else NO_PROGRESSION),
        }

    @classmethod
    def of(cls, item: DosedItem) -> ItemIn:
        """A saved item as input (an amendment's copy of it)."""
        return cls(
            stretch=item.stretch,
            reps=item.reps,
            sets=item.sets,
            hold_seconds=item.hold_seconds,
            side=item.side,
            notes=item.notes,
            progression=ProgressionIn.of(item),
        )


TemplateItemIn = ItemIn


def dose_errors(item: ItemIn) -> dict[str, str]:
    """Field → message for what the stretch's bounds refuse: the dose (``hold_seconds``, ``reps``, ``sets``) and the
    rule (``progression.max_*``, ``progression.hold_seconds``). The hard bounds are the model's constraints."""
    stretch, rule = item.stretch, item.progression
    errors = stretch.dose_errors(hold_seconds=item.hold_seconds, reps=item.reps, sets=item.sets)
    if rule is not None:
        capped = stretch.dose_errors(hold_seconds=rule.max_hold_seconds, reps=rule.max_reps, sets=rule.max_sets)
        errors.update({f"progression.max_{name}": message for name, message in capped.items()})
        if rule.hold_seconds and not item.hold_seconds:
            errors["progression.hold_seconds"] = "This item has no hold to lengthen; add to its repetitions or sets."
    return errors


def sides_overlap(one: str, other: str) -> bool:
    """Whether two items of one stretch would do it twice on one side (a plan's or a template's): only a left and a
    right are two halves. "none" (a stretch without sides, or a side not said) overlaps everything, "both" overlaps
    every side."""
    sided = {Side.LEFT, Side.RIGHT}
    return not (one in sided and other in sided and one != other)


def _require_template_editor(clinic_id: int | None, by) -> None:
    """A clinic's templates: its therapists and clinic admin. Global ones: superusers only."""
    if clinic_id is None:
        if not (by is not None and by.is_active and by.is_superuser):
            raise PermissionDenied("Global templates are read-only; copy one into your clinic's own to change it.")
        return
    require(Action.EDIT_TEMPLATES, by, clinic_id)


def _template_items(clinic_id: int | None, items: Sequence[TemplateItemIn]) -> list[ProtocolTemplateItem]:
    """The items as unsaved rows (order from 1), or every refusal at once: ``items`` (none given), ``items[i]``
    (a stretch twice on one side, a static stretch without a hold, a dose out of bounds), ``items[i].stretch``."""
    if not items:
        raise ValidationError({"items": "A template needs at least one stretch."})
    errors: dict[str, list[str]] = {}
    rows = []
    for index, item in enumerate(items):
        stretch = item.stretch
        name = f"items[{index}]"
        if stretch.clinic_id not in (None, clinic_id):
            errors.setdefault(f"{name}.stretch", []).append("That stretch is not in this clinic's catalog.")
            continue
        for earlier_index, earlier in enumerate(items[:index]):
            if earlier.stretch.pk == stretch.pk and sides_overlap(earlier.side, item.side):
                errors.setdefault(name, []).append(
                    f"{stretch.name} ({item.side}) is already item {earlier_index + 1} ({earlier.side}); "
                    "list a stretch once per side."
                )
                break
        if stretch.kind == Stretch.Kind.STATIC and not item.hold_seconds:
            errors.setdefault(f"{name}.hold_seconds", []).append(f"{stretch.name} is a static stretch; give a hold.")
        for field, message in dose_errors(item).items():
            errors.setdefault(f"{name}.{field}", []).append(message)
        row = ProtocolTemplateItem(order=index + 1, **item.row_fields())
        try:
            row.full_clean(exclude=["template"])  # the dose bounds are the model's check constraints
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                key = name if field == NON_FIELD_ERRORS else f"{name}.{field}"
                errors.setdefault(key, []).extend(messages)
        rows.append(row)
    if errors:
        raise ValidationError(errors)
    return rows


def _template_check(template: ProtocolTemplate, diagnoses: Sequence[Diagnosis] | None) -> None:
    """Normalize the schedule and validate the row (its constraints), its slug free in its scope and, when given,
    at least one diagnosis: every refusal at once."""
    template.slug = template.slug or slugify(template.name)[:80]
    template.days_of_week = sorted(set(template.days_of_week or []))
    template.times = sorted(set(template.times or []))
    errors: dict[str, list[str]] = {}
    if diagnoses is not None and not diagnoses:
        errors["diagnoses"] = ["Name at least one diagnosis the template is for."]
    taken = ProtocolTemplate.objects.filter(clinic_id=template.clinic_id, slug=template.slug).exclude(pk=template.pk)
    if template.slug and taken.exists():
        errors["slug"] = [f"There is already a template {template.slug!r}; choose another slug."]
    try:
        template.full_clean(exclude=["slug"] if "slug" in errors else None, validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _template_validated(
    template: ProtocolTemplate, diagnoses: Sequence[Diagnosis] | None, items: Sequence[TemplateItemIn] | None
) -> list[ProtocolTemplateItem] | None:
    """The template checked (``_template_check``) and, when given, its items as unsaved rows (``_template_items``):
    every refusal of both at once."""
    errors: dict[str, list[str]] = {}
    rows = None
    try:
        _template_check(template, diagnoses)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if items is not None:
        try:
            rows = _template_items(template.clinic_id, items)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return rows


def _template_save(template: ProtocolTemplate, diagnoses, rows: list[ProtocolTemplateItem] | None) -> None:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as exc:  # a concurrent insert of the same slug
        raise ValidationError({"slug": "There is already a template with this slug."}) from exc
    if diagnoses is not None:
        template.diagnoses.set(diagnoses)
    if rows is not None:
        template.items.all().delete()
        for row in rows:
            row.template = template
        ProtocolTemplateItem.objects.bulk_create(rows)


@transaction.atomic
def template_create(
    *,
    clinic: Clinic | None,
    by,
    name: str,
    diagnoses: Sequence[Diagnosis],
    items: Sequence[TemplateItemIn],
    days_of_week: Sequence[int],
    times: Sequence[dt.time],
    slug: str = "",
    description: str = "",
    phase: str = "",
    weeks: int | None = None,
    source: str = "",
) -> ProtocolTemplate:
    """Add a template of ``clinic``'s own (its therapists and clinic admin; ``clinic`` None, a global one: superusers
    only). Items are validated as a plan's are: each stretch in the clinic's catalog, once per side, a static one
    with a hold, doses within the model's bounds. The slug (from the name when not given) is unique in its scope."""
    clinic_id = clinic.pk if clinic is not None else None
    _require_template_editor(clinic_id, by)
    template = ProtocolTemplate(
        clinic=clinic,
        slug=slug,
        name=name.strip(),
        description=description,
        phase=phase,
        days_of_week=list(days_of_week),
        times=list(times),
        weeks=weeks,
        source=source,
        review_note="" if clinic is not None else REVIEW_NOTE,  # the seed's note is about seed content
        version=1,
    )
    _template_save(template, diagnoses, _template_validated(template, diagnoses, items))
    return template


@transaction.atomic
def template_update(
    *,
    template: ProtocolTemplate,
    by,
    items: Sequence[TemplateItemIn] | None = None,
    diagnoses: Sequence[Diagnosis] | None = None,
    **fields,
) -> ProtocolTemplate:
    """Change a template: the fields given (``TEMPLATE_FIELDS``), its diagnoses and (when given) replace all its
    items; the version goes up by one. A global template is read-only to clinics (PermissionDenied)."""
    _require_template_editor(template.clinic_id, by)
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    template = ProtocolTemplate.objects.select_for_update().get(pk=template.pk)
    for name, value in fields.items():
        setattr(template, name, value.strip() if name == "name" else value)
    template.version += 1
    _template_save(template, diagnoses, _template_validated(template, diagnoses, items))
    return template


@transaction.atomic
def auth_tokens_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete API tokens whose expiry has passed (the authentication class only refuses them); returns how many."""
    from knox.models import get_token_model

    deleted, _ = get_token_model().objects.filter(expiry__lte=now or timezone.now()).delete()
    return deleted


# --- Passwords: change, reset by email --------------------------------------------------------------------

OLD_PASSWORD_WRONG = "Your old password was entered incorrectly. Please enter it again."
RESET_LINK_INVALID = "This password reset link is invalid or has expired."
PASSWORD_RESET_TASK = "clinic.send_password_reset"
NO_ONE = 0  # the task's user id for an unknown address: no user has it, so the task sends nothing
PASSWORD_RESET_TEMPLATES = ("clinic/password_reset_subject.txt", "clinic/password_reset_email.txt")


def _password_set(user: AbstractBaseUser, password: str, *, keep_token=None) -> None:
    """Check ``password`` with the validators (errors on ``new_password``), set it, and end the user's API tokens
    but ``keep_token``. Browser sessions signed in before end by themselves: their password hash no longer matches."""
    from knox.models import get_token_model

    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    tokens = get_token_model().objects.filter(user=user)
    if keep_token is not None:
        tokens = tokens.exclude(pk=keep_token.pk)
    tokens.delete()


@sensitive_variables("old_password", "new_password")
@transaction.atomic
def auth_password_change(*, user: AbstractBaseUser, old_password: str, new_password: str, keep_token=None) -> None:
    """The signed-in ``user`` changes their password. Every API token of theirs ends but ``keep_token`` (the one
    the request came with, if any); the caller keeps its own browser session (``update_session_auth_hash``)."""
    if not user.check_password(old_password):
        raise ValidationError({"old_password": OLD_PASSWORD_WRONG})
    _password_set(user, new_password, keep_token=keep_token)


@transaction.atomic
def auth_password_reset_request(*, email: str) -> None:
    """Mail a reset link (after commit, from a task) to each active login with this address and a usable password,
    staff or portal. An unknown address sends nothing, yet costs the same: one lookup and one task (for no one,
    ``NO_ONE``), so neither the answer nor its time tells whether the address is on file."""
    user_ids = [user.pk for user in PasswordResetForm().get_users(email)] or [NO_ONE]
    for user_id in user_ids:
        enqueue_after_commit(PASSWORD_RESET_TASK, user_id)


def auth_password_reset_send(*, user_id: int) -> bool:
    """Send user ``user_id`` the link ``PORTAL_BASE_URL/portal/reset/<uidb64>/<token>`` through the email backend
    (Django's reset token: single use, valid ``PASSWORD_RESET_TIMEOUT``). False when they no longer qualify."""
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password() or not user.email:
        return False
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    context = {
        "user": user,
        "username": user.get_username(),
        "uid": uid,
        "token": token,
        "link": f"{settings.PORTAL_BASE_URL}/portal/reset/{uid}/{token}",
        "valid_hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
    }
    PasswordResetForm().send_mail(*PASSWORD_RESET_TEMPLATES, context, None, user.email)
    return True


@sensitive_variables("new_password")
@transaction.atomic
def auth_password_reset_confirm(*, uid: str, token: str, new_password: str) -> AbstractBaseUser:
    """Set a new password through a reset link's ``uid`` and ``token`` (once: the token is bound to the old
    password) and end every API token of the user. A bad or expired link is an error on ``token``."""
    users = get_user_model()._default_manager
    try:
        user = users.select_for_update().get(pk=urlsafe_base64_decode(uid).decode(), is_active=True)
    except (TypeError, ValueError, OverflowError, ValidationError, users.model.DoesNotExist):
        raise ValidationError({"token": RESET_LINK_INVALID}) from None
    if not default_token_generator.check_token(user, token):
        raise ValidationError({"token": RESET_LINK_INVALID})
    _password_set(user, new_password)
    return user


# --- A clinic's licensed wording of an outcome measure (issue 18) ----------------------------------------------

# Appended with issue 18 (this section only appends to the module): the two models it writes.
from clinic.models import Instrument, InstrumentWording  # noqa: E402

MAX_WORDING_TEXT_LENGTH = 2000
"""An item's text, one answer level's text, or the instructions: at most this many characters."""
MAX_LICENCE_LENGTH = InstrumentWording._meta.get_field("licence").max_length


class _ShellOperator:
    """Whoever runs ``manage.py load_instrument_wording`` without ``--by``: they hold the server (and with it every
    clinic's data), so no role is asked of them; the wording is recorded as loaded by no one."""

    def __repr__(self) -> str:
        return "SHELL_OPERATOR"


SHELL_OPERATOR = _ShellOperator()


def _wording_text(value, where: str, errors: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{where}: give its text.")
        return ""
    if len(value.strip()) > MAX_WORDING_TEXT_LENGTH:
        errors.append(f"{where}: keep it to {MAX_WORDING_TEXT_LENGTH} characters or fewer.")
    return value.strip()


def instrument_wording_check(*, instrument: Instrument, wording, licence: str) -> dict:
    """The wording as it will be stored, or every refusal at once as field errors (``instrument``, ``wording``,
    ``licence``): only a licensed instrument takes a clinic's wording (a free one's ships with Limber); the wording
    is ``{"instructions": "…", "items": {"<item id>": {"text": "…", "levels": {"0": "…", …}}}}`` with a non-empty
    text for every item of the instrument, no other item, and answer levels only within each item's range."""
    errors: dict[str, list[str]] = {}
    if not instrument.licensed:
        errors["instrument"] = [
            f"The {instrument.abbreviation} is free to reproduce: its wording ships with Limber and is not loaded."
        ]
    licence = (licence or "").strip()
    if not licence:
        errors["licence"] = ["Name the licence under which the clinic uses this wording."]
    elif len(licence) > MAX_LICENCE_LENGTH:
        errors["licence"] = [f"Keep the licence to {MAX_LICENCE_LENGTH} characters or fewer."]
    problems: list[str] = []
    cleaned: dict = {"instructions": "", "items": {}}
    if not isinstance(wording, dict):
        problems.append('Give the wording as {"instructions": "…", "items": {"<item id>": {"text": "…", …}}}.')
    else:
        unknown_keys = sorted(set(wording) - {"instructions", "items"})
        if unknown_keys:
            problems.append(f"Unknown keys: {', '.join(unknown_keys)} (only instructions and items).")
        instructions = wording.get("instructions", "")
        if instructions:
            cleaned["instructions"] = _wording_text(instructions, "instructions", problems)
        elif instructions not in ("", None):
            problems.append("instructions: give them as text.")
        items = wording.get("items")
        if not isinstance(items, dict):
            problems.append("items: give each item's wording by its id.")
            items = {}
        ranges = {item["id"]: (item["low"], item["high"]) for item in instrument.items}
        for key in items:
            if key not in ranges:
                problems.append(f"items.{key}: no such item in the {instrument.abbreviation}.")
        for item_id, (low, high) in ranges.items():
            given = items.get(item_id)
            if not isinstance(given, dict):
                problems.append(f"items.{item_id}: missing; every item needs its text.")
                continue
            text = _wording_text(given.get("text"), f"items.{item_id}.text", problems)
            levels = given.get("levels", {})
            if not isinstance(levels, dict):
                problems.append(f"items.{item_id}.levels: give each answer level's text by its value.")
                levels = {}
            shown: dict[str, str] = {}
            for level, level_text in levels.items():
                try:
                    value = int(str(level).strip())
                except ValueError:
                    value = None
                if value is None or not low <= value <= high:
                    problems.append(f"items.{item_id}.levels.{level}: answer levels are {low} to {high}.")
                    continue
                shown[str(value)] = _wording_text(level_text, f"items.{item_id}.levels.{level}", problems)
            cleaned["items"][item_id] = {"text": text, "levels": dict(sorted(shown.items(), key=lambda i: int(i[0])))}
    if problems:
        errors["wording"] = problems
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def instrument_wording_load(*, clinic: Clinic, instrument: Instrument, wording, licence: str, by) -> InstrumentWording:
    """Load (or replace) the clinic's licensed wording of ``instrument``, checked by ``instrument_wording_check``.
    A clinic admin of that clinic (``Action.LOAD_WORDING``) or a superuser; ``SHELL_OPERATOR`` from the management
    command run without ``--by``."""
    if by is not SHELL_OPERATOR:
        require(Action.LOAD_WORDING, by, clinic)
    cleaned = instrument_wording_check(instrument=instrument, wording=wording, licence=licence)
    row, _ = InstrumentWording.objects.update_or_create(
        clinic=clinic,
        instrument=instrument,
        defaults={
            "wording": cleaned,
            "licence": licence.strip(),
            "loaded_by": None if by is SHELL_OPERATOR else by,
        },
    )
    return row
