"""One refusal type: a domain rule said no. The API and the pages each turn it into one reply.

Services raise a subclass (`RunRefused`, `CharacterError`, ...) with a message for the user;
the class carries the HTTP status the API answers with. The rule lives in the service that
raises it, never in a view.
"""


class Refusal(Exception):
    """A request that breaks a rule of the domain; the message says why and what to do."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class Conflict(Refusal):
    """The request is valid but the current state forbids it (409)."""

    status_code = 409
