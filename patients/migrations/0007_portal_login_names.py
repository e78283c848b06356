"""The admin calls a patient's portal access a "portal login" (issue 15, item 4: the index said "Portal accesss")."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("patients", "0006_clearance_authority")]

    operations = [
        migrations.AlterModelOptions(
            name="portalaccess",
            options={"verbose_name": "portal login", "verbose_name_plural": "portal logins"},
        ),
    ]
