"""Seed the global clinical catalog (DESIGN §2); content lives in clinic/catalog_seed.py."""

from django.db import migrations

from clinic.catalog_seed import seed_catalog


def seed(apps, schema_editor):
    seed_catalog(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, reverse_code=migrations.RunPython.noop),
    ]
