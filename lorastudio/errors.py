"""One refusal type: a domain rule said no. The API and the pages each turn it into one reply.

Services raise a subclass (`RunRefused`, `CharacterError`, ...) with a message for the user;
the class carries the HTTP status the API answers with. The rule lives in the service that
raises it, never in a view.
"""

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.utils.text import capfirst


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


class Invalid(Refusal):
    """A value that breaks a field's rule (400): the message says what is wrong, `fields` maps
    each field to its problems, for a form to show them where they were typed (the API answers
    them as `fields` beside `detail`)."""

    def __init__(self, message: str, *, fields: dict[str, list[str]]):
        super().__init__(message, extra={"fields": fields})
        self.fields = fields

    @classmethod
    def of(cls, field: str, message: str) -> "Invalid":
        """One field's problem."""
        return cls(message, fields={field: [message]})

    @classmethod
    def from_model(cls, exc: ValidationError, model) -> "Invalid":
        """A model's `full_clean` refusal, each message led by the field's name."""
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        )
        parts = []
        for name, problems in fields.items():
            label = _field_label(model, name)
            parts.append(f"{label}: {' '.join(problems)}" if label else " ".join(problems))
        return cls(" ".join(parts), fields=fields)


def _field_label(model, name: str) -> str:
    if name == NON_FIELD_ERRORS:
        return ""
    try:
        return capfirst(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name
