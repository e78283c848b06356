"""Writes for clinics, staff accounts and a clinic's own catalog rows."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic import outbox, signals
from clinic.models import (
    CatalogRecheckRequest,
    CatalogRow,
    Clinic,
    Contraindication,
    MovementTag,
    Profession,
    StaffMembership,
    Stretch,
)
from clinic.policy import Action, require


@transaction.atomic
def clinic_create(*, name: str, timezone: str) -> Clinic:
    clinic = Clinic(name=name, timezone=timezone)
    clinic.full_clean()
    clinic.save()
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
    """Create a staff user with exactly one membership, in the role's permission group."""
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": "That username is taken."})
    if role == StaffMembership.Role.THERAPIST and not profession:
        profession = Profession.PHYSICAL_THERAPIST
    user = User(username=username, email=email, first_name=first_name, last_name=last_name, is_staff=True)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.full_clean()
    user.save()
    membership = StaffMembership(user=user, clinic=clinic, role=role, profession=profession)
    membership.full_clean()
    membership.save()
    user.groups.add(Group.objects.get(name=role))
    return user


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


@transaction.atomic
def auth_tokens_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete API tokens whose expiry has passed (the authentication class only refuses them); returns how many."""
    from knox.models import get_token_model

    deleted, _ = get_token_model().objects.filter(expiry__lte=now or timezone.now()).delete()
    return deleted
