"""Patient-side field changes of the reviewed catalog (issue 12, part 1): a diagnosis may record the procedure
behind "after spinal surgery" (Z98.890) as its qualifier — lumbar fusion, lumbar discectomy or cervical fusion."""

from django.db import migrations, models

QUALIFIER_CHOICES = [
    ("posterior_approach", "Posterior approach"),
    ("anterior_approach", "Anterior approach"),
    ("lateral_approach", "Lateral approach"),
    ("lumbar_fusion", "Lumbar fusion"),
    ("lumbar_discectomy", "Lumbar discectomy"),
    ("cervical_fusion", "Cervical fusion"),
]


class Migration(migrations.Migration):
    dependencies = [("patients", "0004_recheck_row_per_patient"), ("clinic", "0005_catalog_review")]

    operations = [
        migrations.AlterField(
            model_name="patientdiagnosis",
            name="qualifier",
            field=models.CharField(blank=True, choices=QUALIFIER_CHOICES, max_length=30),
        ),
        migrations.AlterField(
            model_name="patientdiagnosisevent",
            name="qualifier",
            field=models.CharField(blank=True, choices=QUALIFIER_CHOICES, max_length=30),
        ),
    ]
