"""Liquidation math as pure, exact functions: prices, fees, insurance fund, ADL, partial sizes.

Nothing here touches a venue, a ledger or a clock: each function takes numbers and returns numbers
(or a frozen record), so the liquidation engine can call them and tests can check them by hand.
``docs/liquidation.md`` teaches every formula with worked numbers.

Formulas (every number exact; each function states its one rounding and whom it goes against)::

    bankruptcy price      p_B = entry - margin / (size x apl)            (the margin is exhausted)
    liquidation price     p_L = (WB - TMM' + UPNL' + cum - size x apl x entry)
                                / (apl x (|size| x mmr - size))            (Binance, one-way mode)
    dYdX bankruptcy quote q_B = -dNNV - TNC x |dMMR| / TMMR              (closing part of a position)
    dYdX fillable price   p_F = (PNNV - ABR x SMMR x PMMR) / (size x apl),
                          ABR = clamp(BA x (1 - TNC / TMMR), 0, 1)
    liquidation fee       fee = max(0, min(rate x notional, fill value - bankruptcy value))
    ADL ranking (BitMEX)  score = PNL% x eff. leverage (PNL% > 0), PNL% / eff. leverage (PNL% < 0)
    backstop (Hyperliquid) due when equity < 2/3 x maintenance
    restore size          the fewest lots whose close leaves equity >= maintenance

Units (DESIGN.md, "Units and numbers"; the same as the rest of the package):

* money is integer **atoms** of the settlement asset; prices are **ticks** (``int``, or an exact
  :class:`~fractions.Fraction` of a tick for an entry price or an oracle price);
* sizes are signed integer **lots** (long > 0, short < 0); a position's value is
  ``size x price x atoms_per_tick_per_lot`` (``apl`` below);
* rates are integer **ppm** (1% = 10_000); exact ratios (an ADL score, a fraction of maintenance)
  are :class:`~fractions.Fraction`.

Sources read (no code was taken from them):

* Binance, *How to Calculate Liquidation Price of USDⓈ-M Futures Contracts* (the cross and
  isolated closed form with WB, TMM1, UPNL1, cumB, Side1BOTH, Position1BOTH, EP1BOTH, MMRB; "If it
  is an isolated margin mode, then TMM=0, UPNL=0"):
  https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-usd%E2%93%A2-m-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93
  and its COIN-M twin (when the position at the liquidation price is in another bracket,
  "substitute ... the maintenance margin rate and the maintenance margin amount of the position
  level" at the liquidation price and recalculate):
  https://www.binance.com/es/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46
* Binance, *How to avoid liquidation* (worked example: wallet balance 500 USDT, long BTCUSDT worth
  1,000 USDT at 50,000, liquidation price 25,100.40):
  https://binance.com/en/support/faq/25edcd7fe0e544839d0847b8cbb2e400
* Binance, *Liquidation* (a liquidation fee "on the amount liquidated only"; "the insurance fund
  will accumulate USDT reserves based on liquidations above the bankruptcy price"):
  https://binance.zendesk.com/hc/en-us/articles/360033525271-Liquidation ; *Insurance Fund*:
  https://www.binance.com/en/support/articles/360033525371-Insurance-Fund
* BitMEX, *Liquidation* (partial liquidation by bringing the user "down to a lower Risk Limit";
  lowest tier: liquidated at the bankruptcy price; better than bankruptcy, "the additional funds
  will be added to the Insurance Fund"): https://www.bitmex.com/app/liquidation
* BitMEX, *Auto-Deleveraging* (the ranking formula) and its examples page (six longs ranked, a
  20-contract short liquidated at 650 deleverages accounts 2 and 5):
  https://bitmex.com/app/autoDeleveraging , https://testnet.bitmex.com/app/autoDeleveragingExamples
* dYdX v4 docs, *Liquidations* (fillable price, isolated and cross liquidation price with worked
  examples 3,174.60 and 3,380.95, 1.5% maximum liquidation penalty):
  https://github.com/dydxprotocol/v4-documentation/blob/main/docs/pages/concepts/trading/liquidations.mdx
  (published at https://docs.dydx.xyz/concepts/trading/liquidations); help centre, *Contract loss
  mechanisms* (maximum liquidation spread = 1.5 x the market's maintenance fraction; B's
  bankruptcy price 1.2): https://help.dydx.trade/en/articles/166973-contract-loss-mechanisms-on-dydx-chain ,
  https://dydx-documentation-six.vercel.app/concepts/trading/contract-loss-mechanism
* dYdX v4 chain, ``protocol/x/clob/keeper/liquidations.go`` (``GetFillablePrice``: ``(PNNV - ABR x
  SMMR x PMMR) / PS``; ``GetBankruptcyPriceInQuoteQuantums``: ``-DNNV - TNC x |DMMR| / TMMR``,
  rounded toward +infinity; ``GetLiquidationInsuranceFundDelta``: the fee is the smaller of the
  maximum fee and what is left above bankruptcy; ``ConvertFillablePriceToSubticks`` rounds up for
  sells and down for buys) and its tests ``liquidations_test.go``:
  https://github.com/dydxprotocol/v4-chain/blob/main/protocol/x/clob/keeper/liquidations.go
* Hyperliquid docs, *Liquidations* (book liquidation first; "If the account equity drops below 2/3
  of the maintenance margin without successful liquidation through the book, a backstop
  liquidation happens through the liquidator vault"; partial liquidations: above 100k USDC "only
  20% of the position will be sent", 30-second cooldown; ``liq_price = price - side x
  margin_available / position_size / (1 - l x side)``):
  https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations

Rounding, in one place: every function computes exactly and rounds once, at the end, against the
party the rounding would otherwise favour; each docstring says which way and why.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor
from typing import TYPE_CHECKING, Any, TypeVar

from exchange_sim.units import PPM, UnitError, ceil_div, charge_ppm

if TYPE_CHECKING:
    from exchange_sim.margin.brackets import BracketSchedule

__all__ = [
    "FillSettlement",
    "adjusted_bankruptcy_rating",
    "adl_fills",
    "adl_percentiles",
    "adl_queue",
    "adl_score",
    "backstop_due",
    "bankruptcy_price",
    "bankruptcy_price_exact",
    "bankruptcy_quote",
    "bankruptcy_quote_exact",
    "book_liquidation_lots",
    "fillable_price",
    "fillable_price_exact",
    "liquidation_fee",
    "liquidation_price",
    "liquidation_price_exact",
    "liquidation_price_in_schedule",
    "pro_rata",
    "restore_size",
    "restore_size_in_schedule",
    "settle_liquidation_fill",
    "step_down_size",
]

Price = int | Fraction
"""A price in ticks: an integer, or an exact fraction of a tick (an entry price, an oracle price)."""

K = TypeVar("K", bound=Hashable)

DYDX_BANKRUPTCY_ADJUSTMENT_PPM = 1_000_000
"""dYdX's bankruptcy adjustment ``BA`` (1, in ppm; the docs say it is at least 1)."""

