"""Journal event codes and their fields (the full reference is ``docs/journal-format.md``).

Every event is a msgpack array whose first element is its code. *Inputs* carry the simulated
time ``ts`` (microseconds) and are what replay re-applies; *outputs* follow the input that caused
them, share its time, and are what replay checks.

References to accounts, instruments and assets are integer indexes when the name is known
(accounts: order of ``OPEN_ACCOUNT``; instruments and assets: order in the header's
configuration) and the raw value as given when it is not (so a rejected input is journaled as
it arrived).

===================  ====  ====================================================================
event                code  fields after the code
===================  ====  ====================================================================
OPEN_ACCOUNT         1     ts, account_id (str)
DEPOSIT              2     ts, account, asset, amount (atoms)
WITHDRAW             3     ts, account, asset, amount (atoms)
SUBMIT               4     ts, account, instrument, side, order_type, tif, size (lots), price
                           (ticks; nil for market orders)
CANCEL               5     ts, account, order_id
SET_REFERENCE        6     ts, instrument, price (ticks)
ACCEPTED             20    order_id [, band limit price for a market order]
REJECTED             21    reason
FILL                 22    maker_order_id, price, lots, taker_fee, maker_fee (the taker is the
                           order of the SUBMIT this follows)
ENDED                23    order_id, reason, remaining lots (an order left the book or stopped
                           without filling in full: cancel, IOC remainder, band, risk refusal)
===================  ====  ====================================================================
"""

from __future__ import annotations

from enum import IntEnum


class Ev(IntEnum):
    OPEN_ACCOUNT = 1
    DEPOSIT = 2
    WITHDRAW = 3
    SUBMIT = 4
    CANCEL = 5
    SET_REFERENCE = 6
    ACCEPTED = 20
    REJECTED = 21
    FILL = 22
    ENDED = 23


INPUTS = frozenset({Ev.OPEN_ACCOUNT, Ev.DEPOSIT, Ev.WITHDRAW, Ev.SUBMIT, Ev.CANCEL, Ev.SET_REFERENCE})
"""Codes of events that replay re-applies."""
