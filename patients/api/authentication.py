"""The portal's tokens: the token, its user, the user's staff membership and their live portal grants with the
patients, in one statement (issue 20).

The portal endpoints answer every patient's app on every screen. ``clinic.api.authentication.TokenAuthentication``
reads the token, its user and the membership in one query, and ``IsPortalUser`` then read the grants in a second.
For the portal's views (``PortalScoped``) the authentication reads its candidates with ``portal_token_candidates``:
one raw statement, compiled once, whose rows become the model instances the ORM would have built (the token, the
user, the membership, each grant with its patient), the grants kept on the token as ``portal_grants`` for
``IsPortalUser``. Same wire format, errors and expiry rule: the checks stay the base class's.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from knox.models import get_token_model

from clinic.models import StaffMembership
from patients.models import Patient, PortalAccess

GRANTS = "portal_grants"
"""The attribute of a portal token that holds its user's live grants (``IsPortalUser`` reads it)."""

TOKEN, USER = get_token_model(), get_user_model()
PARTS = ((TOKEN, "t"), (USER, "u"), (StaffMembership, "m"), (PortalAccess, "g"), (Patient, "p"))
COLUMNS = [[field.attname for field in model._meta.concrete_fields] for model, _ in PARTS]
SELECTED = ", ".join(f'{alias}."{name}"' for (_, alias), names in zip(PARTS, COLUMNS, strict=True) for name in names)

# One row per live grant of each token's user (one row with NULL grant columns when there is none, and for staff,
# who get no grant), each token's rows together, its grants in ``patients.selectors.portal_grants``' order.
TOKEN_SQL = f"""
SELECT {SELECTED}
FROM {TOKEN._meta.db_table} t
JOIN {USER._meta.db_table} u ON u.id = t.user_id
LEFT JOIN {StaffMembership._meta.db_table} m ON m.user_id = u.id
LEFT JOIN {PortalAccess._meta.db_table} g ON g.user_id = u.id AND g.revoked_at IS NULL AND m.id IS NULL
LEFT JOIN {Patient._meta.db_table} p ON p.id = g.patient_id
WHERE t.token_key = %s
ORDER BY t.digest, p.last_name, p.first_name, p.id
"""


def _instances(row: tuple) -> list:
    """The row's model instances, in ``PARTS`` order (None for an absent membership or grant)."""
    found, start = [], 0
    for (model, _), names in zip(PARTS, COLUMNS, strict=True):
        values = row[start : start + len(names)]
        start += len(names)
        found.append(None if values[0] is None else model.from_db(connection.alias, names, values))
    return found


def portal_token_candidates(token_key: str) -> list:
    """The tokens with this key, each with its user, the user's membership and ``portal_grants`` (one statement)."""
    with connection.prepared_cursor() as cursor:  # prepared by psycopg: config.postgresql
        cursor.execute(TOKEN_SQL, [token_key])
        rows = cursor.fetchall()
    tokens: dict[str, object] = {}
    for row in rows:
        token, user, membership, grant, patient = _instances(row)
        if token.digest not in tokens:
            token.user = user
            if membership is None:  # cached as absent, as select_related leaves it: no query to find none
                USER._meta.get_field("membership").set_cached_value(user, None)
            else:
                user.membership = membership
            setattr(token, GRANTS, [])
            tokens[token.digest] = token
        if grant is not None:
            grant.patient = patient
            getattr(tokens[token.digest], GRANTS).append(grant)
    return list(tokens.values())
