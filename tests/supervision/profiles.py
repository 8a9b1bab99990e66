"""Hypothesis profiles for the supervision properties, applied per test so other areas keep theirs.

SUPERVISION_PROFILE=thorough runs many more examples (minutes) when changing the core; the default keeps the
whole area fast enough for `make test`.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "supervision-fast", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "supervision-thorough", max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = settings.get_profile(f"supervision-{os.environ.get('SUPERVISION_PROFILE', 'fast')}")
