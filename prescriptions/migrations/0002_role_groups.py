"""Formerly: the role groups, synced here from live code. Now a no-op kept for the migration graph.

The groups are built from ``clinic/policy.py`` by an idempotent ``post_migrate`` handler
(``clinic.roles.sync_role_groups_after_migrate``), which runs after every ``migrate`` including a fresh one,
so the table can change without a migration. A frozen copy here would be overwritten by that handler at the
end of the same ``migrate`` and no later migration reads the groups, so it would only be dead weight.
Later migrations depend on this one, so it stays.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("clinic", "0002_seed_catalog"),
        ("patients", "0001_initial"),
        ("prescriptions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, reverse_code=migrations.RunPython.noop),
    ]
