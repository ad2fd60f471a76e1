"""Test-suite configuration shared by every test directory.

Hypothesis runs **derandomized** by default: the same examples on every run, so
CI passes or fails on the code, never on the draw (a flaky CI blocks landing and
teaches people to re-run).  To search fresh examples, as one should before a
release or after changing the pump, run with ``HYPOTHESIS_PROFILE=explore``; a
failure found there becomes a fixed regression test or an ``@example``.
"""

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