DYDX_SPREAD_TO_MAINTENANCE_PPM = 1_500_000
"""dYdX's spread-to-maintenance-margin ratio ``SMMR``: 1.5 "default genesis parameters"."""

HYPERLIQUID_BACKSTOP_FRACTION = Fraction(2, 3)
"""Hyperliquid: the backstop vault takes over below 2/3 of the maintenance margin."""

HYPERLIQUID_PARTIAL_FRACTION = Fraction(1, 5)
"""Hyperliquid: a large position is first liquidated 20% at a time."""

_PRICE_EXPECTED = "a positive price in ticks (int or fractions.Fraction)"


# validation ------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: object, field: str, *, minimum: int | None = None, nonzero: bool = False) -> int:
    if not _is_int(value):
        raise UnitError(
            f"{field} must be an integer, got {type(value).__name__} {value!r}",
            field=field,
            expected="an integer",
        )
    number: int = value  # type: ignore[assignment]
    if minimum is not None and number < minimum:
        raise UnitError(
            f"{field} must be at least {minimum}, got {number}",
            field=field,
            expected=f"an integer >= {minimum}",
            got=number,
        )
    if nonzero and number == 0:
        raise UnitError(f"{field} must not be zero", field=field, expected="a non-zero integer", got=0)
    return number


def _rate(value: object, field: str, *, maximum: int = PPM - 1) -> int:
    rate = _int(value, field)
    if not 0 <= rate <= maximum:
        raise UnitError(
            f"{field} must be an integer rate in ppm from 0 to {maximum}, got {rate}",
            field=field,
            expected=f"an integer rate in ppm from 0 to {maximum}",
            got=rate,
        )
    return rate


def _price(value: object, field: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Fraction):
        raise UnitError(
            f"{field} must be a price in ticks (int or Fraction), got {type(value).__name__} {value!r}",
            field=field,
            expected=_PRICE_EXPECTED,
        )
    price = Fraction(value)
    if price <= 0:
        raise UnitError(f"{field} must be positive, got {price}", field=field, expected=_PRICE_EXPECTED)
    return price


def _exact_amount(value: object, field: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Fraction):
        raise UnitError(
            f"{field} must be an amount in atoms (int, or an exact Fraction), got {value!r}",
            field=field,
            expected="atoms as int or fractions.Fraction",
        )
    return Fraction(value)


def _sign(number: int) -> int:
    return 1 if number > 0 else -1


# bankruptcy price (one position) ----------------------------------------------------------------


def bankruptcy_price_exact(
    size: int, entry_price: Price, margin: int, atoms_per_tick_per_lot: int
) -> Fraction:
    """The price at which ``margin`` backing one position is exhausted, exactly (ticks).

    Isolated style: the position's equity at price ``p`` is ``margin + size x apl x (p - entry)``,
    zero at ``entry - margin / (size x apl)``: below the entry for a long, above it for a short.
    For a running position pass its equity at the mark as ``margin`` and the mark as
    ``entry_price`` (the same line, anchored elsewhere). The result may be ``<= 0`` for a long
    backed by at least its entry value: no positive price bankrupts it.

    dYdX's help centre: B deposits $100 and shorts 500 ABC at $1: "B's bankruptcy price is $1.2"
    (``1 + 100 / 500``).

    >>> bankruptcy_price_exact(-500, 100, 100_000_000, 10_000)  # ticks of $0.01, lots of 1 ABC, USDC
    Fraction(120, 1)
    """
    _int(size, "size", nonzero=True)
    entry = _price(entry_price, "entry_price")
    _int(margin, "margin")
    apl = _int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", minimum=1)
    return entry - Fraction(margin, size * apl)


def bankruptcy_price(size: int, entry_price: Price, margin: int, atoms_per_tick_per_lot: int) -> int | None:
    """:func:`bankruptcy_price_exact` rounded to a whole tick **against the liquidated trader**.

    A long rounds down (``floor``), a short rounds up (``ceil``): the trader is deemed bankrupt at
    a tick at least as bad for them as the exact price, so at that tick their equity is ``<= 0``
    (and less than one tick's value, ``|size| x apl``, below zero); one tick better it is ``> 0``.
    This is also the first tick, stepping from the entry toward the loss, at which the equity is
    ``<= 0`` (:func:`exchange_sim.margin.explain.bankruptcy_price`). ``None`` for a long that no
    positive price bankrupts.

    >>> bankruptcy_price(3, 100, 1_000, 10)   # exact 100 - 1000/30 = 66.67: a long rounds down
    66
    >>> bankruptcy_price(-3, 100, 1_000, 10)  # exact 133.33: a short rounds up
    134
    """
    exact = bankruptcy_price_exact(size, entry_price, margin, atoms_per_tick_per_lot)
    if size > 0:
        tick = floor(exact)
        return tick if tick >= 1 else None
    return max(1, ceil(exact))


# liquidation price (Binance closed form, one-way mode) -----------------------------------------


