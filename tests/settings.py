"""Test settings: the project's, with a Redis key prefix of this test run's own."""

import os
import uuid

# Never the deployment's prefix: tests only ever touch keys under their own.
os.environ["QL_REDIS_PREFIX"] = os.environ.get("QL_TEST_REDIS_PREFIX") or f"qltest-{uuid.uuid4().hex[:10]}"

from quantumlive.settings import *  # noqa: E402,F401,F403
