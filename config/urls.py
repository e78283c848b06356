from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clinic.api.auth import LoginView, LogoutAllView, LogoutView

api_v1 = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all", LogoutAllView.as_view(), name="auth-logout-all"),
    path("", include("clinic.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("prescriptions.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]
handler400 = "clinic.api.problems.bad_request"
handler404 = "clinic.api.problems.not_found"
handler500 = "clinic.api.problems.server_error"