def liquidation_price_exact(
    size: int,
    entry_price: Price,
    wallet_balance: int,
    atoms_per_tick_per_lot: int,
    maintenance_ppm: int,
    maintenance_amount: int | Fraction = 0,
    *,
    other_maintenance: int = 0,
    other_unrealized_pnl: int = 0,
) -> Fraction:
    """The price at which equity equals maintenance margin, exactly (Binance's closed form).

    Binance, one-way mode, with ``WB`` the wallet balance, ``TMM1`` and ``UPNL1`` the maintenance
    margin and unrealised PnL of every *other* contract (0 for an isolated position), ``cumB`` the
    bracket's maintenance amount and ``MMRB`` its rate::

        LP = (WB - TMM1 + UPNL1 + cumB - Side x |Position| x EP) / (|Position| x MMRB - Side x |Position|)

    In this package's units (lots, ticks, atoms) every ``|Position| x price`` carries a factor
    ``atoms_per_tick_per_lot``, and ``Side x |Position|`` is the signed ``size``::

        LP = (WB - other_maintenance + other_unrealized_pnl + maintenance_amount - size x apl x entry)
             / (apl x (|size| x maintenance_ppm / 1e6 - size))

    It is the root of ``WB + UPNL1 + size x apl x (LP - entry) = TMM1 + |size| x apl x LP x MMR -
    cum``: equity equals maintenance. ``maintenance_amount`` is Binance's "maintenance amount"
    (this package's bracket deduction, :meth:`BracketSchedule.deductions` divided by ``PPM``: an
    exact Fraction of an atom is accepted). The rate and amount are those of the bracket the
    position is in *at the liquidation price*; :func:`liquidation_price_in_schedule` finds it.

    Binance's wallet balance excludes the position's cost; with this package's cash-flow balances
    pass ``wallet_balance = balance + size x apl x entry`` (the position's cost basis), or pass the
    account's equity at the mark with ``entry_price = mark`` (Hyperliquid's form, ``liq_price =
    price - side x margin_available / position_size / (1 - l x side)``, is the same line).

    >>> liquidation_price_exact(20, 5_000_000, 500_000_000, 10, 4_000)  # Binance: 25,100.40 USDT
    Fraction(625000000, 249)
    """
    _int(size, "size", nonzero=True)
    entry = _price(entry_price, "entry_price")
    _int(wallet_balance, "wallet_balance")
    apl = _int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", minimum=1)
    rate = _rate(maintenance_ppm, "maintenance_ppm")
    amount = _exact_amount(maintenance_amount, "maintenance_amount")
    _int(other_maintenance, "other_maintenance", minimum=0)
    _int(other_unrealized_pnl, "other_unrealized_pnl")
    numerator = wallet_balance - other_maintenance + other_unrealized_pnl + amount - size * apl * entry
    denominator = apl * (Fraction(abs(size) * rate, PPM) - size)
    return numerator / denominator


def liquidation_price(
    size: int,
    entry_price: Price,
    wallet_balance: int,
    atoms_per_tick_per_lot: int,
    maintenance_ppm: int,
    maintenance_amount: int | Fraction = 0,
    *,
    other_maintenance: int = 0,
    other_unrealized_pnl: int = 0,
) -> int | None:
    """:func:`liquidation_price_exact` rounded to a whole tick **toward the mark** (against the trader).

    A long is liquidated when the mark falls to the price: it rounds up (``ceil``); a short when the
    mark rises to it: it rounds down (``floor``). The trigger is therefore never later than the
    exact formula: the trader does not gain a fraction of a tick of room at the insurance fund's
    expense. (Binance *displays* the exact price to the nearest cent: 25,100.40 here.) ``None`` for
    a long that no positive price liquidates; a short already below maintenance at every price
    gives 1.

    This is the single-bracket closed form; :func:`exchange_sim.margin.explain.liquidation_price`
    finds the first tick at which the account's bracketed, rounded requirement is breached, which
    may differ by a tick.

    >>> liquidation_price(20, 5_000_000, 500_000_000, 10, 4_000)  # 2,510,040.16 ticks of $0.01
    2510041
    """
    exact = liquidation_price_exact(
        size,
        entry_price,
        wallet_balance,
        atoms_per_tick_per_lot,
        maintenance_ppm,
        maintenance_amount,
        other_maintenance=other_maintenance,
        other_unrealized_pnl=other_unrealized_pnl,
    )
    if size > 0:
        tick = ceil(exact)
        return tick if tick >= 1 else None
    return max(1, floor(exact))


def liquidation_price_in_schedule(
    schedule: BracketSchedule,
    size: int,
    entry_price: Price,
    wallet_balance: int,
    atoms_per_tick_per_lot: int,
    *,
    other_maintenance: int = 0,
    other_unrealized_pnl: int = 0,
) -> Fraction | None:
    """:func:`liquidation_price_exact` with the rate and amount of the bracket the position is in
    *at the liquidation price* (Binance: if the bracket at the liquidation price differs from the
    current one, substitute that bracket's rate and amount and recalculate).

    Equity minus maintenance is continuous and strictly monotone in the price (rates are below
    100%), so exactly one bracket's closed form lands inside its own band (two, with the same
    value, at a band floor). ``None`` when no positive price solves it: a long that no positive
    price liquidates, or a short already below maintenance at every price. Exact: round it as
    :func:`liquidation_price` does if a tick is wanted.
    """
    _int(size, "size", nonzero=True)
    apl = _int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", minimum=1)
    bands = schedule.brackets
    for i, band in enumerate(bands):
        price = liquidation_price_exact(
            size,
            entry_price,
            wallet_balance,
            apl,
            band.maintenance_ppm,
            Fraction(schedule.maintenance_deductions[i], PPM),
            other_maintenance=other_maintenance,
            other_unrealized_pnl=other_unrealized_pnl,
        )
        if price <= 0:
            continue
        notional = abs(size) * apl * price
        upper = bands[i + 1].floor if i + 1 < len(bands) else None
        if band.floor <= notional and (upper is None or notional < upper):
            return price
    return None


