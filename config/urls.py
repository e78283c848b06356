from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clinic.api.auth import (
    LoginView,
    LogoutAllView,
    LogoutView,
    PasswordChangeView,
    PasswordResetConfirmView,
    PasswordResetView,
    SessionLoginView,
    SessionLogoutView,
)

api_v1 = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all", LogoutAllView.as_view(), name="auth-logout-all"),
    path("auth/session/login", SessionLoginView.as_view(), name="auth-session-login"),
    path("auth/session/logout", SessionLogoutView.as_view(), name="auth-session-logout"),
    path("auth/password/change", PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset", PasswordResetView.as_view(), name="auth-password-reset"),
    path("auth/password/reset/confirm", PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"),
    path("", include("clinic.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("prescriptions.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("portal/", include("prescriptions.web.urls")),  # the patient portal: a client of the API (issue 16)
    path("portal/", include("prescriptions.web.print_urls")),  # its printable program
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]
handler400 = "clinic.api.problems.bad_request"
handler404 = "clinic.api.problems.not_found"
handler500 = "clinic.api.problems.server_error"
