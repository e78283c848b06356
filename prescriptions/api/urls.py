from django.urls import include, path

urlpatterns = [
    path("", include("prescriptions.api.plan_urls")),
    path("", include("prescriptions.api.staff_session_urls")),
    path("portal/", include("prescriptions.api.portal_urls")),
]
