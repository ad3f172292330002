from django.core.exceptions import NON_FIELD_ERRORS

from .errors import Invalid, Refusal


def add_service_errors(form, exc: Refusal) -> None:
    """Show a service's refusal on the form: each field's problem on its field when the form
    has it, anything else on top."""
    if not isinstance(exc, Invalid):
        form.add_error(None, exc.message)
        return
    for field, errors in exc.fields.items():
        target = field if field in form.fields and field != NON_FIELD_ERRORS else None
        for error in errors:
            form.add_error(target, error)
