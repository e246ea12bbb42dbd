"""Every TWS error, warning and notice code the connector can receive, with its effect.

One table (:data:`TWS_ERRORS`), pure data: :mod:`stockfish_ibkr.errors` applies it, and
``docs/tws-errors.md`` lists the same codes with the same effects (a test keeps the two
equal). Codes come from IB's published message-code list
(interactivebrokers.github.io/tws-api/message_codes.html) and what TWS is seen to send;
the ones listed are those the connector's requests can draw (its order types, contracts,
market data, depth, bars, history, account and order queries) plus TWS's own notices.

A code that is not in the table is handled by :func:`rule_for`: 2100-2199 are notices,
anything else about one of our orders makes the connector ask TWS for that order's state
(never a guess), anything else is logged and counted.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["TWS_ERRORS", "Effect", "ErrorRule", "HistoricalAnswer", "classify_162",
           "farm_of", "rule_for"]


class Effect(enum.Enum):
    """What a code does, on the order, request or feed it concerns."""

    #: A new order TWS did not place: REJECTED at once with the code and TWS's text. (For an
    #: order TWS had already acknowledged it refuses a modification: the order is verified.)
    REJECT_ORDER = "order rejected"
    #: TWS cancelled the order (the answer to our cancel, or TWS / the exchange): CANCELLED.
    ORDER_CANCELLED = "order cancelled"
    #: TWS refused a cancel: the order keeps its state, ``cancel_rejected`` event, verified.
    CANCEL_REFUSED = "cancel refused"
    #: TWS dropped the request unprocessed (pacing): retried after the pacing window with a
    #: bound; an order is re-placed only after open orders show TWS does not have it.
    RETRY = "request retried"
    #: A data or contract request refused: the subscription is marked failed with the
    #: reason (stale in health), a blocking request raises a clear error.
    REQUEST_REFUSED = "request refused"
    #: A stream TWS stopped or reset: requested again.
    REREQUEST_FEED = "feed re-requested"
    #: Historical data (162): the text says pacing (retry), no data (empty) or invalid.
    HISTORICAL = "historical: by text"
    #: The link to TWS or to IB's servers changed: connection state.
    CONNECTION = "connection state"
    #: A data farm broke, came back or idles: per-farm state, its feeds watched.
    FARM = "farm state"
    #: Nothing to do: logged at info and counted.
    INFORM = "informational"


@attrs.frozen
class ErrorRule:
    """One code: its effect and what TWS means by it."""

    code: int
    effect: Effect
    meaning: str


_R = ErrorRule
_E = Effect
_RULES = (
    # ---------------------------------------------------------------- pacing
    _R(100, _E.RETRY, "max rate of messages per second exceeded: the request was dropped"),
    _R(420, _E.RETRY, "invalid real-time query (real-time bars pacing): requested again"),
    _R(0, _E.INFORM, "warning: approaching the max rate of messages per second"),
    # ---------------------------------------------------------------- orders: not placed
    _R(103, _E.REJECT_ORDER, "duplicate order id"),
    _R(104, _E.REJECT_ORDER, "can't modify a filled order"),
    _R(105, _E.REJECT_ORDER, "order being modified does not match the original order"),
    _R(106, _E.REJECT_ORDER, "can't transmit order id"),
    _R(107, _E.REJECT_ORDER, "cannot transmit incomplete order"),
    _R(109, _E.REJECT_ORDER, "price out of the range of the percentage setting"),
    _R(110, _E.REJECT_ORDER, "price does not conform to the minimum price variation"),
    _R(111, _E.REJECT_ORDER, "time in force and order type are incompatible"),
    _R(113, _E.REJECT_ORDER, "the tif should be DAY for MOC and LOC orders"),
    _R(116, _E.REJECT_ORDER, "the order cannot be transmitted to a dead exchange"),
    _R(117, _E.REJECT_ORDER, "block order size must be at least 50"),
    _R(121, _E.REJECT_ORDER, "invalid BD flag for the order"),
    _R(122, _E.REJECT_ORDER, "no request tag found for the order"),
    _R(123, _E.REJECT_ORDER, "no record available for the conid"),
    _R(124, _E.REJECT_ORDER, "no market rule available for the conid"),
    _R(132, _E.REJECT_ORDER, "the order cannot be transmitted without a clearing account"),
    _R(133, _E.REJECT_ORDER, "submit new order failed"),
    _R(134, _E.REJECT_ORDER, "modify order failed"),
    _R(140, _E.REJECT_ORDER, "the size value should be an integer"),
    _R(141, _E.REJECT_ORDER, "the price value should be a double"),
    _R(145, _E.REJECT_ORDER, "error in validating entry fields"),
    _R(146, _E.REJECT_ORDER, "invalid trigger method"),
    _R(154, _E.REJECT_ORDER, "orders cannot be transmitted for a halted security"),
    _R(160, _E.REJECT_ORDER, "the size value cannot be zero"),
    _R(163, _E.REJECT_ORDER, "the price would violate the percentage constraint"),
    _R(164, _E.REJECT_ORDER, "no market data to check price percent violations"),
    _R(201, _E.REJECT_ORDER, "order rejected, with TWS's reason"),
    _R(203, _E.REJECT_ORDER, "the security is not available or allowed for this account"),
    _R(321, _E.REJECT_ORDER, "error validating the request (an order: not placed; a data "
                             "request: refused)"),
    _R(322, _E.REJECT_ORDER, "error processing the request"),
    _R(325, _E.REJECT_ORDER, "discretionary orders not supported for this exchange and type"),
    _R(329, _E.REJECT_ORDER, "order modify failed: cannot change to the new order type"),
    _R(334, _E.REJECT_ORDER, "invalid good-till-date order"),
    _R(336, _E.REJECT_ORDER, "the time or time zone is invalid"),
    _R(351, _E.REJECT_ORDER, "the regular-trading-hours-only flag is not valid here"),
    _R(355, _E.REJECT_ORDER, "order size does not conform to the market rule"),
    _R(361, _E.REJECT_ORDER, "invalid trigger price"),
    _R(387, _E.REJECT_ORDER, "unsupported order type for this exchange and security type"),
    _R(388, _E.REJECT_ORDER, "order size is smaller than the minimum required"),
    _R(392, _E.REJECT_ORDER, "invalid order: the contract has expired"),
    _R(403, _E.REJECT_ORDER, "invalid stop price"),
    _R(406, _E.REJECT_ORDER, "the currency is not allowed"),
    _R(407, _E.REJECT_ORDER, "the symbol should contain valid non-unicode characters only"),
    _R(411, _E.REJECT_ORDER, "the outside-regular-trading-hours flag is not valid"),
    _R(412, _E.REJECT_ORDER, "the contract is not available for trading"),
    _R(435, _E.REJECT_ORDER, "an account must be specified"),
    _R(10006, _E.REJECT_ORDER, "missing parent order"),
    _R(10015, _E.REJECT_ORDER, "trading is not allowed in the API"),
    _R(10016, _E.REJECT_ORDER, "the contract is not visible"),
    _R(10268, _E.REJECT_ORDER, "the 'EtradeOnly' order attribute is not supported"),
    _R(10269, _E.REJECT_ORDER, "the 'firmQuoteOnly' order attribute is not supported"),
    _R(10270, _E.REJECT_ORDER, "the 'nbboPriceCap' order attribute is not supported"),
    # ---------------------------------------------------------------- orders: cancels
    _R(202, _E.ORDER_CANCELLED, "order cancelled, with TWS's reason"),
    _R(135, _E.CANCEL_REFUSED, "can't find the order (cancel or modify of an order TWS "
                               "does not know)"),
    _R(136, _E.CANCEL_REFUSED, "this order cannot be cancelled"),
    _R(161, _E.CANCEL_REFUSED, "cancel attempted when the order is not cancellable"),
    _R(10147, _E.CANCEL_REFUSED, "the order to cancel is not found"),
    _R(10148, _E.CANCEL_REFUSED, "the order cannot be cancelled in its state"),
    # ---------------------------------------------------------------- orders: warnings
    _R(131, _E.INFORM, "sweep-to-fill and display size ignored"),
    _R(399, _E.INFORM, "order message warning; the order stands"),
    _R(404, _E.INFORM, "shares not available for short sale: the order is held"),
    _R(434, _E.INFORM, "the order size cannot be zero (warning)"),
    _R(492, _E.INFORM, "order warning (a warning to both client libraries)"),
    _R(2102, _E.INFORM, "unable to modify this order: it is still being processed"),
    _R(2109, _E.INFORM, "outside-regular-trading-hours attribute ignored"),
    _R(2137, _E.INFORM, "the closing order quantity is greater than the position"),
    # ---------------------------------------------------------------- contracts, data
    _R(200, _E.REQUEST_REFUSED, "no security definition found (an order: not placed)"),
    _R(101, _E.REQUEST_REFUSED, "max number of tickers reached"),
    _R(102, _E.REQUEST_REFUSED, "duplicate ticker id"),
    _R(300, _E.REQUEST_REFUSED, "can't find the subscription for this ticker id"),
    _R(309, _E.REQUEST_REFUSED, "max number of market depth requests reached"),
    _R(310, _E.REQUEST_REFUSED, "can't find the subscribed market depth"),
    _R(354, _E.REQUEST_REFUSED, "requested market data is not subscribed"),
    _R(10090, _E.REQUEST_REFUSED, "part of the requested market data is not subscribed"),
    _R(10092, _E.REQUEST_REFUSED, "deep market data not supported for this security type / "
                                  "exchange"),
    _R(10168, _E.REQUEST_REFUSED, "requested market data is not subscribed; delayed data is "
                                  "not enabled"),
    _R(10186, _E.REQUEST_REFUSED, "requested market data is not subscribed; delayed data is "
                                  "not enabled"),
    _R(10197, _E.REQUEST_REFUSED, "no market data during a competing live session"),
    _R(10167, _E.INFORM, "requested market data is not subscribed: displaying delayed data"),
    _R(316, _E.REREQUEST_FEED, "market depth data halted: subscribe again"),
    _R(317, _E.INFORM, "market depth data reset: the client library empties the book, TWS "
                       "sends it again"),
    _R(10225, _E.INFORM, "bust event: real-time bars deactivated (the client library "
                         "subscribes again)"),
    # ---------------------------------------------------------------- historical data
    _R(162, _E.HISTORICAL, "historical market data service error: pacing, no data or "
                           "invalid request, by its text"),
    _R(165, _E.INFORM, "historical market data service query message"),
    _R(166, _E.REQUEST_REFUSED, "historical data for an expired contract"),
    _R(366, _E.INFORM, "no historical data query found for the ticker id (already ended)"),
    # ---------------------------------------------------------------- connection
    _R(326, _E.CONNECTION, "the client id is already in use: the connection is refused"),
    _R(502, _E.CONNECTION, "couldn't connect to TWS (made by the client library)"),
    _R(504, _E.CONNECTION, "not connected (made by the client library): reconnect"),
    _R(1100, _E.CONNECTION, "TWS lost its connection to IB: the link is down"),
    _R(1101, _E.CONNECTION, "connectivity restored, data lost: subscribe again"),
    _R(1102, _E.CONNECTION, "connectivity restored, data maintained"),
    _R(1300, _E.CONNECTION, "TWS's socket port was reset: reconnect"),
    _R(2110, _E.INFORM, "connectivity between TWS and server is broken; restored by TWS"),
    # ---------------------------------------------------------------- data farms
    _R(2103, _E.FARM, "market data farm broken"),
    _R(2104, _E.FARM, "market data farm OK"),
    _R(2105, _E.FARM, "HMDS data farm broken"),
    _R(2106, _E.FARM, "HMDS data farm OK"),
    _R(2107, _E.FARM, "HMDS data farm inactive, available on demand"),
    _R(2108, _E.FARM, "market data farm inactive, available on demand"),
    _R(2119, _E.FARM, "market data farm connecting"),
    _R(2157, _E.FARM, "sec-def data farm broken"),
    _R(2158, _E.FARM, "sec-def data farm OK"),
    # ---------------------------------------------------------------- account notices
    _R(2100, _E.INFORM, "new account data requested: this client unsubscribed from it"),
    _R(2150, _E.INFORM, "invalid position trade derived value"),
)
TWS_ERRORS: dict[int, ErrorRule] = {rule.code: rule for rule in _RULES}

#: How an unknown code is treated when it names one of our orders: ask TWS.
UNKNOWN_ON_ORDER = "unknown code on an order: the order is verified with TWS"


def rule_for(code: int) -> ErrorRule:
    """The rule for ``code``; 2100-2199 not listed are notices, anything else unlisted is
    informational here (the connector verifies an order it names)."""
    rule = TWS_ERRORS.get(code)
    if rule is not None:
        return rule
    if 2100 <= code < 2200:
        return ErrorRule(code, Effect.INFORM, "TWS notice")
    return ErrorRule(code, Effect.INFORM, "not in the table")


class HistoricalAnswer(enum.Enum):
    """What a 162 means, read from its text."""

    PACING = "pacing"  # retry after the pacing window
    NO_DATA = "no data"  # a valid request over a range with no bars: an empty answer
    INVALID = "invalid"  # no such data for the contract, no permission: never retried
    CANCELLED = "cancelled"  # the answer to our own cancelHistoricalData


def classify_162(text: str) -> HistoricalAnswer:
    """Read a 162's text (``Historical Market Data Service error message:...``)."""
    lowered = text.lower()
    if "pacing violation" in lowered:
        return HistoricalAnswer.PACING
    if "returned no data" in lowered:
        return HistoricalAnswer.NO_DATA
    if "query cancelled" in lowered:
        return HistoricalAnswer.CANCELLED
    return HistoricalAnswer.INVALID


def farm_of(code: int, text: str) -> str:
    """The farm a farm notice names: after the colon (2103 ``...is broken:usfarm``), or
    glued to the sentence (2107 ``...upon demand.ushmds``)."""
    if ":" in text:
        return text.rsplit(":", 1)[1].strip()
    if "demand." in text:
        return text.rsplit("demand.", 1)[1].strip()
    return text.strip()
