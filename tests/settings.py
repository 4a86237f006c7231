"""Test settings: the project's, with a Redis key prefix of this test run's own."""

import os
import uuid

# Never the deployment's prefix: tests only ever touch keys under their own.
os.environ["QL_REDIS_PREFIX"] = os.environ.get("QL_TEST_REDIS_PREFIX") or f"qltest-{uuid.uuid4().hex[:10]}"

from quantumlive.settings import *  # noqa: E402,F401,F403

# Throttles stay on (their code runs) but far above what any test sends; test_throttles.py
# sets real rates.
QL_THROTTLE_ANON = QL_THROTTLE_WRITES = QL_THROTTLE_SEARCH = QL_THROTTLE_ANALYSIS = "100000/min"  # noqa: F405
QL_THROTTLE_LOGIN_USER = QL_THROTTLE_LOGIN_ADDRESS = "100000/min"

# Hashing a test user's password with the production hasher (PBKDF2, a million rounds) costs
# about 0.4 s of CPU per test that makes a user; the tests' users live only in this process.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# WhiteNoise looks static files up when asked (as in development) instead of walking every
# finder's folders whenever a test client builds the middleware (about 0.1 s a client).
WHITENOISE_AUTOREFRESH = True
