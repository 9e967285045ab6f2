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
OPEN_ACCOUNT         1     ts, account_id (str) [, margin_mode ("cross", "isolated" or
                           "portfolio")]
DEPOSIT              2     ts, account, asset, amount (atoms)
WITHDRAW             3     ts, account, asset, amount (atoms)
SUBMIT               4     ts, account, instrument, side, order_type, tif, size (lots), price
                           (ticks; nil for market orders) [, stop_price, trigger, reduce_only,
                           client_id, stp] (the five only when any is not its default)
CANCEL               5     ts, account, order_id [, client_id]
SET_REFERENCE        6     ts, instrument, price (ticks)
AMEND                7     ts, account, order_id, client_id, size, price (nil: unchanged)
SET_SELF_TRADE       8     ts, account, mode
SET_MARK             9     ts, instrument, price (ticks)
SET_INDEX            10    ts, asset, price (settlement atoms per whole unit of the asset)
MARGIN_TRANSFER      11    ts, account, instrument, amount (settlement atoms; > 0 into the
                           isolated position, < 0 out of it)
SUBMIT_LEGS          12    ts, account, legs (an array of [instrument, side, size, price]
                           arrays)
SETTLE_EXPIRY        13    ts, instrument, settlement price (ticks, or a decimal string)
FUNDING              14    ts, instrument, funding rate (ppm; > 0: longs pay shorts)
SYSTEM_DEPOSIT       15    ts, account ("@insurance" or "@backstop"), asset, amount (atoms)
MARGIN_RATES         16    ts, scales (an array of [underlying, scale ppm] pairs), covariance
                           (an array of rows of floats, or nil) [, returns window (an array of
                           rows of floats) for historical VaR]: dynamic margin
ACCEPTED             20    order_id [, band limit price for a market order]
REJECTED             21    reason
FILL                 22    maker_order_id, price, lots, taker_fee, maker_fee (the taker is the
                           order most recently ACCEPTED, AMENDED or TRIGGERED)
ENDED                23    order_id, reason, remaining lots (an order left the book or stopped
                           without filling in full)
AMENDED              24    order_id, open size (lots), price (ticks), kept_priority (bool)
TRIGGERED            25    order_id (a stop order was released; it now executes as a taker)
TRIMMED              26    order_id, reason, new open size (lots) (the venue shrank an order)
REPRICED             27    order_id, price (ticks) (a post-only order slid inside the spread, or
                           a triggered stop-market order's band limit)
MARGIN_MOVED         28    account, instrument, amount (settlement atoms moved between an
                           isolated account's main account and the position's sub-account:
                           > 0 into the position, < 0 back to the main account)
SETTLED              29    account, size (signed lots closed), amount (settlement atoms the
                           account received, < 0: paid) at a future's expiry
FUNDED               30    account, amount (settlement atoms the account received in a funding
                           payment, < 0: paid); the rounding residue stays in ``@funding``
HALTED               31    instrument, until (microseconds): a volatility halt began
LIQUIDATION          32    account, equity, maintenance (atoms): the account fell below
                           maintenance and its liquidation begins (``docs/liquidation.md``)
LIQ_ORDER            33    order_id, account, instrument, side, lots, limit price (ticks): a
                           liquidation order; its FILLs and its ENDED follow
LIQ_SETTLED          34    account, instrument, lots, fill value, bankruptcy value, fee,
                           fund delta (atoms; > 0: the account paid the insurance fund, < 0: the
                           fund paid the account)
TAKEOVER             35    account, receiver, instrument, size (signed lots taken), mark (ticks):
                           the insurance fund or the backstop vault took a position
SWEPT                36    account, receiver, amount (atoms; > 0 the receiver took the account's
                           margin, < 0 the receiver covered its negative equity)
DELEVERAGED          37    account, counterparty, instrument, lots, mark (ticks), haircut
                           (atoms the counterparty paid), closed profit (atoms of its unrealised
                           profit the close realised)
ADL_DONE             38    account, instrument, deficit, haircut total, closed profit total,
                           profit closed beyond need (atoms)
SOCIALIZED           39    account, amount (atoms of a loss shared by profitable accounts; each
                           payer follows as SOCIAL_SHARE)
SOCIAL_SHARE         40    payer, amount (atoms)
BAD_DEBT             41    account, amount (atoms of negative equity nobody covered)
LIQUIDATION_END      42    account, outcome (0 healthy, 1 flat, 2 positions left), equity,
                           maintenance (atoms)
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
    AMEND = 7
    SET_SELF_TRADE = 8
    SET_MARK = 9
    SET_INDEX = 10
    MARGIN_TRANSFER = 11
    SUBMIT_LEGS = 12
    SETTLE_EXPIRY = 13
    FUNDING = 14
    FILL = 22
    ENDED = 23
    AMENDED = 24
    TRIGGERED = 25
    TRIMMED = 26
    REPRICED = 27
    MARGIN_MOVED = 28
    SETTLED = 29
    FUNDED = 30
    HALTED = 31
    SYSTEM_DEPOSIT = 15
    MARGIN_RATES = 16
    LIQUIDATION = 32
    LIQ_ORDER = 33
    LIQ_SETTLED = 34
    TAKEOVER = 35
    SWEPT = 36
    DELEVERAGED = 37
    ADL_DONE = 38
    SOCIALIZED = 39
    SOCIAL_SHARE = 40
    BAD_DEBT = 41
    LIQUIDATION_END = 42


INPUTS = frozenset(
    {
        Ev.OPEN_ACCOUNT,
        Ev.DEPOSIT,
        Ev.WITHDRAW,
        Ev.SUBMIT,
        Ev.CANCEL,
        Ev.SET_REFERENCE,
        Ev.AMEND,
        Ev.SET_SELF_TRADE,
        Ev.SET_MARK,
        Ev.SET_INDEX,
        Ev.MARGIN_TRANSFER,
        Ev.SUBMIT_LEGS,
        Ev.SETTLE_EXPIRY,
        Ev.FUNDING,
        Ev.SYSTEM_DEPOSIT,
        Ev.MARGIN_RATES,
    }
)
"""Codes of events that replay re-applies."""
