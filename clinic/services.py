"""Writes for clinics and staff accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.models import Clinic, Profession, StaffMembership


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
