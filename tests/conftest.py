"""Shared test setup: hypothesis profiles and small factories for venues.

Hypothesis profiles (choose with ``EXCHANGE_SIM_PROFILE``):

* ``ci`` (default): fast, for every run of the suite;
* ``soak``: long runs for finding rare bugs (hundreds of thousands of steps in total), e.g.
  ``EXCHANGE_SIM_PROFILE=soak pytest tests/properties``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from exchange_sim.config import ReferenceSource, VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter
from exchange_sim.matching import RiskGate
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

settings.register_profile("ci", max_examples=60, stateful_step_count=60, deadline=None, derandomize=True)
settings.register_profile(
    "soak",
    max_examples=5_000,
    stateful_step_count=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("EXCHANGE_SIM_PROFILE", "ci"))

USDC = Asset("USDC", 6)
BTC = Asset("BTC", 8)


def btc_perp(**overrides: object) -> Instrument:
    """BTC-PERP: tick 0.5 USDC, lot 0.001 BTC -> 500 atoms per tick per lot."""
    fields: dict = dict(
        kind="perpetual",
        underlying="BTC",
        settlement=USDC,
        tick_size="0.5",
        lot_size="0.001",
        maker_fee_ppm=-100,
        taker_fee_ppm=500,
    )
    fields.update(overrides)
    return Instrument.create("BTC-PERP", **fields)  # type: ignore[arg-type]


def eth_perp(**overrides: object) -> Instrument:
    """ETH-PERP: tick 0.01 USDC, lot 0.01 ETH -> 100 atoms per tick per lot, no fees."""
    fields: dict = dict(
        kind="perpetual", underlying="ETH", settlement=USDC, tick_size="0.01", lot_size="0.01"
    )
    fields.update(overrides)
    return Instrument.create("ETH-PERP", **fields)  # type: ignore[arg-type]


def btc_spot(**overrides: object) -> Instrument:
    """BTC-USDC spot pair: tick 0.5 USDC, lot 0.001 BTC -> 500 USDC atoms per tick per lot,
    100,000 BTC atoms (satoshis) per lot; maker -100 ppm, taker 500 ppm."""
    fields: dict = dict(
        kind="spot",
        underlying="BTC",
        settlement=USDC,
        base=BTC,
        tick_size="0.5",
        lot_size="0.001",
        maker_fee_ppm=-100,
        taker_fee_ppm=500,
    )
    fields.update(overrides)
    return Instrument.create("BTC-USDC", **fields)  # type: ignore[arg-type]


def make_venue(
    *instruments: Instrument,
    accounts: tuple[str, ...] = ("alice", "bob", "carol"),
    cash: str = "1000000",
    gate: RiskGate | None = None,
    journal: JournalWriter | None = None,
    reference: ReferenceSource = ReferenceSource.LAST_TRADE,
) -> Venue:
    """A venue with the given instruments (default BTC-PERP) and funded accounts, at ts 0."""
    config = VenueConfig((USDC, BTC), instruments or (btc_perp(),), reference)
    venue = Venue(config, gate=gate, journal=journal)
    for name in accounts:
        assert venue.open_account(0, name).ok
        assert venue.deposit(0, name, "USDC", cash).ok
    return venue


@pytest.fixture
def venue() -> Venue:
    return make_venue()
