"""The project's settings with STATIC_ROOT in a folder of the test's own (QL_TEST_STATIC_ROOT),
so a production-mode collectstatic never writes into the work tree."""

import os

from quantumlive.settings import *  # noqa: F401,F403

STATIC_ROOT = os.environ["QL_TEST_STATIC_ROOT"]
