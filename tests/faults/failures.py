"""The two ways a run can go wrong that the fault tests watch for, each its own exception
(both were found in generation/calls.py by these tests, and fixed)."""


class ProviderIdLost(AssertionError):
    """fal accepted (and bills) a job whose request id never reached its call."""


class RunNeverFinished(AssertionError):
    """Every call of the run is terminal, yet the run is not finished."""
