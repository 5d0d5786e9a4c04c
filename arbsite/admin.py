"""Project-wide admin registrations (autodiscovered after the apps they replace)."""

from django.contrib import admin

from arbsite import periodic_admin

# The periodic schedule: superusers change it, with a reason (arbsite/periodic_admin.py).
periodic_admin.register(admin.site)
