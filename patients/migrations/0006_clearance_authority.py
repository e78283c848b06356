"""Clearances may be recorded from a nurse-midwife (issue 12, part 2): the profession's choices, on the clearance and
its history."""

from django.db import migrations, models

PROFESSION_CHOICES = [
    ("physician", "Physician"),
    ("physical_therapist", "Physical therapist"),
    ("athletic_trainer", "Athletic trainer"),
    ("nurse_midwife", "Nurse-midwife"),
]


class Migration(migrations.Migration):
    dependencies = [("patients", "0005_catalog_review"), ("clinic", "0006_clearance_authority")]

    operations = [
        migrations.AlterField(
            model_name="clearance",
            name="profession",
            field=models.CharField(choices=PROFESSION_CHOICES, max_length=30),
        ),
        migrations.AlterField(
            model_name="clearanceevent",
            name="profession",
            field=models.CharField(choices=PROFESSION_CHOICES, max_length=30),
        ),
    ]
