"""Staff endpoints for the clinical catalog: every role reads global rows plus its clinic's own; clinic
admins add rows of their clinic's own. Global rows are never writable through the API; another clinic's
own rows are invisible (404)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef
from django.db.models.functions import JSONObject
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from clinic import services
from clinic.api.inputs import MAX_ID, validated
from clinic.api.views import ClinicAPIView, ClinicListView
from clinic.models import (
    ClearanceAuthorityRule,
    Contraindication,
    Diagnosis,
    MobilityLevel,
    MovementTag,
    Phase,
    Profession,
    Qualifier,
    Side,
    Stretch,
)
from clinic.policy import Action

# --- Reads shared with the prescription endpoints ------------------------------------------------------


def visible_stretches(clinic_id: int | None):
    """Global stretches plus the clinic's own, ready to serialize without further queries."""
    return Stretch.objects.visible_to(clinic_id).select_related("min_mobility").prefetch_related("tags")


def visible_contraindications(clinic_id: int | None):
    return Contraindication.objects.visible_to(clinic_id).select_related("diagnosis", "tag", "stretch")


@extend_schema_field(
    {
        "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "minLength": 1}],
        "description": "A stretch of the caller's catalog (global or the clinic's own), by id or by slug.",
    }
)
class CatalogStretchField(serializers.Field):
    """A stretch the caller's clinic can see, named by id or slug (anything else: "not in the catalog")."""

    default_error_messages = {
        "invalid": "Give a stretch id or slug.",
        "missing": "No stretch {value!r} in this clinic's catalog.",
    }

    def to_internal_value(self, data: Any) -> Stretch:
        membership = getattr(self.context.get("request"), "membership", None)
        rows = Stretch.objects.visible_to(membership.clinic_id if membership else None)
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, str) and (not data.strip() or "\x00" in data):  # PostgreSQL text refuses NUL
            self.fail("invalid")
        if isinstance(data, int) or (data.isascii() and data.isdigit()):
            number = int(data)
            stretch = rows.filter(pk=number).first() if 1 <= number <= MAX_ID else None
        else:
            # Clinic slugs may not repeat a global one (clinic.services.stretch_create); should an older row
            # do so anyway, the global stretch wins.
            stretch = rows.filter(slug=data.strip()).order_by("clinic_id").first()
        if stretch is None:
            self.fail("missing", value=data)
        return stretch

    def to_representation(self, value: Stretch) -> int:
        return value.pk


def hold_seconds_field(**kwargs: Any) -> serializers.IntegerField:
    """A hold in seconds (1–300, the items' constraint); omitted or null: decided by the item's serializer."""
    return serializers.IntegerField(min_value=1, max_value=300, required=False, allow_null=True, **kwargs)


PROGRESSION_HELP = (
    "Dose progression: every `every_weeks` weeks, counted from the start date of the plan's first version, add"
    " `hold_seconds`, `reps` and `sets` (at least one above 0; a hold only to an item with one), up to the maxima"
    " (null: the stretch's `dose_bounds`). Each step makes a new version of the plan, gate-checked, and goes live"
    " only when the patient is ready; else it waits for the therapist. Null: the dose stays."
)

DOSE_FIELDS = ("hold_seconds", "reps", "sets")


class ProgressionRuleIn(serializers.Serializer):
    """A dose progression rule of a plan's or a template's item (``clinic.services.ProgressionIn``)."""

    every_weeks = serializers.IntegerField(min_value=1, max_value=52, help_text="Weeks between steps, 1–52.")
    hold_seconds = serializers.IntegerField(
        min_value=0, max_value=300, default=0, help_text="Seconds of hold added per step."
    )
    reps = serializers.IntegerField(min_value=0, max_value=100, default=0, help_text="Repetitions added per step.")
    sets = serializers.IntegerField(min_value=0, max_value=20, default=0, help_text="Sets added per step.")
    max_hold_seconds = serializers.IntegerField(
        min_value=1, max_value=300, required=False, allow_null=True, help_text="Longest hold; null: the stretch's."
    )
    max_reps = serializers.IntegerField(
        min_value=1, max_value=100, required=False, allow_null=True, help_text="Most repetitions; null: the stretch's."
    )
    max_sets = serializers.IntegerField(
        min_value=1, max_value=20, required=False, allow_null=True, help_text="Most sets; null: the stretch's."
    )

    def validate(self, attrs: dict[str, Any]) -> services.ProgressionIn:
        if not any(attrs.get(name) for name in DOSE_FIELDS):
            raise serializers.ValidationError("Add to the hold, the repetitions or the sets: at least one above 0.")
        return services.ProgressionIn(**attrs)


