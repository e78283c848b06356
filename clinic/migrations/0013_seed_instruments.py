"""The four outcome measures of issue 18, frozen here: item ids, answer ranges, the meaningful change in words, and the
wording of the two that are free to reproduce (NPRS, PSFS). The ODI and NDI wording is copyrighted and licensed to
organisations by its owners: it is never shipped; a clinic loads its licensed text (``InstrumentWording``)."""

from django.db import migrations

REVIEW = "Seed content: a licensed physical therapist must review this row before clinical use."


def _items(ids, low, high):
    return [{"id": item, "low": low, "high": high} for item in ids]


INSTRUMENTS = [
    {
        "code": "nprs",
        "name": "Numeric Pain Rating Scale",
        "abbreviation": "NPRS",
        "items": _items(["pain"], 0, 10),
        "licensed": False,
        "higher_is_worse": True,
        "meaningful_change": "2 points",
        "wording": {
            "instructions": "Rate your pain on a scale from 0 to 10.",
            "items": {
                "pain": {
                    "text": "On average over the last 24 hours, how bad has your pain been?",
                    "levels": {"0": "No pain", "10": "Worst pain imaginable"},
                }
            },
        },
        "source": "Childs JD, Piva SR, Fritz JM. Responsiveness of the numeric pain rating scale in patients with low"
        " back pain. Spine 2005;30(11):1331-4 (MCID 2 points)",
    },
    {
        "code": "psfs",
        "name": "Patient-Specific Functional Scale",
        "abbreviation": "PSFS",
        "items": _items([f"activity_{n}" for n in range(1, 6)], 0, 10),
        "licensed": False,
        "higher_is_worse": False,
        "meaningful_change": "2 points on the mean; 3 points on one activity",
        "wording": {
            "instructions": "At your first questionnaire, name 3 to 5 important activities that you are unable to do"
            " or have difficulty with because of your problem. Each time, rate how well you can do each one today.",
            "items": {
                f"activity_{n}": {
                    "text": "How well can you do this activity today?",
                    "levels": {"0": "Unable to do the activity", "10": "Able to do it as well as before the problem"},
                }
                for n in range(1, 6)
            },
        },
        "source": "Stratford P et al. Assessing disability and change on individual patients: a report of a patient"
        " specific measure. Physiother Can 1995;47:258-63; Abbott JH, Schmitt J. Minimum important differences"
        " for the Patient-Specific Functional Scale. JOSPT 2014;44(8):560-4",
    },
    {
        "code": "odi",
        "name": "Oswestry Disability Index",
        "abbreviation": "ODI",
        "items": _items(
            [
                "pain_intensity",
                "personal_care",
                "lifting",
                "walking",
                "sitting",
                "standing",
                "sleeping",
                "sex_life",
                "social_life",
                "travelling",
            ],
            0,
            5,
        ),  # fmt: skip
        "licensed": True,
        "higher_is_worse": True,
        "meaningful_change": "10 points, or 30 % of the baseline score, whichever is met first",
        "wording": {},
        "source": "Fairbank JCT, Pynsent PB. The Oswestry Disability Index. Spine 2000;25(22):2940-53; Ostelo RWJG"
        " et al. Interpreting change scores for pain and functional status in low back pain. Spine 2008;33(1):90-4."
        " Wording licensed through Mapi Research Trust: loaded by each clinic",
    },
    {
        "code": "ndi",
        "name": "Neck Disability Index",
        "abbreviation": "NDI",
        "items": _items(
            [
                "pain_intensity",
                "personal_care",
                "lifting",
                "reading",
                "headaches",
                "concentration",
                "work",
                "driving",
                "sleeping",
                "recreation",
            ],
            0,
            5,
        ),  # fmt: skip
        "licensed": True,
        "higher_is_worse": True,
        "meaningful_change": "5 points of 50 (10 percentage points)",
        "wording": {},
        "source": "Vernon H, Mior S. The Neck Disability Index: a study of reliability and validity. JMPT"
        " 1991;14(7):409-15; Vernon H. The Neck Disability Index: state-of-the-art, 1991-2008. JMPT"
        " 2008;31(7):491-502. Wording licensed by its author: loaded by each clinic",
    },
]


def seed(apps, schema_editor):
    Instrument = apps.get_model("clinic", "Instrument")
    for row in INSTRUMENTS:
        Instrument.objects.update_or_create(code=row["code"], defaults={**row, "review_note": REVIEW})


def unseed(apps, schema_editor):
    apps.get_model("clinic", "Instrument").objects.filter(code__in=[row["code"] for row in INSTRUMENTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("clinic", "0012_instruments")]

    operations = [migrations.RunPython(seed, unseed)]
