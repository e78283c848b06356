"""A password reset link's page sends no Referer anywhere (issue 16, review): the token is in its path."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_the_reset_page_sends_no_referrer_and_other_pages_keep_same_origin(client):
    reset = client.get("/portal/reset/MQ/abc-123def")
    assert reset.status_code == 200
    assert reset["Referrer-Policy"] == "no-referrer"
    assert '<meta name="referrer" content="no-referrer">' in reset.content.decode()

    today = client.get("/portal/")
    assert today["Referrer-Policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in today.content.decode()
