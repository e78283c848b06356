"""API token authentication: knox's hashed, expiring tokens, checked in one query.

knox's own ``TokenAuthentication`` loads the token with its user, then every other token of that user to
delete the expired ones — a second query and possibly a write on every read. Here the token, its user and
the user's staff membership (which every permission check asks for next) come in one query; only the
presented token's expiry is checked, and expired tokens are purged by the ``clinic.purge_expired_tokens``
beat task (``clinic.services.auth_tokens_purge_expired``). Same wire format, same errors.
"""

from __future__ import annotations

import binascii
from hmac import compare_digest

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions


def token_candidates(token_key: str):
    """The tokens with this key, each with its user and the user's staff membership (one query)."""
    return get_token_model().objects.filter(token_key=token_key).select_related("user", "user__membership")


class TokenAuthentication(knox_auth.TokenAuthentication):
    """``candidates``: how to read the tokens of a key with their users (a view may read more in the same statement,
    e.g. the portal's grants: ``patients.api.authentication``); by default ``token_candidates``."""

    def __init__(self, candidates=None):
        self.candidates = candidates or token_candidates

    def authenticate_credentials(self, token: bytes):
        invalid = exceptions.AuthenticationFailed(_("Invalid token."))
        try:
            text = token.decode("utf-8")
            digest = hash_token(text)
        except (UnicodeDecodeError, TypeError, ValueError, binascii.Error):
            raise invalid from None
        now = timezone.now()
        for auth_token in self.candidates(text[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry <= now:
                raise invalid
            if knox_settings.AUTO_REFRESH and auth_token.expiry:
                self.renew_token(auth_token)
            return self.validate_user(auth_token)
        raise invalid
