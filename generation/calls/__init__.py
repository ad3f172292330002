"""The ProviderCall state machine: every paid request submitted at most once, never lost.

    created ─dispatch─▶ submitting ─submit─▶ submitted ─poll/webhook─▶ running ─▶ succeeded
       ▲  (429/5xx: back, with backoff)   │                                       │ download
       └──────────────────────────────────┘          failed / canceled ◀──────────┴─▶ done
                                     unknown (the worker died while the submit was on the wire)
                                        └─▶ submitted (its provider id arrived after all)

- A row exists before anything is sent. `dispatch` claims queued calls up to the provider's
  concurrency cap; `submit` commits `sending_at` *before* the HTTP request and the provider's
  id right after it. A row left in `submitting` with `sending_at` set may have reached the
  provider: it becomes `unknown` and is never re-sent on its own (the user may retry it).
- Every conditional transition checks its row count. One that changes nothing is logged, and
  never drops what we learned: a provider id that arrives late always lands on its call.
- Polls are timed per call from the endpoint's learned duration (poll_timing) and sent as
  delayed tasks; the periodic pass only picks up what those lost. Webhooks only trigger an
  immediate poll: the provider's API stays the source of truth.
- A run's status is recomputed from its calls, one recomputation at a time (run_status).
- Results are downloaded at once, from the outputs the finishing poll already fetched (one
  result request per call), only from provider hosts, and stored in one transaction with the
  `done` transition, so a crash mid-download just means the download runs again.

Where each part lives: `transitions` (the moves every stage shares: dispatch, finish, fail),
`submission` (submit, unknown outcomes, sending again), `polling`, `results` (download),
`cancellation`, `sweeping` (the periodic pass); `scheduling` times the next look at a call,
and `purposes` holds what each purpose (images, training, captions...) plugs in.
"""

from .cancellation import cancel, cancel_queued
from .polling import apply_poll, poll, webhook_received
from .purposes import register_output_handler, register_sample_handler, register_task_builder
from .results import download
from .submission import retry_unknown, submit
from .sweeping import sweep
from .transitions import dispatch

__all__ = [
    "apply_poll",
    "cancel",
    "cancel_queued",
    "dispatch",
    "download",
    "poll",
    "register_output_handler",
    "register_sample_handler",
    "register_task_builder",
    "retry_unknown",
    "submit",
    "sweep",
    "webhook_received",
]
