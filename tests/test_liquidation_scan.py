"""The health scan: a float64 prefilter that never misses an account below maintenance.

Hand-checked numbers (USDC has 6 decimals, so 1 USDC = 1,000,000 atoms; BTC has 8):

BTC-PERP has 500 atoms per tick per lot (tick 0.5 USDC, lot 0.001 BTC) and two brackets: 1% below
50,000 USDC of notional, 2.5% from there on (deduction 50,000 x (2.5% - 1%) = 750 USDC). BTC
counts as collateral at a 10% haircut. At a mark of 60,001 ticks (30,000.50 USDC) and a BTC index
of 30,000.000001 USDC:

- long 2,001 lots: value 2,001 x 60,001 x 500          = 60,031,000,500 atoms (band 1)
- maintenance: 60,031,000,500 x 2.5% - 750,000,000     = 750,775,012.5 -> 750,775,013 (rounded up)
- 0.12345678 BTC: 12,345,678 x 30,000,000,001 x 0.9 / 10**8 = 3,333,333,060.1 -> 3,333,333,060 (down)
- equity = USDC + 3,333,333,060 + 60,031,000,500, at maintenance when
  USDC = 750,775,013 - 3,333,333,060 - 60,031,000,500 = -62,613,558,547.

alice holds one atom less (below by one atom), bob exactly that (at maintenance: not below).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_sim.instruments import Instrument
from exchange_sim.liquidation.scan import REL_SLACK, HealthScan, exact_below
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.collateral import CollateralRule, collateral_value
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.units import PPM, Asset

USDC, BTC, ETH, DOGE = Asset("USDC", 6), Asset("BTC", 8), Asset("ETH", 18), Asset("DOGE", 8)
ASSETS = {a.symbol: a for a in (USDC, BTC, ETH, DOGE)}
M = 1_000_000  # atoms per USDC


def perp(symbol: str, tick: str, lot: str, settlement: Asset = USDC) -> Instrument:
    underlying = symbol.split("-")[0]
    return Instrument.create(
        symbol, kind="perpetual", underlying=underlying, settlement=settlement, tick_size=tick, lot_size=lot
    )


BTC_PERP = perp("BTC-PERP", "0.5", "0.001")  # 500 atoms per tick per lot
ETH_PERP = perp("ETH-PERP", "0.01", "0.01")  # 100
BTC_INVERSE = perp("BTC-BTCM", "0.5", "0.001", settlement=BTC)  # settled in BTC: not margined here
BTC_SPOT = Instrument.create(
    "BTC-USDC", kind="spot", underlying="BTC", settlement=USDC, base=BTC, tick_size="0.5", lot_size="0.001"
)
HAND_SCHEDULE = BracketSchedule.create([Bracket(0, 10_000, 20_000), Bracket(50_000 * M, 25_000, 50_000)])
HAND = CrossMargin(
    "USDC",
    {i.symbol: i for i in (BTC_PERP, BTC_SPOT)},
    {"BTC-PERP": HAND_SCHEDULE},
    {"USDC": USDC, "BTC": BTC},
    {"BTC": CollateralRule("BTC", 100_000)},
)
HAND_MARKS = {"BTC-PERP": 60_001}
HAND_PRICES = {"BTC": 30_000_000_001}
AT_MAINTENANCE = -62_613_558_547


def hand_account(usdc: int) -> tuple[dict[str, int], dict[str, int]]:
    return {"USDC": usdc, "BTC": 12_345_678}, {"BTC-PERP": 2_001}


def test_hand_checked_boundary() -> None:
    assert HAND_SCHEDULE.maintenance(60_031_000_500) == 750_775_013
    assert collateral_value(12_345_678, 8, 30_000_000_001, 100_000) == 3_333_333_060
    scan = HealthScan(HAND)
    accounts = {
        "alice": hand_account(AT_MAINTENANCE - 1),
        "bob": hand_account(AT_MAINTENANCE),
        "carol": hand_account(AT_MAINTENANCE + 1_000 * M),
    }
    for key, (balances, sizes) in accounts.items():
        scan.update(key, balances, sizes)
    assert HAND.totals(*accounts["alice"], HAND_MARKS, HAND_PRICES) == (
        750_775_012,
        HAND_SCHEDULE.initial(60_031_000_500),
        750_775_013,
    )
    candidates = scan.candidates(HAND_MARKS, HAND_PRICES)
    assert candidates[0] == "alice"
    assert "carol" not in candidates
    below = {key for key, account in accounts.items() if exact_below(HAND, *account, HAND_MARKS, HAND_PRICES)}
    assert below == {"alice"}  # bob, at maintenance exactly, is healthy
    # a mark one tick higher: alice gains 2,001 x 500 atoms, more than her requirement grows
    assert scan.candidates({"BTC-PERP": 60_002}, HAND_PRICES) == []


def test_flat_accounts_only_for_bad_debt() -> None:
    scan = HealthScan(HAND)
    scan.update("empty", {}, {})
    scan.update("cash", {"USDC": 5}, {})
    scan.update("zero", {"USDC": 0, "BTC": 0}, {"BTC-PERP": 0})
    scan.update("owes", {"USDC": -1}, {})
    scan.update("btc", {"USDC": -2_700, "BTC": 10}, {})  # 10 sats at 30,000 x 0.9 = 2,700 atoms
    scan.update("btc-short", {"USDC": -2_701, "BTC": 10}, {})
    assert scan.candidates(HAND_MARKS, {"BTC": 30_000_000_000}) == ["owes", "btc", "btc-short"]
    assert not exact_below(HAND, {"USDC": -2_700, "BTC": 10}, {}, HAND_MARKS, {"BTC": 30_000_000_000})


def test_what_totals_ignores_or_refuses() -> None:
    cross = CrossMargin(
        "USDC",
        {i.symbol: i for i in (BTC_PERP, BTC_INVERSE, BTC_SPOT, ETH_PERP)},
        {"BTC-PERP": HAND_SCHEDULE},  # ETH-PERP has no schedule: not margined
        {"USDC": USDC, "BTC": BTC, "ETH": ETH},
        {},
    )
    scan = HealthScan(cross)
    assert scan.instruments == ("BTC-PERP",)
    assert scan.assets == ("USDC", "BTC", "ETH")
    assert scan.nbytes == 1024 * (3 * 8 + 8 + 8 + 1)  # balances, sizes, stamps, portfolio flags
    # a position in an instrument settled in BTC is not margined in USDC (its mark is not read);
    # BTC without a rule counts for nothing when held, and in full when owed
    scan.update("a", {"USDC": 10, "BTC": 5}, {"BTC-BTCM": -(10**6)})
    assert scan.candidates({}, {"BTC": 3 * 10**7}) == []
    scan.update("b", {"USDC": 1, "BTC": -5}, {})  # owes 5 sats x 0.3 = 1.5 -> 2 atoms: equity -1
    with pytest.raises(KeyError):  # a held asset needs its price
        scan.candidates({}, {})
    assert scan.candidates({}, {"BTC": 3 * 10**7}) == ["b"]
    assert exact_below(cross, {"USDC": 1, "BTC": -5}, {}, {}, {"BTC": 3 * 10**7})
    for balances, sizes in (
        ({"DOGE": 1}, {}),  # an asset the venue does not list
        ({}, {"XRP-PERP": 1}),  # an instrument it does not list
        ({}, {"ETH-PERP": 1}),  # settled in USDC without brackets
        ({}, {"BTC-PERP": 2**63}),  # beyond int64
    ):
        with pytest.raises((KeyError, OverflowError)):
            scan.update("a", balances, sizes)
        with pytest.raises((KeyError, OverflowError)):
            scan.update("new", balances, sizes)
    assert "new" not in scan and len(scan) == 2
    assert scan.candidates({}, {"BTC": 3 * 10**7}) == ["b"]  # "a" unchanged
    scan.update("a", {"DOGE": 0}, {"ETH-PERP": 0, "XRP-PERP": 0, "BTC-PERP": 2**63 - 1})
    with pytest.raises(KeyError):
        scan.candidates({}, {"BTC": 1})  # BTC-PERP is held now: its mark is needed


def test_update_remove_reuse_and_order() -> None:
    scan = HealthScan(HAND, capacity=2)
    below = hand_account(AT_MAINTENANCE - 1)
    healthy = hand_account(AT_MAINTENANCE + M)
    for key in ("a", "b", "c", "d", "e"):  # grows 2 -> 4 -> 8
        scan.update(key, *below)
    assert scan.candidates(HAND_MARKS, HAND_PRICES) == ["a", "b", "c", "d", "e"]
    scan.remove("b")
    scan.remove("d")
    with pytest.raises(KeyError):
        scan.remove("d")
    assert len(scan) == 3 and "b" not in scan
    assert scan.candidates(HAND_MARKS, HAND_PRICES) == ["a", "c", "e"]
    scan.update("f", *below)  # reuses d's row, reported after e
    scan.update("b", *below)  # reuses b's old row, reported last
    scan.update("a", *healthy)  # overwritten in place
    assert scan.nbytes == 8 * (2 * 8 + 8 + 8 + 1)  # no growth: rows reused
    assert scan.candidates(HAND_MARKS, HAND_PRICES) == ["c", "e", "f", "b"]
    scan.update("a", *below)  # keeps its place
    assert scan.candidates(HAND_MARKS, HAND_PRICES) == ["a", "c", "e", "f", "b"]
    for key in ("a", "c", "e", "f", "b"):
        scan.remove(key)
    assert len(scan) == 0 and scan.candidates(HAND_MARKS, HAND_PRICES) == []


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcdefg"),
            st.booleans(),
            st.integers(-3 * M, 3 * M),
        ),
        max_size=40,
    )
)
def test_order_is_that_of_a_dict_of_live_keys(ops: list[tuple[str, bool, int]]) -> None:
    """Any sequence of updates and removes reports like a scan built afresh from a dict."""
    scan = HealthScan(HAND, capacity=1)
    model: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for key, remove, shift in ops:
        if remove and key in model:
            scan.remove(key)
            del model[key]
        else:
            account = hand_account(AT_MAINTENANCE + shift)
            scan.update(key, *account)
            model[key] = account
    fresh = HealthScan(HAND)
    for key, account in model.items():
        fresh.update(key, *account)
    got = scan.candidates(HAND_MARKS, HAND_PRICES)
    assert got == fresh.candidates(HAND_MARKS, HAND_PRICES)
    assert got == [k for k, a in model.items() if a[0]["USDC"] < AT_MAINTENANCE + 2]


# no false negatives ------------------------------------------------------------------------


def missed(scan: HealthScan, cross: CrossMargin, accounts, marks, prices) -> tuple[set[str], set[str]]:
    """``(below, candidates)``; the prefilter misses nothing when ``below <= candidates``.

    ``accounts``: key -> (balances, sizes), as given to :meth:`HealthScan.update`.
    """
    candidates = scan.candidates(marks, prices)
    assert len(set(candidates)) == len(candidates)
    below = {key for key, account in accounts.items() if exact_below(cross, *account, marks, prices)}
    missing = below - set(candidates)
    assert not missing, f"the prefilter missed {sorted(missing)}"
    return below, set(candidates)


def near_boundary(cross: CrossMargin, balances, sizes, marks, prices) -> bool:
    """Whether equity - maintenance is within the scan's slack (what a false positive may be):
    below ``k + 3 x REL_SLACK x S + 1`` with ``k`` the rounded terms, ``S`` the absolute terms."""
    equity, _, maintenance = cross.totals(balances, sizes, marks, prices)
    terms = [balances.get("USDC", 0)]
    for asset, amount in balances.items():
        if asset != "USDC" and amount:
            rule = cross.rules.get(asset)
            haircut = rule.haircut_ppm if rule else PPM
            terms.append(collateral_value(amount, cross.assets[asset].decimals, prices[asset], haircut))
    for symbol, size in sizes.items():
        inst = cross.instruments[symbol]
        if size and inst.settlement_asset == "USDC":
            terms.append(size * marks[symbol] * inst.atoms_per_tick_per_lot)
    rounded = sum(1 for a, b in balances.items() if a != "USDC" and b) + sum(1 for s in sizes.values() if s)
    return equity - maintenance < rounded + 1 + 3 * Fraction(REL_SLACK) * sum(abs(t) for t in terms)


BTC_VARIANTS = (perp("BTC-PERP", "0.000001", "1"), BTC_PERP, perp("BTC-PERP", "0.5", "100"))  # 1, 500, 5e7
ETH_VARIANTS = (perp("ETH-PERP", "0.000001", "1"), ETH_PERP, perp("ETH-PERP", "1", "1"))  # 1, 100, 1e6
sizes_st = st.one_of(st.just(0), st.integers(-1_000, 1_000), st.integers(-(10**12), 10**12))
amounts = st.one_of(st.just(0), st.integers(-(10**4), 10**4), st.integers(-(10**24), 10**24))


@st.composite
def schedule_st(draw, anchors: list[int]) -> BracketSchedule:
    """1 to 3 bands, sometimes up to 8 (the scan finds those by searchsorted); floors at random
    or within one atom of an account's notional."""
    near = [a + d for a in anchors for d in (-1, 0, 1) if a + d > 0]
    floor_st = (
        st.integers(1, 10**28) if not near else st.one_of(st.sampled_from(near), st.integers(1, 10**28))
    )
    floors = sorted(set(draw(st.lists(floor_st, max_size=draw(st.sampled_from((2, 2, 2, 7)))))))
    rates = sorted(
        draw(st.lists(st.integers(1, PPM - 1), min_size=len(floors) + 1, max_size=len(floors) + 1))
    )
    return BracketSchedule.create(Bracket(f, r, r) for f, r in zip([0, *floors], rates, strict=True))


