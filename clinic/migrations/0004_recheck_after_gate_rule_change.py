"""The gate's rules changed in this release (an unrecorded phase, qualifier or onset now assumes the risky case;
a stretch's position implies its tags): ask for a re-check of every active plan in every clinic, so plans that
the new rules hold are held by the first outbox drain after the deploy, not the next night's sweep.

Carries its own SQL (no live code): a global catalog re-check request, or a bump of the open one.
"""

from django.db import migrations

REQUEST_GLOBAL_RECHECK = """
INSERT INTO clinic_catalogrecheckrequest (clinic_id, version, done, requested_at, reason, claimed_until)
VALUES (NULL, 1, false, now(), 'gate rules changed: unrecorded facts assume the risky case', NULL)
ON CONFLICT ON CONSTRAINT catalog_recheck_one_per_scope DO UPDATE SET
    version = clinic_catalogrecheckrequest.version + 1, done = false, reason = EXCLUDED.reason
"""


class Migration(migrations.Migration):
    dependencies = [("clinic", "0003_recheck_outbox")]

    operations = [migrations.RunSQL(REQUEST_GLOBAL_RECHECK, migrations.RunSQL.noop)]
