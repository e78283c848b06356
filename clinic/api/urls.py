from django.urls import path

from clinic.api import catalog, templates

urlpatterns = [
    path("catalog/stretches/", catalog.StretchListView.as_view(), name="catalog-stretch-list"),
    path("catalog/stretches/<int:stretch_id>/", catalog.StretchDetailView.as_view(), name="catalog-stretch-detail"),
    path("catalog/diagnoses/", catalog.DiagnosisListView.as_view(), name="catalog-diagnosis-list"),
    path("catalog/movement-tags/", catalog.MovementTagListView.as_view(), name="catalog-movement-tag-list"),
    path("catalog/mobility-levels/", catalog.MobilityLevelListView.as_view(), name="catalog-mobility-level-list"),
    path(
        "catalog/contraindications/",
        catalog.ContraindicationListView.as_view(),
        name="catalog-contraindication-list",
    ),
    path(
        "catalog/contraindications/<int:contraindication_id>/",
        catalog.ContraindicationDetailView.as_view(),
        name="catalog-contraindication-detail",
    ),
    path("catalog/templates/", templates.TemplateListView.as_view(), name="catalog-template-list"),
    path(
        "catalog/templates/<int:template_id>/", templates.TemplateDetailView.as_view(), name="catalog-template-detail"
    ),
]
