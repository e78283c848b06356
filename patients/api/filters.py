import django_filters
from django.db.models import Q

from patients.models import Clearance, Episode, Patient, PatientDiagnosis, PortalAccess


class PatientFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="Name, MRN, email or phone contains.")
    archived = django_filters.BooleanFilter(field_name="archived_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Patient
        fields = ["primary_therapist", "preferred_channel"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(mrn__icontains=value)
            | Q(email__icontains=value)
            | Q(phone__icontains=value)
        )


class EpisodeFilter(django_filters.FilterSet):
    open = django_filters.BooleanFilter(
        field_name="discharged_on", lookup_expr="isnull", help_text="true: not discharged; false: discharged."
    )

    class Meta:
        model = Episode
        fields = ["open"]


class PatientDiagnosisFilter(django_filters.FilterSet):
    # By id, not a model choice: an unknown or foreign episode id must filter to nothing, not reveal itself.
    episode = django_filters.NumberFilter(field_name="episode_id")
    code = django_filters.CharFilter(field_name="diagnosis__code", lookup_expr="iexact", help_text="ICD-10-CM code.")

    class Meta:
        model = PatientDiagnosis
        fields = ["episode", "code", "phase"]


class ClearanceFilter(django_filters.FilterSet):
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Clearance
        fields = ["revoked", "status", "profession"]


class PortalAccessFilter(django_filters.FilterSet):
    class Meta:
        model = PortalAccess
        fields = ["relationship"]