@settings(max_examples=150)
@given(st.data())
def test_never_misses_an_account_below_maintenance(data: st.DataObject) -> None:
    btc_perp = data.draw(st.sampled_from(BTC_VARIANTS))
    eth_perp = data.draw(st.sampled_from(ETH_VARIANTS))
    instruments = {i.symbol: i for i in (btc_perp, eth_perp, BTC_INVERSE, BTC_SPOT)}
    marks = {
        "BTC-PERP": data.draw(st.integers(1, 10**9)),
        "ETH-PERP": data.draw(st.integers(1, 10**9)),
        "BTC-BTCM": 1,
    }
    prices = {
        "BTC": data.draw(st.integers(0, 10**14)),
        "ETH": data.draw(st.integers(0, 10**13)),
        "DOGE": data.draw(st.integers(0, 10**9)),
    }
    rules = {"BTC": CollateralRule("BTC", data.draw(st.integers(0, PPM)))}
    if data.draw(st.booleans()):
        rules["ETH"] = CollateralRule("ETH", data.draw(st.integers(0, PPM)))
    raw = data.draw(
        st.lists(
            st.tuples(
                st.fixed_dictionaries({"USDC": amounts, "BTC": amounts, "ETH": amounts, "DOGE": amounts}),
                st.fixed_dictionaries({"BTC-PERP": sizes_st, "ETH-PERP": sizes_st, "BTC-BTCM": sizes_st}),
                st.one_of(st.none(), st.integers(-3, 3)),
            ),
            min_size=1,
            max_size=12,
        )
    )
    schedules = {
        symbol: data.draw(
            schedule_st(
                [
                    abs(s[symbol]) * marks[symbol] * instruments[symbol].atoms_per_tick_per_lot
                    for _, s, _ in raw
                ]
            )
        )
        for symbol in ("BTC-PERP", "ETH-PERP")
    }
    cross = CrossMargin("USDC", instruments, schedules, ASSETS, rules)
    scan = HealthScan(cross, capacity=4)
    accounts = {}
    for n, (balances, sizes, target) in enumerate(raw):
        if target is not None:  # move the USDC balance so that equity - maintenance == target
            equity, _, maintenance = cross.totals(balances, sizes, marks, prices)
            balances = {**balances, "USDC": balances["USDC"] + target - (equity - maintenance)}
        accounts[f"acct{n}"] = (balances, sizes)
        scan.update(f"acct{n}", balances, sizes)
    below, candidates = missed(scan, cross, accounts, marks, prices)
    for key in candidates - below:
        assert near_boundary(cross, *accounts[key], marks, prices), key


