"""What may reach the FIX wire: strings without control characters, numbers as exact decimals.

QuickFIX writes a field's value as given: a value holding SOH ends the field there and what
follows is read by the venue as further fields (``55=AAA<SOH>1=OTHER-ACCT`` books the order
to another account). Every string the connector writes goes through :func:`wire_text` and
every price or quantity through :func:`decimal_text`; both raise :class:`WireValueError`
(a ``ValueError``) naming the field, before anything is sent.

Numbers: a float carries at most 15 significant decimal digits faithfully (``DBL_DIG``): the
shortest text that reads back as the same float is written when it has at most 15, in
positional notation (never ``1e-05``), so nothing is rounded. A longer one (``0.1 + 0.2``)
is not the decimal the caller meant: with the instrument's tick size it is snapped to the
nearest tick when it lies within a billionth of a tick of one, and refused otherwise; a price
that is not a whole number of ticks is refused, never rounded.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["MAX_SIGNIFICANT_DIGITS", "RESERVED_TAGS", "WireValueError", "custom_tags",
           "decimal_text", "parse_tick", "plain_text", "wire_text"]

#: Decimal digits a float holds exactly (C's DBL_DIG).
MAX_SIGNIFICANT_DIGITS = 15
_TICK_SLACK = Decimal("1e-9")  # of a tick: float noise, not a different price
#: Tags the connector writes itself (an order's fields) and the session layer's (header,
#: trailer, Logon credentials): a custom tag may not set them.
RESERVED_TAGS = frozenset({
    8, 9, 10, 34, 35, 43, 49, 50, 52, 56, 57, 97, 98, 108, 122, 141, 553, 554, 1128, 1137,
    1, 11, 21, 37, 38, 40, 41, 44, 54, 55, 59, 60, 99,
})


class WireValueError(ValueError):
    """A value that cannot be written to the FIX wire as it is."""


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NOT_IN_ID = re.compile("[\x00-\x20\x7f-\x9f=\\s]")


def wire_text(field: str, value: str, *, identifier: bool = True) -> str:
    """``value`` if it may be written as a FIX field value, else :class:`WireValueError`.

    Refused everywhere: an empty value (QuickFIX would write ``tag=`` which the venue
    rejects), control characters (SOH, the field separator, NUL, CR, LF, TAB, DEL, C1).
    Refused in identifiers (symbol, account, ClOrdID, OrderID, CompIDs): ``=`` as well, which
    turns a value that leaks a separator into a second field, and whitespace.
    """
    if not isinstance(value, str):
        raise WireValueError(f"{field}: expected text, got {type(value).__name__}")
    if not value:
        raise WireValueError(f"{field}: empty value")
    bad = (_NOT_IN_ID if identifier else _CONTROL).search(value)
    if bad is not None:
        char = bad.group()
        if _CONTROL.match(char):
            raise WireValueError(f"{field}: control character {char!r} in {value[:40]!r}")
        raise WireValueError(f"{field}: {char!r} is not allowed in an identifier "
                             f"({value[:40]!r})")
    return value


def parse_tick(field: str, value: object) -> Decimal:
    """A tick size from settings (text such as ``"0.01"`` or a number) as a positive
    :class:`~decimal.Decimal`."""
    try:
        tick = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field}: not a number: {value!r}") from None
    if not tick.is_finite() or tick <= 0:
        raise ValueError(f"{field}: a tick size must be a positive number, got {value!r}")
    return tick


def decimal_text(field: str, value: float, *, tick: Decimal | None = None,
                 allow_negative: bool = False) -> str:
    """``value`` as exact decimal text for the wire (no exponent, no rounding).

    ``tick``: the instrument's price increment; the value must be a whole number of ticks.
    Raises :class:`WireValueError` for a non-finite or negative value (unless
    ``allow_negative``), one that is not a whole number of ticks, or one with more
    significant digits than a float holds.
    """
    kind = type(value)
    if kind is float and tick is None:  # the common case, without Decimal
        text = repr(value)
        if "e" not in text and "n" not in text:  # positional, finite
            if text[0] == "-" and not allow_negative and value != 0:
                raise WireValueError(f"{field}: negative value {value!r}")
            digits = text.lstrip("-").replace(".", "").strip("0")
            if len(digits) > MAX_SIGNIFICANT_DIGITS:
                raise WireValueError(
                    f"{field}: {value!r} has {len(digits)} significant digits, more than a "
                    f"float holds exactly ({MAX_SIGNIFICANT_DIGITS}); round it to the "
                    f"instrument's tick or set tick_sizes for the symbol")
            text = text.removesuffix(".0")
            return "0" if text == "-0" else text
    elif kind is int and tick is None:
        if value < 0 and not allow_negative:
            raise WireValueError(f"{field}: negative value {value!r}")
        return str(value)
    return _decimal_text(field, value, tick, allow_negative)


def _decimal_text(field: str, value: float, tick: Decimal | None,
                  allow_negative: bool) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise WireValueError(f"{field}: expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise WireValueError(f"{field}: {value!r} cannot be sent")
    exact = value if isinstance(value, Decimal) else Decimal(repr(value)) \
        if isinstance(value, float) else Decimal(value)
    if not exact.is_finite():
        raise WireValueError(f"{field}: {value!r} cannot be sent")
    if exact < 0 and not allow_negative:
        raise WireValueError(f"{field}: negative value {value!r}")
    digits = len(exact.normalize().as_tuple().digits) if exact else 1
    if tick is not None:
        ticks = exact / tick
        nearest = ticks.to_integral_value()
        if abs(ticks - nearest) > _TICK_SLACK:
            raise WireValueError(f"{field}: {value!r} is not a multiple of the tick size "
                                 f"{tick} (refused, not rounded)")
        exact = nearest * tick
    elif digits > MAX_SIGNIFICANT_DIGITS and isinstance(value, float):
        raise WireValueError(
            f"{field}: {value!r} has {digits} significant digits, more than a float holds "
            f"exactly ({MAX_SIGNIFICANT_DIGITS}); round it to the instrument's tick or set "
            f"tick_sizes for the symbol")
    return _positional(exact)


def plain_text(value: float) -> str:
    """The shortest text that reads back as ``value``, in positional notation (no checks:
    for a venue's own computed figures such as an average price)."""
    return _positional(Decimal(repr(float(value))))


def _positional(number: Decimal) -> str:
    """``number`` in positional notation without trailing zeros (``1E-5`` -> ``0.00001``,
    ``1.2345E+11`` -> ``123450000000``)."""
    text = format(number.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def custom_tags(tags: dict[str, str] | None) -> list[tuple[int, str]]:
    """The entries of ``tags`` whose key is a FIX tag number, checked for the wire: a number
    in 1..99999 that neither the connector nor the session layer writes, and a value without
    control characters. Other keys (the caller's own annotations) are not FIX fields and are
    left out."""
    out: list[tuple[int, str]] = []
    for key, value in (tags or {}).items():
        if not (isinstance(key, str) and key.isdigit()):
            continue
        tag = int(key)
        if not 0 < tag < 100000:
            raise WireValueError(f"custom tag {key}: not a FIX tag number")
        if tag in RESERVED_TAGS:
            raise WireValueError(f"custom tag {tag}: written by the connector itself")
        out.append((tag, wire_text(f"custom tag {tag}", value, identifier=False)))
    return out
