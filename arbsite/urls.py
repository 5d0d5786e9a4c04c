from django.contrib import admin
from django.urls import include, path

from trading.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("reports/", include("trading.reports.urls")),
    path("healthz", healthz, name="healthz"),
]
