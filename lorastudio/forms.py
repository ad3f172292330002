from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def add_service_errors(form, exc: ValidationError | Exception) -> None:
    """Show a service's refusal on the form: on its field when the form has one, else on top."""
    if not isinstance(exc, ValidationError):
        form.add_error(None, str(exc))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        target = field if field in form.fields else None
        for error in errors:
            form.add_error(None if field == NON_FIELD_ERRORS else target, error)