# dYdX v4: bankruptcy quote of a partial close, fillable price ------------------------------------


def bankruptcy_quote_exact(
    delta_value: int, delta_maintenance: int, total_net_collateral: int, total_maintenance: int
) -> Fraction:
    """dYdX's bankruptcy price of a (partial) close, as the quote it is worth, exactly (atoms).

    ``-dNNV - TNC x |dMMR| / TMMR``: ``delta_value`` (dNNV) is the change in the position's value at
    the oracle price that the close makes (``-size_closed_signed x oracle x apl``; negative when
    closing a long), ``delta_maintenance`` (dMMR, ``<= 0``) the change in its maintenance
    requirement, and ``total_net_collateral`` (TNC) and ``total_maintenance`` (TMMR) the account's
    totals before the close. The result is what the account must *receive* (positive, selling a
    long) or may at most *pay* (negative, buying back a short) so that it keeps exactly its share
    of collateral: after the close its TNC / TMMR ratio is unchanged. A fill worse than this
    leaves the account short of its share, and the insurance fund covers the difference.

    For a single position closed in full this is ``size x apl x bankruptcy price``
    (:func:`bankruptcy_price_exact` with the equity as margin and the oracle as entry).

    >>> bankruptcy_quote_exact(-300_000_000, -30_000_000, 10_000_000, 50_000_000)  # dYdX: $294
    Fraction(294000000, 1)
    """
    _int(delta_value, "delta_value")
    _int(delta_maintenance, "delta_maintenance")
    if delta_maintenance > 0:
        raise UnitError(
            f"delta_maintenance must be <= 0 (a close never raises the requirement), got {delta_maintenance}",
            field="delta_maintenance",
            expected="an integer number of atoms <= 0",
            got=delta_maintenance,
        )
    _int(total_net_collateral, "total_net_collateral")
    _int(total_maintenance, "total_maintenance", minimum=1)
    return -delta_value - Fraction(total_net_collateral * -delta_maintenance, total_maintenance)


def bankruptcy_quote(
    delta_value: int, delta_maintenance: int, total_net_collateral: int, total_maintenance: int
) -> int:
    """:func:`bankruptcy_quote_exact` rounded **up** (toward +infinity) to a whole atom, as dYdX does.

    Rounding the bankruptcy value up rounds "what is left above bankruptcy" (fill value minus this)
    *down*, so a liquidation fee capped by it (:func:`settle_liquidation_fill`) never takes an atom
    the account does not have above its share; the at most one atom of difference is the
    insurance fund's. dYdX's test: closing 0.00021347 of 1 BTC gives 2,775.11 -> 2,776 quote
    quantums; the short mirror gives -2,775.11 -> -2,775.

    >>> bankruptcy_quote(-10_673_500, -1_067_350, 49_987_000_000, 5_000_000_000)
    2776
    """
    exact = bankruptcy_quote_exact(delta_value, delta_maintenance, total_net_collateral, total_maintenance)
    return ceil(exact)


def adjusted_bankruptcy_rating(
    total_net_collateral: int,
    total_maintenance: int,
    bankruptcy_adjustment_ppm: int = DYDX_BANKRUPTCY_ADJUSTMENT_PPM,
) -> Fraction:
    """dYdX's ``ABR = clamp(BA x (1 - TNC / TMMR), 0, 1)``, exact.

    0 for an account exactly at maintenance, rising as collateral falls, 1 (the widest fillable
    spread) at or below zero collateral (sooner when ``BA > 1``).

    >>> adjusted_bankruptcy_rating(499, 500), adjusted_bankruptcy_rating(-5, 500)
    (Fraction(1, 500), Fraction(1, 1))
    """
    _int(total_net_collateral, "total_net_collateral")
    _int(total_maintenance, "total_maintenance", minimum=1)
    ba = _int(bankruptcy_adjustment_ppm, "bankruptcy_adjustment_ppm", minimum=PPM)
    unbounded = Fraction(ba, PPM) * (1 - Fraction(total_net_collateral, total_maintenance))
    return min(Fraction(1), max(Fraction(0), unbounded))


def fillable_price_exact(
    size: int,
    oracle_price: Price,
    position_maintenance: int,
    total_net_collateral: int,
    total_maintenance: int,
    atoms_per_tick_per_lot: int,
    *,
    bankruptcy_adjustment_ppm: int = DYDX_BANKRUPTCY_ADJUSTMENT_PPM,
    spread_to_maintenance_ppm: int = DYDX_SPREAD_TO_MAINTENANCE_PPM,
) -> Fraction:
    """dYdX v4's fillable price: the limit price of a liquidation order, exactly (ticks).

    ``(PNNV - ABR x SMMR x PMMR) / PS`` with ``PNNV = size x oracle x apl`` the position's value,
    ``PMMR`` its maintenance requirement (``position_maintenance``), ``PS = size x apl`` and ABR
    from :func:`adjusted_bankruptcy_rating`. For a long it is ``oracle x (1 - ABR x SMMR x MMF)``
    below the oracle (MMF the position's maintenance fraction), for a short as far above: the
    docs' ``P x (1 - ((SMMR x MMF) x (BA x (1 - Q))))`` is the long case. The maximum spread from
    the oracle, at ``ABR = 1``, is ``SMMR x MMF`` (help centre: ``1.5 x 5% = 7.5%``).

    The bankruptcy price does not enter the formula directly: an account whose collateral is
    exhausted (``TNC <= 0``) has ``ABR = 1``, the widest spread; fills between the bankruptcy price
    and this price are paid for by the insurance fund (:func:`settle_liquidation_fill`).

    >>> fillable_price_exact(10_000_000, 500, 500_000_000, 499_000_000, 500_000_000, 1,
    ...                      spread_to_maintenance_ppm=100_000)  # dYdX test: $49,999
    Fraction(49999, 100)
    """
    _int(size, "size", nonzero=True)
    oracle = _price(oracle_price, "oracle_price")
    _int(position_maintenance, "position_maintenance", minimum=0)
    apl = _int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", minimum=1)
    smmr = _int(spread_to_maintenance_ppm, "spread_to_maintenance_ppm", minimum=0)
    abr = adjusted_bankruptcy_rating(total_net_collateral, total_maintenance, bankruptcy_adjustment_ppm)
    spread = abr * Fraction(smmr, PPM) * position_maintenance
    price = (size * apl * oracle - spread) / (size * apl)
    if price <= 0:
        raise UnitError(
            f"the fillable price {price} is not positive: SMMR x MMF must be below 1",
            field="spread_to_maintenance_ppm",
            expected="a spread that leaves a positive price",
            got=smmr,
        )
    return price