@pytest.mark.parametrize("bands", [1, 2, 3, 6, 7, 9])
def test_band_lookup_at_every_floor(bands: int) -> None:
    """Positions of one lot below, at and above every floor, one atom below or at maintenance:
    short schedules (bands counted by comparisons) and long ones (searchsorted) alike."""
    per_lot = 60_001 * 500  # atoms per lot at HAND_MARKS
    schedule = BracketSchedule.create(
        Bracket(1_000 * i * per_lot, 5_000 + 2_500 * i, 5_000 + 2_500 * i) for i in range(bands)
    )
    cross = CrossMargin("USDC", {"BTC-PERP": BTC_PERP}, {"BTC-PERP": schedule}, {"USDC": USDC}, {})
    (compiled,) = HealthScan(cross)._schedules
    notionals = np.array(
        [float(b.floor + d) for b in schedule.brackets for d in (-1, 0, 1) if b.floor + d >= 0]
    )
    assert (compiled.band(notionals) == np.searchsorted(compiled.floors, notionals, side="right") - 1).all()
    scan = HealthScan(cross)
    accounts = {}
    for i in range(bands):
        for lots in (1_000 * i - 1, 1_000 * i, 1_000 * i + 1):
            for side in (1, -1):
                for target in (-1, 0):
                    sizes = {"BTC-PERP": side * lots}
                    equity, _, maintenance = cross.totals({}, sizes, HAND_MARKS, {})
                    balances = {"USDC": target - (equity - maintenance)}
                    key = f"{side * lots}@{target}"
                    accounts[key] = (balances, sizes)
                    scan.update(key, balances, sizes)
    below, candidates = missed(scan, cross, accounts, HAND_MARKS, {})
    assert below == {k for k in accounts if k.endswith("@-1")}  # "0@-1": flat, owes one atom
    assert candidates == set(accounts) - {"0@0"}  # at maintenance, flagged, unless flat at 0


