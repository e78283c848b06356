from django.contrib import admin
from django.urls import path

admin.site.site_header = "Limber — front desk"
admin.site.site_title = "Limber"

urlpatterns = [
    path("admin/", admin.site.urls),
]