def fillable_price(
    size: int,
    oracle_price: Price,
    position_maintenance: int,
    total_net_collateral: int,
    total_maintenance: int,
    atoms_per_tick_per_lot: int,
    *,
    bankruptcy_adjustment_ppm: int = DYDX_BANKRUPTCY_ADJUSTMENT_PPM,
    spread_to_maintenance_ppm: int = DYDX_SPREAD_TO_MAINTENANCE_PPM,
) -> int:
    """:func:`fillable_price_exact` rounded to a whole tick **toward the oracle**, as dYdX does.

    The sell that closes a long rounds up, the buy that closes a short rounds down: the limit is
    never looser than the formula, so the insurance fund never pays for a fill the formula would
    not allow (dYdX's ``ConvertFillablePriceToSubticks``). At least 1 tick.

    >>> fillable_price(100, 60_001, 30_000_500, 0, 30_000_500, 500)  # ABR 1: 60,001 x (1 - 1.5 x 1%)
    59101
    """
    exact = fillable_price_exact(
        size,
        oracle_price,
        position_maintenance,
        total_net_collateral,
        total_maintenance,
        atoms_per_tick_per_lot,
        bankruptcy_adjustment_ppm=bankruptcy_adjustment_ppm,
        spread_to_maintenance_ppm=spread_to_maintenance_ppm,
    )
    return max(1, ceil(exact) if size > 0 else floor(exact))


# liquidation fee and the insurance fund's share of a fill -----------------------------------------


def liquidation_fee(rate_ppm: int, notional: int, left_above_bankruptcy: int) -> int:
    """The liquidation (clearance) fee: ``min(rate x notional, left above bankruptcy)``, never negative.

    ``notional`` is the absolute value of the liquidated fill in atoms (Binance: "on the amount
    liquidated only (not the notional value of the position)"); ``left_above_bankruptcy`` is what
    the fill leaves the account above its bankruptcy value (may be negative: nothing is left).
    ``rate x notional`` is a charge, rounded up (:func:`exchange_sim.units.charge_ppm`); the cap is
    exact, so the fee never takes more than is left (dYdX: "the minimum of the max liquidation fee
    and the leftover collateral from liquidating the position"), and a fill at or below bankruptcy
    pays none.

    >>> liquidation_fee(5_000, 12_500_000_000, 124_750_000)  # dYdX test: $12,500 x 0.5% = $62.50
    62500000
    >>> liquidation_fee(5_000, 12_624_500_000, 250_000)      # only $0.25 is left: fee $0.25
    250000
    >>> liquidation_fee(5_000, 1_000, -3)
    0
    """
    rate = _rate(rate_ppm, "rate_ppm", maximum=PPM)
    _int(notional, "notional", minimum=0)
    _int(left_above_bankruptcy, "left_above_bankruptcy")
    return max(0, min(charge_ppm(notional, rate), left_above_bankruptcy))


@dataclass(frozen=True, slots=True)
class FillSettlement:
    """How one liquidation fill settles between the liquidated account and the insurance fund.

    Attributes:
        surplus: fill value minus bankruptcy value, in atoms: positive when the fill is better than
            bankruptcy, negative when worse.
        fee: the liquidation fee the account pays the insurance fund (``>= 0``).
        fund_delta: the insurance fund's change: ``+fee`` when the fill is better than
            bankruptcy, else ``surplus`` (``<= 0``: the fund pays ``-surplus`` so that the account
            ends exactly at its bankruptcy value).
        account_keeps: what stays with the account above its bankruptcy value: ``surplus - fee``
            when positive, else 0.
    """

    surplus: int
    fee: int
    fund_delta: int
    account_keeps: int


def settle_liquidation_fill(fill_value: int, bankruptcy_value: int, fee_ppm: int) -> FillSettlement:
    """Split a liquidation fill into the fee to the insurance fund and the fund's gain or loss.

    ``fill_value`` is the signed quote the liquidated account gets from the closing trade (positive
    selling a long, negative buying back a short: ``-size_closed_signed x fill price x apl``);
    ``bankruptcy_value`` is the same for the bankruptcy price (:func:`bankruptcy_quote`, or ``size x
    apl x`` :func:`bankruptcy_price` for an isolated position). The difference is the surplus:

    * better than bankruptcy: the fund gains the fee, :func:`liquidation_fee` on ``|fill_value|``
      capped by the surplus; the rest stays with the account (dYdX, Binance's partial
      liquidations). Pass ``fee_ppm = 1_000_000`` for the rule in which the fund takes everything
      above bankruptcy (BitMEX: "the additional funds will be added to the Insurance Fund";
      Binance: reserves "based on liquidations above the bankruptcy price").
    * at or worse than bankruptcy: no fee; the fund pays the shortfall.

    >>> settle_liquidation_fill(-12_500_000_000, -12_624_750_000, 5_000)  # dYdX: fee $62.50
    FillSettlement(surplus=124750000, fee=62500000, fund_delta=62500000, account_keeps=62250000)
    >>> settle_liquidation_fill(-37_875_000_000, -37_874_250_000, 5_000)  # the fund pays $0.75
    FillSettlement(surplus=-750000, fee=0, fund_delta=-750000, account_keeps=0)
    """
    _int(fill_value, "fill_value")
    _int(bankruptcy_value, "bankruptcy_value")
    rate = _rate(fee_ppm, "fee_ppm", maximum=PPM)
    surplus = fill_value - bankruptcy_value
    if surplus <= 0:
        return FillSettlement(surplus, 0, surplus, 0)
    fee = liquidation_fee(rate, abs(fill_value), surplus)
    return FillSettlement(surplus, fee, fee, surplus - fee)


