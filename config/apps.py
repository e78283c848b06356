"""The admin, with Limber's site (``config.admin.LimberAdminSite``) as its default site."""

from django.contrib.admin.apps import AdminConfig


class LimberAdminConfig(AdminConfig):
    default_site = "config.admin.LimberAdminSite"
