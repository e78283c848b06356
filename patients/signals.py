"""Patient facts announced after commit (DESIGN §1). ``prescriptions`` listens; we never import it.

Every signal is sent with ``sender=Patient`` and ``patient_id``; receivers take ids, not rows. One is not an
announcement but a question asked inside the transaction: ``patient_archiving``.
"""

from django.dispatch import Signal

#: A clearance was recorded or revoked. kwargs: patient_id, clearance_id
clearance_changed = Signal()
#: A diagnosis was added or changed (phase, onset, resolution). kwargs: patient_id, patient_diagnosis_id
diagnosis_changed = Signal()
#: A mobility assessment was recorded. kwargs: patient_id, assessment_id
mobility_changed = Signal()
#: The patient's time zone changed, so local session times map to new instants. kwargs: patient_id
patient_zone_changed = Signal()
#: Contact details, consent or reminder preferences changed. kwargs: patient_id
patient_preferences_changed = Signal()
#: The patient was archived. kwargs: patient_id
patient_archived = Signal()
#: The patient is about to be archived: sent inside the archiving transaction, with the patient's row locked, by
#: ``send()`` (never robust, never after commit), so a receiver refuses by raising ``clinic.errors.StateConflict``
#: (a 409) and nothing is written. ``prescriptions`` refuses while the patient has a live plan. kwargs: patient_id
patient_archiving = Signal()
