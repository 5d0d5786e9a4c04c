from django.urls import path

from trading.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("csv/<slug:key>/", views.export_csv, name="csv"),
    path("<slug:key>/", views.table, name="table"),
]