# auto-deleveraging (BitMEX ranking), pro-rata allocation -------------------------------------------


def adl_score(mark_value: int, entry_value: int, bankrupt_value: int) -> Fraction:
    """BitMEX's deleveraging priority of one position, exactly.

    ``PNL% = (mark value - entry value) / |entry value|`` and ``effective leverage = |mark value| /
    (mark value - bankrupt value)``; the score is ``PNL% x leverage`` in profit, ``PNL% /
    leverage`` in loss (0 at break-even). Values are signed position values in atoms:
    ``size x price x apl`` at the mark, at the average entry (the position's cost) and at the
    bankruptcy price. ``mark value - bankrupt value`` is the equity backing the position; it must
    be positive. Higher scores are deleveraged first (:func:`adl_queue`).

    >>> adl_score(110, 100, 60)    # long, +10%, leverage 110 / 50 = 2.2: 0.1 x 2.2
    Fraction(11, 50)
    >>> adl_score(90, 100, 60)     # long, -10%, leverage 90 / 30 = 3: -0.1 / 3
    Fraction(-1, 30)
    """
    _int(mark_value, "mark_value", nonzero=True)
    _int(entry_value, "entry_value", nonzero=True)
    _int(bankrupt_value, "bankrupt_value")
    backing = mark_value - bankrupt_value
    if backing <= 0:
        raise UnitError(
            f"mark value {mark_value} minus bankrupt value {bankrupt_value} must be positive "
            "(the equity backing the position)",
            field="bankrupt_value",
            expected="a bankrupt value below the mark value for a long, above it (more negative) for a short",
            got=bankrupt_value,
        )
    pnl = Fraction(mark_value - entry_value, abs(entry_value))
    leverage = Fraction(abs(mark_value), backing)
    if pnl > 0:
        return pnl * leverage
    if pnl < 0:
        return pnl / leverage
    return Fraction(0)


def adl_queue(
    scores: Mapping[K, Fraction | int] | Iterable[tuple[K, Fraction | int]],
    tie_key: Callable[[K], Any] | None = None,
) -> tuple[K, ...]:
    """The deleveraging queue: keys by score, highest first; ties by ``tie_key`` ascending.

    ``tie_key`` defaults to the key itself (an account id, say), so the order is deterministic
    whatever order the scores arrive in. Build one queue per side (BitMEX: "splits these positions
    by longs and shorts and ranks the positions from highest to lowest").

    >>> adl_queue({"a": Fraction(1, 2), "b": 3, "c": Fraction(1, 2)})
    ('b', 'a', 'c')
    """
    items = list(scores.items()) if isinstance(scores, Mapping) else list(scores)
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        raise UnitError("adl_queue: a key appears twice", field="scores", expected="one score per key")
    for key, score in items:
        if isinstance(score, bool) or not isinstance(score, int | Fraction):
            raise UnitError(
                f"the score of {key!r} must be exact (int or Fraction), got {type(score).__name__} {score!r}",
                field="scores",
                expected="exact scores (int or fractions.Fraction)",
            )
    if tie_key is None:
        ranked = sorted(items, key=lambda item: (-Fraction(item[1]), item[0]))
    else:
        ranked = sorted(items, key=lambda item: (-Fraction(item[1]), tie_key(item[0])))
    return tuple(key for key, _ in ranked)


def adl_fills(queue: Sequence[tuple[K, int]], lots: int) -> tuple[tuple[K, int], ...]:
    """Walk the queue: each ``(key, position lots)`` in turn closes ``min(remaining, its lots)``.

    ``lots`` is the size of the liquidated position left to deleverage. Positions are absolute
    lots on the opposite side, in queue order (:func:`adl_queue`). The fills sum to ``lots``, or to
    everything the queue holds if that is less (the caller sees the shortfall). All close at the
    liquidated position's bankruptcy price (BitMEX).

    >>> adl_fills([("2", 10), ("5", 20), ("4", 30)], 20)   # BitMEX's example: 2 closes 10, 5 closes 10
    (('2', 10), ('5', 10))
    """
    remaining = _int(lots, "lots", minimum=0)
    fills = []
    for key, available in queue:
        if remaining == 0:
            break
        _int(available, "queue lots", minimum=0)
        take = min(remaining, available)
        if take:
            fills.append((key, take))
            remaining -= take
    return tuple(fills)


def adl_percentiles(sizes: Sequence[int]) -> tuple[int, ...]:
    """The ADL indicator of each position in queue order, in percent: 20, 40, 60, 80 or 100.

    ``ceil(5 x cumulative size / total size) x 20``: a position sits in the quintile its last
    lot reaches. BitMEX publishes the indicator ("your priority in the queue in 20% increments")
    and a table, not this rule: it is inferred, and reproduces the table (sizes 10, 20, 30, 10,
    10, 20 in queue order -> 20%, 40%, 60%, 80%, 80%, 100%).

    >>> adl_percentiles([10, 20, 30, 10, 10, 20])
    (20, 40, 60, 80, 80, 100)
    """
    for size in sizes:
        _int(size, "sizes", minimum=1)
    total = sum(sizes)
    out = []
    cumulative = 0
    for size in sizes:
        cumulative += size
        out.append(ceil_div(5 * cumulative, total) * 20)
    return tuple(out)


