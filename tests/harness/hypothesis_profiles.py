"""Hypothesis profiles: `ci` (the default) and `long` (randomized, ten times the examples).

    ./run test                                   # profile ci: fast, derandomized
    ./run test --hypothesis-profile=long -k "fuzz or bundle or validators or consent"

`ci` derives every example from the test itself (derandomize), so a CI run is reproducible and
its time stable; it explores the same examples each time. `long` draws fresh examples on every
run and keeps failing ones in `.hypothesis/` so they are replayed first next time: run it before
a release or overnight. Tests size their example counts with `examples(n)` so the profile scales
them; an explicit `max_examples` in a test would pin it.
"""

from __future__ import annotations

import os

from hypothesis import settings

CI_EXAMPLES = 100  # Hypothesis's own default: `examples(n)` gives n under the ci profile

settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, max_examples=CI_EXAMPLES
)
settings.register_profile("long", derandomize=False, deadline=None, max_examples=CI_EXAMPLES * 10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(n: int) -> int:
    """`n` examples under the ci profile, proportionally more under `long`."""
    return max(1, n * settings().max_examples // CI_EXAMPLES)