class ProgressionOut(serializers.Serializer):
    """An item's progression rule as given (a null maximum: the stretch's bound), or null without one."""

    every_weeks = serializers.IntegerField()
    hold_seconds = serializers.IntegerField()
    reps = serializers.IntegerField()
    sets = serializers.IntegerField()
    max_hold_seconds = serializers.IntegerField(allow_null=True)
    max_reps = serializers.IntegerField(allow_null=True)
    max_sets = serializers.IntegerField(allow_null=True)

    def to_representation(self, item: Any) -> dict[str, Any] | None:
        rule = services.ProgressionIn.of(item)  # item: a plan's or a template's (``DosedItem``)
        return None if rule is None else super().to_representation(rule)


def progression_out() -> ProgressionOut:
    """The ``progression`` of an item's output: read from the item's ``progress_*`` fields."""
    return ProgressionOut(source="*", read_only=True, allow_null=True, help_text=PROGRESSION_HELP)


PROGRESSION_TEXT_HELP = 'The rule in words, e.g. "every 2 weeks: +5 s hold, +1 rep (up to 45 s)"; "" without one.'


class StretchRefOut(serializers.Serializer):
    """The stretch an item names."""

    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class DosedItemOut(serializers.ModelSerializer):
    """A plan's or a template's item as read (``clinic.models.DosedItem``); a subclass names its model in ``Meta``."""

    FIELDS = [
        "id",
        "order",
        "stretch",
        "hold_seconds",
        "reps",
        "sets",
        "side",
        "notes",
        "progression",
        "progression_text",
    ]

    stretch = StretchRefOut(read_only=True)
    progression = progression_out()
    progression_text = serializers.CharField(read_only=True, help_text=PROGRESSION_TEXT_HELP)


class DosedItemIn(serializers.Serializer):
    """A stretch of the caller's catalog and its dose, within the bounds a plan's and a template's items share; an
    omitted reps or sets takes the stretch's default (a subclass decides an omitted hold). The stretch's own bounds
    (``dose_bounds``) are the services' to check: they answer 400 naming ``items[i].reps``,
    ``items[i].progression.max_reps`` and so on."""

    stretch = CatalogStretchField()
    hold_seconds = hold_seconds_field()
    reps = serializers.IntegerField(min_value=1, max_value=100, required=False)
    sets = serializers.IntegerField(min_value=1, max_value=20, required=False)
    side = serializers.ChoiceField(choices=Side.choices, required=False)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    progression = ProgressionRuleIn(required=False, allow_null=True, help_text=PROGRESSION_HELP)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        stretch = attrs["stretch"]
        attrs.setdefault("reps", stretch.default_reps)
        attrs.setdefault("sets", stretch.default_sets)
        rule = attrs.get("progression")
        if rule is not None:
            below = {
                f"max_{name}": [f"The most to progress to cannot be below the dose it starts from ({attrs[name]})."]
                for name in DOSE_FIELDS
                if attrs.get(name) is not None
                and getattr(rule, f"max_{name}") is not None
                and getattr(rule, f"max_{name}") < attrs[name]
            }
            if below:
                raise serializers.ValidationError({"progression": below})
        return attrs


# --- Serializers ---------------------------------------------------------------------------------------


class MovementTagOut(serializers.ModelSerializer):
    class Meta:
        model = MovementTag
        fields = ["id", "slug", "name", "description"]
        read_only_fields = fields


class MobilityLevelOut(serializers.ModelSerializer):
    class Meta:
        model = MobilityLevel
        fields = ["id", "level", "name", "description"]
        read_only_fields = fields


class ClearanceRuleOut(serializers.Serializer):
    professions = serializers.ListField(
        child=serializers.ChoiceField(choices=Profession.choices),
        help_text="While the rule applies, only these of the diagnosis's clearing professions may clear it.",
    )
    from_day = serializers.IntegerField(
        allow_null=True, help_text="Days since the diagnosis's onset, inclusive; an unrecorded onset is inside."
    )
    until_day = serializers.IntegerField(allow_null=True, help_text="Days since onset, inclusive.")
    with_diagnosis = serializers.CharField(
        allow_null=True, help_text="Applies only while the patient has this diagnosis on record, active or not."
    )
    rationale = serializers.CharField()
    source = serializers.CharField()


class DiagnosisOut(serializers.ModelSerializer):
    clearance_rules = ClearanceRuleOut(
        many=True,
        read_only=True,
        source="clearance_rules_json",
        help_text="Rules that narrow clearance_by by days since onset or another diagnosis; the strictest wins.",
    )

    class Meta:
        model = Diagnosis
        fields = [
            "id", "code", "name", "body_region", "clearance_by", "clearance_by_source", "clearance_rules", "source",
            "review_note",
        ]  # fmt: skip
        read_only_fields = fields


