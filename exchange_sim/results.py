"""What the venue answers: trade prints and the outcome of each call."""

from __future__ import annotations

from dataclasses import dataclass, field

from exchange_sim.orders import Reason, Side


@dataclass(slots=True)
class Fill:
    """A trade print: one fill between an incoming order (taker) and a resting one (maker)."""

    ts: int
    instrument: str
    taker_order_id: int
    maker_order_id: int
    taker_account: str
    maker_account: str
    taker_side: Side
    price: int
    lots: int
    taker_fee: int
    maker_fee: int


@dataclass(slots=True)
class OrderResult:
    """What became of a submitted (or amended) order.

    ``accepted`` is False for a rejection (``reason`` says why; nothing changed). For an accepted
    order, ``fills`` are its trades, ``resting`` says whether the rest now rests on the book,
    ``stop_pending`` whether it waits untriggered as a stop, and ``reason`` (if not ``None``)
    says why the remaining ``remaining`` lots were cancelled. ``removed_makers`` lists resting
    orders removed during matching (risk gate or self-trade prevention), with the reason.
    """

    accepted: bool
    reason: Reason | None = None
    order_id: int | None = None
    fills: list[Fill] = field(default_factory=list)
    remaining: int = 0
    resting: bool = False
    removed_makers: tuple[tuple[int, Reason], ...] = ()
    stop_pending: bool = False

    @property
    def filled(self) -> int:
        return sum(f.lots for f in self.fills)


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of a non-order input: ``ok``, else ``reason``. ``value`` is call-specific."""

    ok: bool
    reason: Reason | None = None
    value: int | None = None


@dataclass(slots=True)
class LegsResult:
    """What became of a multi-leg order (``Venue.submit_legs``).

    ``accepted`` is False when nothing happened: ``reason`` says why and ``leg`` which leg
    (``None`` when it concerns the whole order, e.g. the combined margin check). When accepted,
    every leg filled in full: ``legs`` holds one :class:`OrderResult` per leg, in order.
    """

    accepted: bool
    reason: Reason | None = None
    leg: int | None = None
    legs: list[OrderResult] = field(default_factory=list)

    @property
    def fills(self) -> list[Fill]:
        return [f for leg in self.legs for f in leg.fills]
