from django.contrib import admin
from django.urls import include, path

from trading.health import healthz

admin.site.site_header = "arbsite"
admin.site.site_title = "arbsite admin"
admin.site.index_title = "Trading control"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("reports/", include("trading.reports.urls")),
    path("healthz", healthz, name="healthz"),
]