def diagnoses_with_rules():
    """Diagnoses with their authority rules as one array column: the list stays at one query per page."""
    rules = (
        ClearanceAuthorityRule.objects.filter(diagnosis=OuterRef("pk"))
        .order_by("id")
        .values(
            json=JSONObject(
                professions="professions",
                from_day="from_day",
                until_day="until_day",
                with_diagnosis="with_diagnosis__code",
                rationale="rationale",
                source="source",
            )
        )
    )
    return Diagnosis.objects.annotate(clearance_rules_json=ArraySubquery(rules))


class DoseBoundsOut(serializers.Serializer):
    hold_seconds = serializers.IntegerField(help_text="Longest hold, seconds.")
    reps = serializers.IntegerField(help_text="Most repetitions.")
    sets = serializers.IntegerField(help_text="Most sets.")


class StretchOut(serializers.ModelSerializer):
    dose_bounds = DoseBoundsOut(
        read_only=True,
        help_text="The most a plan, a template or a progression may give of this stretch: its own bounds, else its"
        " kind's defaults.",
    )
    tags = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True, help_text="Movement tags.")
    min_mobility = serializers.IntegerField(source="min_mobility.level", read_only=True, help_text="Level 1–5.")
    is_global = serializers.BooleanField(read_only=True, help_text="Seeded for every clinic (read-only).")

    class Meta:
        model = Stretch
        fields = [
            "id", "slug", "name", "steps", "body_region", "position", "kind", "tags", "min_mobility",
            "default_hold_seconds", "default_reps", "default_sets", "dose_bounds", "clinic", "is_global", "source",
            "review_note", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class StretchIn(serializers.Serializer):
    slug = serializers.SlugField(max_length=60)
    name = serializers.CharField(max_length=120)
    steps = serializers.ListField(
        child=serializers.CharField(max_length=2000), min_length=1, max_length=30, help_text="One step per entry."
    )
    body_region = serializers.ChoiceField(choices=Stretch.Region.choices)
    position = serializers.ChoiceField(choices=Stretch.Position.choices)
    kind = serializers.ChoiceField(choices=Stretch.Kind.choices)
    tags = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=MovementTag.objects.all(), required=False, help_text="Tag slugs."
    )
    min_mobility = serializers.SlugRelatedField(
        slug_field="level", queryset=MobilityLevel.objects.all(), help_text="Minimum mobility level, 1–5."
    )
    default_hold_seconds = serializers.IntegerField(
        min_value=1, max_value=300, required=False, allow_null=True, help_text="Required for a static stretch."
    )
    default_reps = serializers.IntegerField(min_value=1, max_value=100)
    default_sets = serializers.IntegerField(min_value=1, max_value=20, required=False)
    source = serializers.CharField(max_length=300, required=False, allow_blank=True)


