"""Failures the fault tests found in generation/calls.py, each its own exception.

A test marked `xfail(raises=...)` with one of these still fails on anything else it checks.
"""


class ProviderIdLost(AssertionError):
    """fal accepted (and bills) a job whose request id never reached its call."""


class RunNeverFinished(AssertionError):
    """Every call of the run is terminal, yet the run is not finished."""


RUN_STATUS_RACE = (
    "generation/calls.py refresh_run(): calls that finish at the same moment each recompute "
    "the run inside their own transaction from a snapshot that misses the others, so the run "
    "stays 'running' with every call terminal (issue 7, 'Runs that never finish'); nothing "
    "reconciles it later. A race: seen in most runs where the last calls finish together."
)
