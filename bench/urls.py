"""URLs of the benchmark server: the app's own, plus the plain-Django baseline (``config.settings.bench``)."""

from django.urls import path

from bench.baseline import plans
from config.urls import handler404
from config.urls import urlpatterns as app_urlpatterns

urlpatterns = [path("bench/baseline/plans", plans, name="bench-baseline-plans"), *app_urlpatterns]

__all__ = ["handler404", "urlpatterns"]
