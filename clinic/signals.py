"""Catalog changes announced after commit; ``prescriptions`` listens (DESIGN §1: ``clinic`` never imports it).

Sent with ``sender=CatalogRecheckRequest`` and ``clinic_id`` (None for a global row).
"""

from django.dispatch import Signal

#: A catalog row the gate reads changed; its re-check request is already in the outbox. kwargs: clinic_id
catalog_changed = Signal()