def test_ordinary_accounts_few_false_positives() -> None:
    """2,000 accounts at leverage 1x to 200x: the candidates are the accounts below, give or take
    those within a few atoms of the boundary (none here)."""
    rng = np.random.default_rng(5)
    schedule = BracketSchedule.create(
        [Bracket(0, 5_000, 10_000), Bracket(50_000 * M, 10_000, 20_000), Bracket(250_000 * M, 25_000, 50_000)]
    )
    cross = CrossMargin(
        "USDC",
        {i.symbol: i for i in (BTC_PERP, ETH_PERP)},
        {"BTC-PERP": schedule, "ETH-PERP": schedule},
        ASSETS,
        {"BTC": CollateralRule("BTC", 100_000)},
    )
    marks = {"BTC-PERP": 60_000, "ETH-PERP": 200_000}
    prices = {"BTC": 30_000 * M}
    scan = HealthScan(cross)
    accounts = {}
    for n in range(2_000):
        sizes = {"BTC-PERP": int(rng.integers(-5_000, 5_001)), "ETH-PERP": int(rng.integers(-20_000, 20_001))}
        value = sum(
            size * marks[s] * cross.instruments[s].atoms_per_tick_per_lot for s, size in sizes.items()
        )
        notional = sum(
            abs(size) * marks[s] * cross.instruments[s].atoms_per_tick_per_lot for s, size in sizes.items()
        )
        btc = int(rng.integers(0, 10**7))
        leverage = float(rng.uniform(1, 200))
        balances = {"USDC": int(notional / leverage) - value - btc * 270, "BTC": btc}
        accounts[f"u{n}"] = (balances, sizes)
        scan.update(f"u{n}", balances, sizes)
    moved = {"BTC-PERP": 58_800, "ETH-PERP": 196_000}  # BTC and ETH down 2%
    for at in (marks, moved):
        below, candidates = missed(scan, cross, accounts, at, prices)
        assert 20 < len(below) < 1_000
        assert candidates == below
