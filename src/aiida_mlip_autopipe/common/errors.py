"""One line per problem of a pydantic ``ValidationError``, naming the field: the messages users read."""

from __future__ import annotations

#: What pydantic puts before the message of a ``ValueError`` raised in a validator.
VALUE_ERROR_PREFIX = 'Value error, '


def format_validation_error(error, prefix: str = '', strip_value_error: bool = True) -> str:
    """Return a pydantic ``ValidationError`` as one part per error, joined by semicolons.

    Each part is the field in backticks, a colon and the message, for example
    ``parameters.test_size`` in backticks followed by ``: Input should be less than 0.5``. The field
    is ``prefix`` followed by the error's location, dotted (``parameters.basis_shape.ALL``); a part
    without either is the message alone.

    Parameters
    ----------
    error
        The ``pydantic.ValidationError``.
    prefix
        Where the validated value sits for the user (e.g. ``parameters``, the input port).
    strip_value_error
        Drop what pydantic puts before a validator's own message (:data:`VALUE_ERROR_PREFIX`).
    """
    parts = []
    for item in error.errors():
        message = str(item.get('msg', ''))
        if strip_value_error:
            message = message.removeprefix(VALUE_ERROR_PREFIX)
        location = '.'.join(str(part) for part in (prefix, *item.get('loc', ())) if str(part))
        parts.append(f'`{location}`: {message}' if location else message)
    return '; '.join(parts)
