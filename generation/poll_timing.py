"""When to ask a provider where a call stands: as few status requests as possible, on time.

Each endpoint's typical duration is learned from the calls that finish. A call is first
polled when it is expected to be done; if it is not, it is polled again shortly after, and
well past its expected end the polls back off geometrically. A first poll that finds the
call done says the duration was at most that long, so the estimate shrinks a little; a call
found done on a later poll says the duration lay between its last two polls. The estimate
thus settles just above the true duration, with about one extra status request on calls
that finish a moment late.
"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from .models import ProviderCall
from .providers.catalog import model_for

log = logging.getLogger(__name__)

FIRST_POLL_MAX_SECONDS = 5.0  # an endpoint we know nothing about may turn out quick
MAX_POLL_INTERVAL = 60.0
# Small against a late find's growth (LEARNING_WEIGHT × one poll step), so the estimate settles
# where about six in seven first polls find the call done: few status requests, little lag.
SHRINK_WHEN_DONE_AT_FIRST_POLL = 0.995
LEARNING_WEIGHT = 0.3


def _key(call: ProviderCall) -> str:
    return f"call-duration:{call.provider}:{call.endpoint}"


def learned_seconds(call: ProviderCall) -> float | None:
    """The learned duration, or None (also when the cache is down: timing is not worth a
    lost call)."""
    try:
        value = cache.get(_key(call))
    except RedisError as exc:
        log.warning("Learned durations unavailable (%s); using the catalog's.", exc)
        return None
    return float(value) if value else None


def expected_seconds(call: ProviderCall) -> float:
    learned = learned_seconds(call)
    if learned:
        return learned
    if call.provider == "local":
        return max(settings.LOCAL_PROVIDER_DELAY, 0.2)
    return model_for(call.provider, call.task).expected_seconds


def first_poll_delay(call: ProviderCall) -> float:
    """At the learned end; for an endpoint not learned yet, a little before the catalog's
    typical time (and early for long ones, which may turn out quick)."""
    learned = learned_seconds(call)
    if learned:
        return max(0.1, learned)
    return max(0.2, min(0.8 * expected_seconds(call), FIRST_POLL_MAX_SECONDS))


def next_poll_delay(call: ProviderCall) -> float:
    """Just after the expected end, poll again soon (a call found running there is about to
    finish: each step of waiting delays its slot's next call); well past it, back off."""
    expected = expected_seconds(call)
    waited = (timezone.now() - (call.submitted_at or timezone.now())).total_seconds()
    if waited < 2 * expected:
        return max(0.02, 0.005 * expected)
    return min(MAX_POLL_INTERVAL, max(1.0, 0.25 * waited))


def learn(call: ProviderCall, *, earlier_polls: int, asked_at=None) -> None:
    """A poll found `call` finished; fold what that says into the endpoint's estimate.

    `asked_at` is when the status was asked: the call was done by then. Counting the time
    the answer took to come back (and the result to be fetched) would grow the estimate by
    that lag, and every later call would wait for it once more."""
    if not call.submitted_at:
        return
    seen = ((asked_at or timezone.now()) - call.submitted_at).total_seconds()
    previous = learned_seconds(call)
    if previous is None:
        estimate = seen
    elif earlier_polls == 0:
        estimate = min(seen, previous) * SHRINK_WHEN_DONE_AT_FIRST_POLL
    else:
        estimate = seen
    value = (
        estimate
        if previous is None
        else (1 - LEARNING_WEIGHT) * previous + (LEARNING_WEIGHT * estimate)
    )
    try:
        cache.set(_key(call), value, 86400)
    except RedisError as exc:
        log.warning("Could not record a learned duration (%s).", exc)
