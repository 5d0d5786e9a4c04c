from django.contrib.admin.apps import AdminConfig


class ArbsiteAdminConfig(AdminConfig):
    default_site = "django.contrib.admin.sites.AdminSite"
