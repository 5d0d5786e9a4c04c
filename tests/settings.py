"""Settings for the test run: production's, with a fast password hasher.

Django's default PBKDF2 hasher is slow on purpose; every test that creates
or logs in a user pays for it. MD5 is fine for throw-away test users and
nothing else (never use it outside tests). Processes a test starts (workers,
commands) use ``arbsite.settings`` itself.
"""

from arbsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
