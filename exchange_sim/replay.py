"""Replay: rebuild a venue from a journal by re-applying its inputs, and check its outputs.

The header's configuration rebuilds an empty venue; each *input* event is applied again through
the public API, which journals it afresh together with the outputs it produces now. The replayed
journal must equal the original event for event (and so byte for byte, with the same digest).
The first event that differs is reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from exchange_sim.config import VenueConfig
from exchange_sim.events import INPUTS, Ev
from exchange_sim.journal import (
    JournalError,
    JournalWriter,
    digest_of,
    has_trailer,
    read_bytes,
    read_journal,
)
from exchange_sim.venue import Venue


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first event where replay disagrees: its position among events, and both versions."""

    index: int
    recorded: list[Any] | None
    replayed: list[Any] | None


@dataclass(slots=True)
class ReplayReport:
    venue: Venue
    events: int
    digest: str
    replayed_digest: str
    mismatch: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.mismatch is None and self.digest == self.replayed_digest


def replay(
    source: str | os.PathLike[str] | bytes, *, strict: bool = False, verify: bool = True
) -> ReplayReport:
    """Replay a journal (path or bytes). Raises :class:`~exchange_sim.journal.JournalError` if
    damaged (``strict``: also if it has no trailer, i.e. was cut off or never closed;
    ``verify=False``: replay even if the trailer does not match, to find the first event that
    disagrees)."""
    data = read_bytes(source)
    header, events = read_journal(data, strict=strict, verify=verify)
    config = VenueConfig.from_dict(header["config"])
    writer = JournalWriter()
    writer.write_header(header)
    venue = Venue(config, journal=writer)
    for event in events:
        if event[0] in INPUTS:
            apply_input(venue, event)
    if has_trailer(data):
        writer.close()  # the same bytes give the same trailer, so whole files compare equal
    _, replayed = read_journal(writer.getvalue(), verify=False)
    mismatch = None
    for index in range(max(len(events), len(replayed))):
        recorded = events[index] if index < len(events) else None
        again = replayed[index] if index < len(replayed) else None
        if recorded != again:
            mismatch = Mismatch(index, recorded, again)
            break
    return ReplayReport(venue, len(events), digest_of(data), writer.digest(), mismatch)


def event_offsets(source: str | os.PathLike[str] | bytes) -> list[int]:
    """The byte offset of every event (header and trailer excluded), for reports."""
    from exchange_sim.journal import TRAILER, iter_records

    return [
        offset
        for offset, record in iter_records(read_bytes(source))
        if isinstance(record, list) and record[0] != TRAILER
    ]


def apply_input(venue: Venue, event: list[Any]) -> None:
    """Apply one recorded input event to ``venue`` through its public API."""
    code = event[0]
    if code == Ev.OPEN_ACCOUNT:
        venue.open_account(event[1], event[2], *event[3:4])
    elif code == Ev.DEPOSIT:
        venue.deposit(event[1], _account(venue, event[2]), _asset(venue, event[3]), event[4])
    elif code == Ev.WITHDRAW:
        venue.withdraw(event[1], _account(venue, event[2]), _asset(venue, event[3]), event[4])
    elif code == Ev.SUBMIT:
        _, ts, account, instrument, side, order_type, tif, size, price, *extras = event
        options = dict(
            zip(("stop_price", "trigger", "reduce_only", "client_id", "stp"), extras, strict=False)
        )
        venue.submit(
            ts,
            _account(venue, account),
            _instrument(venue, instrument),
            side,
            size,
            price,
            order_type,
            tif,
            **options,
        )
    elif code == Ev.CANCEL:
        client_id = event[4] if len(event) > 4 else None
        venue.cancel(event[1], _account(venue, event[2]), event[3], client_id=client_id)
    elif code == Ev.AMEND:
        _, ts, account, order_id, client_id, size, price = event
        venue.amend(ts, _account(venue, account), order_id, client_id=client_id, size=size, price=price)
    elif code == Ev.SET_MARK:
        venue.set_mark_price(event[1], _instrument(venue, event[2]), event[3])
    elif code == Ev.SET_INDEX:
        venue.set_index_price(event[1], _asset(venue, event[2]), event[3])
    elif code == Ev.SET_SELF_TRADE:
        venue.set_self_trade_prevention(event[1], _account(venue, event[2]), event[3])
    elif code == Ev.MARGIN_TRANSFER:
        venue.transfer_margin(event[1], _account(venue, event[2]), _instrument(venue, event[3]), event[4])
    elif code == Ev.SUBMIT_LEGS:
        legs = event[3]
        if isinstance(legs, list):
            legs = [_leg(venue, leg) for leg in legs]
        venue.submit_legs(event[1], _account(venue, event[2]), legs)
    elif code == Ev.FUNDING:
        venue.apply_funding(event[1], _instrument(venue, event[2]), event[3])
    elif code == Ev.SETTLE_EXPIRY:
        venue.settle_expiry(event[1], _instrument(venue, event[2]), event[3])
    elif code == Ev.SYSTEM_DEPOSIT:
        venue.deposit_system(event[1], event[2], _asset(venue, event[3]), event[4])
    elif code == Ev.MARGIN_RATES:
        venue.set_margin_rates(event[1], event[2], event[3], event[4] if len(event) > 4 else None)
    elif code == Ev.SET_REFERENCE:
        venue.set_reference_price(event[1], _instrument(venue, event[2]), event[3])
    else:
        raise JournalError(f"unknown input event code {code!r}")


def _account(venue: Venue, ref: Any) -> Any:
    if type(ref) is int:
        return venue.ledger.by_index[ref].id
    return ref


def _leg(venue: Venue, leg: Any) -> Any:
    if isinstance(leg, list) and leg:
        return [_instrument(venue, leg[0]), *leg[1:]]
    return leg


def _instrument(venue: Venue, ref: Any) -> Any:
    return venue.config.instruments[ref].symbol if type(ref) is int else ref


def _asset(venue: Venue, ref: Any) -> Any:
    return venue.config.assets[ref].symbol if type(ref) is int else ref
