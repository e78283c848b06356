"""Role groups and their permissions (DESIGN §1, §7); the table lives in clinic/roles.py.

Lives in the last app of the dependency chain so every model's permissions can be created.
"""

from django.db import migrations

from clinic.roles import sync_role_groups


def sync(apps, schema_editor):
    sync_role_groups(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("clinic", "0002_seed_catalog"),
        ("patients", "0001_initial"),
        ("prescriptions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(sync, reverse_code=migrations.RunPython.noop),
    ]
