"""URLs of the benchmark server: the app's own, plus the plain-Django baseline and the same-work limit
(``config.settings.bench``)."""

from django.urls import path

from bench import baseline, limit
from config.urls import handler404
from config.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    path("bench/baseline/plans", baseline.plans, name="bench-baseline-plans"),
    path("bench/limit/plans", limit.plans, name="bench-limit-plans"),
    *app_urlpatterns,
]

__all__ = ["handler404", "urlpatterns"]