class ContraindicationOut(serializers.ModelSerializer):
    diagnosis = serializers.CharField(source="diagnosis.code", read_only=True, help_text="ICD-10-CM code.")
    tag = serializers.CharField(source="tag.slug", read_only=True, allow_null=True, default=None)
    stretch = serializers.CharField(source="stretch.slug", read_only=True, allow_null=True, default=None)
    stretch_id = serializers.IntegerField(read_only=True, allow_null=True)
    phase = serializers.ChoiceField(choices=Phase.choices, allow_blank=True, read_only=True, help_text="Empty: any.")
    qualifier = serializers.ChoiceField(
        choices=Qualifier.choices, allow_blank=True, read_only=True, help_text="Empty: any."
    )
    is_global = serializers.SerializerMethodField()

    class Meta:
        model = Contraindication
        fields = [
            "id", "diagnosis", "tag", "stretch", "stretch_id", "phase", "qualifier", "from_day", "until_day",
            "precaution_window", "severity", "rationale", "clinic", "is_global", "source", "review_note",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_is_global(self, row: Contraindication) -> bool:
        return row.clinic_id is None


class ContraindicationIn(serializers.Serializer):
    diagnosis = serializers.SlugRelatedField(
        slug_field="code", queryset=Diagnosis.objects.all(), help_text="ICD-10-CM code, e.g. M51.26."
    )
    tag = serializers.SlugRelatedField(
        slug_field="slug", queryset=MovementTag.objects.all(), required=False, allow_null=True,
        help_text="A movement tag slug; give either a tag or a stretch.",
    )  # fmt: skip
    stretch = CatalogStretchField(required=False, allow_null=True)
    phase = serializers.ChoiceField(choices=Phase.choices, required=False, allow_blank=True)
    qualifier = serializers.ChoiceField(choices=Qualifier.choices, required=False, allow_blank=True)
    from_day = serializers.IntegerField(min_value=0, max_value=36500, required=False, allow_null=True)
    until_day = serializers.IntegerField(min_value=0, max_value=36500, required=False, allow_null=True)
    severity = serializers.ChoiceField(choices=Contraindication.Severity.choices)
    rationale = serializers.CharField(max_length=2000)
    source = serializers.CharField(max_length=300, required=False, allow_blank=True)


# --- Filters -------------------------------------------------------------------------------------------


class StretchFilter(django_filters.FilterSet):
    tag = django_filters.CharFilter(field_name="tags__slug", help_text="Movement tag slug, e.g. lumbar_flexion.")

    class Meta:
        model = Stretch
        fields = ["body_region", "kind", "position", "tag"]


class ContraindicationFilter(django_filters.FilterSet):
    diagnosis = django_filters.CharFilter(field_name="diagnosis__code", help_text="ICD-10-CM code, e.g. M51.26.")
    tag = django_filters.CharFilter(field_name="tag__slug", help_text="Movement tag slug.")

    class Meta:
        model = Contraindication
        fields = ["diagnosis", "tag", "severity"]


# --- Views ---------------------------------------------------------------------------------------------


class StretchListView(ClinicListView):
    shows_patients = None  # the catalog: no patient data
    serializer_class = StretchOut
    filterset_class = StretchFilter
    write_action = Action.EDIT_CATALOG

    def get_queryset(self):
        return visible_stretches(self.clinic_id).order_by("name", "id")

    @extend_schema(summary="Stretches: the global catalog plus the clinic's own")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=StretchIn, responses={201: StretchOut}, summary="Add a stretch of the clinic's own")
    def post(self, request):
        data = validated(StretchIn(data=request.data, context={"request": request}))
        stretch = services.stretch_create(clinic=self.membership.clinic, by=request.user, **data)
        return Response(StretchOut(visible_stretches(self.clinic_id).get(pk=stretch.pk)).data, status.HTTP_201_CREATED)


class StretchDetailView(ClinicAPIView):
    shows_patients = None  # the catalog: no patient data

    @extend_schema(responses={200: StretchOut}, summary="A stretch, with steps, tags and default dosage")
    def get(self, request, stretch_id: int):
        return Response(StretchOut(get_object_or_404(visible_stretches(self.clinic_id), pk=stretch_id)).data)


class DiagnosisListView(ClinicListView):
    shows_patients = None  # the catalog: no patient data
    serializer_class = DiagnosisOut
    filterset_fields = ["code", "body_region"]
    queryset = diagnoses_with_rules().order_by("code")

    @extend_schema(
        summary="Diagnoses (ICD-10-CM) and who may clear a patient with each",
        description="A clearance covers a diagnosis on a date when its profession is in `clearance_by` and in the "
        "`professions` of every rule that applies on that date (physician, physical_therapist, nurse_midwife, "
        "athletic_trainer).",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MovementTagListView(ClinicListView):
    shows_patients = None  # the catalog: no patient data
    serializer_class = MovementTagOut
    queryset = MovementTag.objects.order_by("slug")

    @extend_schema(summary="The controlled vocabulary of movements")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MobilityLevelListView(ClinicListView):
    shows_patients = None  # the catalog: no patient data
    serializer_class = MobilityLevelOut
    queryset = MobilityLevel.objects.order_by("level")

    @extend_schema(summary="Mobility levels, 1 (very limited) to 5 (fully active)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ContraindicationListView(ClinicListView):
    shows_patients = None  # the catalog: no patient data
    serializer_class = ContraindicationOut
    filterset_class = ContraindicationFilter
    write_action = Action.EDIT_CATALOG

    def get_queryset(self):
        return visible_contraindications(self.clinic_id).order_by("diagnosis__code", "id")

    @extend_schema(summary="Contraindications: the global rows plus the clinic's own")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ContraindicationIn,
        responses={201: ContraindicationOut},
        summary="Add a contraindication of the clinic's own",
    )
    def post(self, request):
        data = validated(ContraindicationIn(data=request.data, context={"request": request}))
        row = services.contraindication_create(clinic=self.membership.clinic, by=request.user, **data)
        return Response(
            ContraindicationOut(visible_contraindications(self.clinic_id).get(pk=row.pk)).data, status.HTTP_201_CREATED
        )


class ContraindicationDetailView(ClinicAPIView):
    shows_patients = None  # the catalog: no patient data

    @extend_schema(responses={200: ContraindicationOut}, summary="A contraindication row")
    def get(self, request, contraindication_id: int):
        row = get_object_or_404(visible_contraindications(self.clinic_id), pk=contraindication_id)
        return Response(ContraindicationOut(row).data)