def pro_rata(amount: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Split ``amount`` atoms (or lots) in proportion to ``weights``, exactly: the parts sum to ``amount``.

    Largest remainder: every part is first its exact share rounded down; the atoms left over go,
    one each, to the largest fractional remainders, ties to the earlier weight. Each part is
    therefore its exact share rounded down or up, never further; a larger weight never gets less
    than a smaller one. For pro-rata deleveraging and socialised loss.

    Note (the "Alabama paradox" of this method): a larger ``amount`` can give a part one atom
    *less*: ``pro_rata(3, [1, 3, 3]) = (1, 1, 1)`` but ``pro_rata(4, [1, 3, 3]) = (0, 2, 2)``.

    >>> pro_rata(10, [1, 1, 1])
    (4, 3, 3)
    >>> pro_rata(100, [50, 30, 20])
    (50, 30, 20)
    """
    _int(amount, "amount", minimum=0)
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
        raise UnitError(f"weights must be a sequence of ints, got {type(weights).__name__}", field="weights")
    for weight in weights:
        _int(weight, "weights", minimum=0)
    total = sum(weights)
    if total == 0:
        if amount == 0:
            return tuple(0 for _ in weights)
        raise UnitError(
            f"cannot split {amount} over weights that sum to 0",
            field="weights",
            expected="non-negative integer weights with a positive sum",
        )
    parts = []
    remainders = []
    for weight in weights:
        part, remainder = divmod(amount * weight, total)
        parts.append(part)
        remainders.append(remainder)
    left = amount - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[i] += 1
    return tuple(parts)


# Hyperliquid: backstop and partial liquidation ----------------------------------------------------


def backstop_due(equity: int, maintenance: int, fraction: Fraction = HYPERLIQUID_BACKSTOP_FRACTION) -> bool:
    """Whether the backstop (liquidator vault) takes over: ``equity < fraction x maintenance``.

    Hyperliquid: "If the account equity drops below 2/3 of the maintenance margin without
    successful liquidation through the book, a backstop liquidation happens through the liquidator
    vault." Strictly below; exact (no rounding).

    >>> backstop_due(66, 100), backstop_due(67, 100), backstop_due(200, 300)
    (True, False, False)
    """
    _int(equity, "equity")
    _int(maintenance, "maintenance", minimum=0)
    if isinstance(fraction, bool) or not isinstance(fraction, int | Fraction) or not 0 < fraction <= 1:
        raise UnitError(
            f"fraction must be an exact ratio in (0, 1], got {fraction!r}",
            field="fraction",
            expected="a fractions.Fraction in (0, 1], e.g. Fraction(2, 3)",
        )
    return equity < fraction * maintenance


def book_liquidation_lots(
    size: int,
    notional: int,
    threshold: int,
    *,
    fraction: Fraction = HYPERLIQUID_PARTIAL_FRACTION,
    cooldown: bool = False,
) -> int:
    """Lots of a liquidatable position sent to the book now (Hyperliquid's partial liquidation).

    "For liquidatable positions larger than 100k USDC ..., only 20% of the position will be sent as
    a market liquidation order to the book. After a block where any position of a user is
    partially liquidated, there is a cooldown period of 30 seconds. During this cooldown period,
    all market liquidation orders for that user will be for the entire position." ``notional`` and
    ``threshold`` are atoms (``threshold`` 100,000 USDC on mainnet); ``cooldown`` is whether the
    user is inside that window. The fraction of the lots is rounded **up** (against the trader,
    who would keep more risk open otherwise), at least one lot.

    >>> book_liquidation_lots(1_003, 150_000_000_000, 100_000_000_000)   # 20% of 1,003 = 200.6
    201
    >>> book_liquidation_lots(-1_003, 150_000_000_000, 100_000_000_000, cooldown=True)
    1003
    """
    lots = abs(_int(size, "size", nonzero=True))
    _int(notional, "notional", minimum=0)
    _int(threshold, "threshold", minimum=0)
    if isinstance(fraction, bool) or not isinstance(fraction, int | Fraction) or not 0 < fraction <= 1:
        raise UnitError(
            f"fraction must be an exact ratio in (0, 1], got {fraction!r}",
            field="fraction",
            expected="a fractions.Fraction in (0, 1], e.g. Fraction(1, 5)",
        )
    if cooldown or notional <= threshold:
        return lots
    return max(1, ceil(lots * Fraction(fraction)))


# partial liquidation: the fewest lots that restore health ----------------------------------------


def restore_size(
    size: int,
    mark: int,
    close_price: int,
    equity: int,
    atoms_per_tick_per_lot: int,
    maintenance_ppm: int,
    fee_ppm: int,
    *,
    other_maintenance: int = 0,
) -> int | None:
    """The fewest lots to close at ``close_price`` so that equity >= maintenance afterwards.

    "Only enough to restore health" (Binance: liquidation stops once "the user is margin compliant
    after calculating the realized losses and liquidation fee deductions"; Hyperliquid: remaining
    collateral stays with the trader once maintenance is met). Closing ``n`` lots of the position
    (``size`` signed lots, equity measured at ``mark``) changes::

        equity      -> equity + n x apl x (close_price - mark) x side - fee(n)
        maintenance -> other_maintenance + ceil((|size| - n) x mark x apl x maintenance_ppm / 1e6)

    with ``fee(n) = ceil(n x close_price x apl x fee_ppm / 1e6)`` (:func:`charge_ppm`): the same
    rounded amounts the ledger and the risk gate use, so the answer is minimal *in those terms*:
    ``n`` lots restore health and ``n - 1`` do not. 0 if the account is already healthy; ``None``
    if even closing the whole position at this price does not restore health (a full liquidation,
    and the rest is the insurance fund's). Cost: O(1) plus a scan of the lots where the two
    roundings (less than 2 atoms together) decide: at most ``2 / s + 1`` lots, ``s`` the atoms one
    closed lot frees (thousands in practice, so one or two lots).

    >>> restore_size(10, 100, 100, 900, 10, 100_000, 0)  # maintenance 1,000 > 900; a lot frees 100
    1
    """
    rate = _rate(maintenance_ppm, "maintenance_ppm")
    return _restore(
        size, mark, close_price, equity, atoms_per_tick_per_lot, fee_ppm, other_maintenance, ((0, rate, 0),)
    )


def restore_size_in_schedule(
    schedule: BracketSchedule,
    size: int,
    mark: int,
    close_price: int,
    equity: int,
    atoms_per_tick_per_lot: int,
    fee_ppm: int,
    *,
    other_maintenance: int = 0,
) -> int | None:
    """:func:`restore_size` with a tiered bracket schedule: as the position shrinks its notional
    steps down through the brackets and each lot closed frees maintenance at the lower rate.

    The requirement of the remaining lots is :meth:`BracketSchedule.maintenance` of their notional
    at the mark (the same rounded number the risk gate sums). Minimal in the same sense: ``n`` lots
    restore health, ``n - 1`` do not. See :func:`step_down_size` for BitMEX's rule of closing down
    to the next lower risk limit instead.
    """
    bands = tuple(
        (band.floor, band.maintenance_ppm, deduction)
        for band, deduction in zip(schedule.brackets, schedule.maintenance_deductions, strict=True)
    )
    return _restore(
        size, mark, close_price, equity, atoms_per_tick_per_lot, fee_ppm, other_maintenance, bands
    )


def step_down_size(
    schedule: BracketSchedule, size: int, mark: int, atoms_per_tick_per_lot: int
) -> int | None:
    """Lots to close so that the position's notional at ``mark`` falls into the next lower bracket.

    BitMEX: "The liquidation system attempts to bring a user down to a lower Risk Limit, and thus
    lower margin requirements"; users on the lowest tier are liquidated in full. The result is the
    fewest lots that take the notional strictly below the current band's floor; ``None`` for a
    position already in the lowest band (a full liquidation).

    >>> from exchange_sim.margin.brackets import Bracket, BracketSchedule
    >>> s = BracketSchedule.create([Bracket(0, 5_000, 10_000), Bracket(1_000_000, 10_000, 20_000)])
    >>> step_down_size(s, 30, 100, 500)  # notional 1,500,000; floor 1,000,000 = 20 lots: keep 19
    11
    """
    lots = abs(_int(size, "size", nonzero=True))
    mark = _int(mark, "mark", minimum=1)
    apl = _int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", minimum=1)
    index = schedule.bracket_index(lots * mark * apl)
    if index == 0:
        return None
    keep = ceil_div(schedule.brackets[index].floor, mark * apl) - 1
    return lots - keep


def _restore(
    size: int,
    mark: int,
    close_price: int,
    equity: int,
    atoms_per_tick_per_lot: int,
    fee_ppm: int,
    other_maintenance: int,
    bands: tuple[tuple[int, int, int], ...],
) -> int | None:
    """Shared by :func:`restore_size` and :func:`restore_size_in_schedule`; ``bands`` are
    ``(floor, maintenance_ppm, deduction scaled by PPM)``, lowest floor first."""
    total = abs(_int(size, "size", nonzero=True))
    side = _sign(size)
    mark = _int(mark, "mark", minimum=1)
    close_price = _int(close_price, "close_price", minimum=1)
    _int(equity, "equity")
    apl = _int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", minimum=1)
    fee_rate = _rate(fee_ppm, "fee_ppm", maximum=PPM)
    _int(other_maintenance, "other_maintenance", minimum=0)
    per_lot = mark * apl  # notional of one lot at the mark
    floors = [band[0] for band in bands]
    base = equity - other_maintenance

    def maintenance(lots: int) -> int:
        _, rate, deduction = bands[bisect_right(floors, lots * per_lot) - 1]
        return ceil_div(lots * per_lot * rate - deduction, PPM)

    def ok(n: int) -> bool:
        gain = n * apl * (close_price - mark) * side
        return base + gain - charge_ppm(n * close_price * apl, fee_rate) >= maintenance(total - n)

    if ok(0):
        return 0
    # Segments of n (lots closed) over which the remaining lots stay in one band, from n = 0 up.
    top = bisect_right(floors, total * per_lot) - 1
    n_start = 0
    for index in range(top, -1, -1):
        floor_notional, rate, deduction = bands[index]
        lowest_kept = ceil_div(floor_notional, per_lot)  # fewest lots still inside this band
        n_end = total - lowest_kept if index > 0 else total
        if n_end >= n_start:
            # exact (unrounded) h(n) = base + gain - fee - maintenance, linear on the segment
            slope = (
                apl * (close_price - mark) * side
                - Fraction(close_price * apl * fee_rate, PPM)
                + Fraction(per_lot * rate, PPM)
            )
            at_start = (
                base
                + n_start * apl * (close_price - mark) * side
                - Fraction(n_start * close_price * apl * fee_rate, PPM)
                - Fraction((total - n_start) * per_lot * rate - deduction, PPM)
            )
            found = _first_ok(n_start, n_end, at_start, slope, ok)
            if found is not None:
                return found
        n_start = max(n_start, n_end + 1)
    return None


def _first_ok(
    n_start: int, n_end: int, at_start: Fraction, slope: Fraction, ok: Callable[[int], bool]
) -> int | None:
    """The first ``n`` in ``[n_start, n_end]`` with ``ok(n)``, where ``ok`` is the rounded test of an
    exact linear ``h(n) = at_start + slope x (n - n_start)``: the two roundings (each less than
    one atom, each against the account) make ``ok(n)`` imply ``h(n) >= 0`` and ``h(n) >= 2`` imply
    ``ok(n)``, so only the lots where ``0 <= h(n) < 2`` need testing one by one."""

    def first_at_least(target: Fraction) -> int:  # smallest n with h(n) >= target, slope > 0
        return n_start + max(0, ceil((target - at_start) / slope))

    if slope > 0:
        low = first_at_least(Fraction(0))
        high = min(n_end, first_at_least(Fraction(2)))
        candidates: Iterable[int] = range(low, high + 1)
    elif slope == 0:
        if at_start < 0:
            return None
        candidates = range(n_start, n_end + 1)
    else:
        if at_start < 0:
            return None
        last = n_start + floor(at_start / -slope)  # h(n) >= 0 up to here
        candidates = range(n_start, min(n_end, last) + 1)
    for n in candidates:
        if ok(n):
            return n
    return None
