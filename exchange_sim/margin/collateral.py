"""Collateral valuation: what a balance of a non-settlement asset counts for, in settlement atoms.

An account may hold several assets (a stable settlement asset plus, e.g., BTC and ETH). Each
non-settlement balance counts toward equity at its index price, less a *haircut*:

    value = floor(balance x price / 10**decimals x (1 - haircut))        for balance >= 0
    value = ceil(balance x price / 10**decimals)                         for balance < 0

``price`` is the asset's index price in settlement atoms per whole unit of the asset (BTC at
30,000 USDC is 30_000_000_000 USDC atoms per BTC); ``haircut`` is in ppm. Rounding follows the
project's rule (DESIGN.md, "Units and numbers"): collateral is an amount the account is credited
with, so it rounds down; a negative balance (a borrowed asset) is a liability charged to the
account, so it rounds up in magnitude and gets no haircut benefit. Everything is exact integer
arithmetic in one division.

Why haircuts: venues that accept several collateral assets count the volatile ones at a discount
to their index value (Binance's multi-assets mode applies a collateral rate below 100% to
non-USDT assets; Deribit's cross-collateral applies per-currency haircuts), while venues that
margin in one quote asset only (dYdX v4, Hyperliquid) are the case of a 100% haircut on
everything else. The haircut rates themselves are scenario data.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange_sim.units import PPM, UnitError


@dataclass(frozen=True, slots=True)
class CollateralRule:
    """How one asset counts as collateral: its haircut in ppm (0: full value, 1_000_000: none)."""

    asset: str
    haircut_ppm: int

    def __post_init__(self) -> None:
        if isinstance(self.haircut_ppm, bool) or not isinstance(self.haircut_ppm, int):
            raise UnitError(
                f"{self.asset} haircut_ppm must be an integer, got {self.haircut_ppm!r}",
                field="haircut_ppm",
                expected="an integer from 0 to 1000000 (ppm of the index value)",
            )
        if not 0 <= self.haircut_ppm <= PPM:
            raise UnitError(
                f"{self.asset} haircut_ppm must be 0..1000000, got {self.haircut_ppm}",
                field="haircut_ppm",
                expected="an integer from 0 to 1000000 (ppm of the index value)",
            )


def collateral_value(balance: int, decimals: int, price: int, haircut_ppm: int) -> int:
    """Settlement atoms that ``balance`` atoms of an asset count for (see the module docstring).

    >>> collateral_value(50_000_000, 8, 30_000_000_000, 100_000)   # 0.5 BTC at 30,000, 10% haircut
    13500000000
    >>> collateral_value(-1, 8, 30_000_000_000, 100_000)            # 1 sat owed: 300 atoms, rounded up
    -300
    """
    if price < 0:
        raise ValueError(f"an index price cannot be negative, got {price}")
    scale = 10**decimals
    if balance >= 0:
        return balance * price * (PPM - haircut_ppm) // (scale * PPM)
    liability = -(balance * price // scale)  # ceil(|balance| x price / scale): floor of a negative
    return -liability
