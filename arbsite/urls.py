from django.contrib import admin
from django.urls import path

admin.site.site_header = "arbsite"
admin.site.site_title = "arbsite admin"
admin.site.index_title = "Trading control"

urlpatterns = [
    path("admin/", admin.site.urls),
]
