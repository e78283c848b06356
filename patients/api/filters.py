import django_filters
from django.db.models import Q

from patients.models import Patient


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
