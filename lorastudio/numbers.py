"""Numbers with a fixed count of decimals, as Django's `floatformat:N` writes them, for
strings made in Python once per tile (likeness scores, costs): floatformat looks up the
locale's separators on every call, a third of a gallery tile's work.

The pages are English only (LANGUAGE_CODE, no LocaleMiddleware) and do not group
thousands (USE_THOUSAND_SEPARATOR is off): a decimal point, no separators. Anything but a
finite number goes to floatformat itself.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.template.defaultfilters import floatformat

_QUANTUM = {places: Decimal(1).scaleb(-places) for places in range(1, 7)}


def fixed(value, places: int) -> str:
    """`value` rounded half up to `places` decimals (1 to 6), as `floatformat:places` writes
    it in English: `fixed(0.555, 2) == "0.56"`, `fixed(Decimal("0.03"), 3) == "0.030"`."""
    if isinstance(value, (float, int, Decimal)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))  # floatformat's own reading of a float
            if number.is_finite():
                rounded = number.quantize(_QUANTUM[places], ROUND_HALF_UP)
                return f"{rounded or rounded.copy_abs():f}"  # "0.00", never "-0.00"
        except (InvalidOperation, KeyError):
            pass
    return floatformat(value, places)
