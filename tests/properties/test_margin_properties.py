"""Property: after any fill the cross-margin gate accepted, each side meets initial margin or is
no riskier than before (DESIGN.md invariant 5), and money and positions stay conserved.

Random limit and IOC orders of four thinly funded accounts, random mark moves and funding
payments, on a venue with margin rules, under each placement policy, with accounts in cross,
isolated or portfolio mode (portfolio margin: a stress grid on BTC with a floor). A watching
venue records each account's margin state just before and just after every fill that happens
(for an isolated account: the position's sub-account, and its main account after); the property
is checked on those, with the rule and the margin models built here, not taken from the gate.
An isolated account's main account must also keep non-negative equity: a top-up it cannot
afford is refused.
"""

from __future__ import annotations

from hypothesis import event, given
from hypothesis import strategies as st

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MODES, PLACEMENTS, MarginConfig
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
P = "BTC-PERP"
ACCOUNTS = ("a", "b", "c", "d")
PERP = Instrument.create(
    P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001", taker_fee_ppm=500
)
SCHEDULE = BracketSchedule.create([Bracket(0, 50_000, 100_000), Bracket(20_000_000_000, 100_000, 200_000)])
CROSS = CrossMargin("USDC", {P: PERP}, {P: SCHEDULE}, {"USDC": USDC}, {})
PORTFOLIO = PortfolioRules(
    ("BTC",), "stress", grid=StressGrid(("BTC",), (60_000,)), floor_ppm_of_gross=20_000
)


class Margin(tuple):
    """``(equity, initial, maintenance)`` with the names the invariant reads."""

    equity = property(lambda self: self[0])
    initial = property(lambda self: self[1])
    maintenance = property(lambda self: self[2])


def margin_of(venue: Venue, cross: CrossMargin, name: str) -> Margin:
    """An account's margin by its own mode's model, built here, not taken from the venue's gate."""
    account = venue.ledger.accounts[name]
    sizes = {s: p.size for s, p in account.positions.items()}
    model = PortfolioMargin(cross, PORTFOLIO) if name in venue.portfolio_accounts else cross
    return Margin(model.totals(account.balances, sizes, {s: venue.marks[s] for s in sizes}, {}))


class WatchedVenue(Venue):
    """Records (before, after) margin states of both accounts around every applied fill."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.observed: list[tuple] = []
        self.mains: list[int] = []

    def _on_fill(self, taker, maker, price, lots) -> None:
        names = [self._holder(n, taker.instrument) for n in (taker.account, maker.account)]
        before = [margin_of(self, CROSS, n) for n in names]
        super()._on_fill(taker, maker, price, lots)
        after = [margin_of(self, CROSS, n) for n in names]
        self.observed.extend(zip(before, after, strict=True))
        for name in (taker.account, maker.account):
            if name in self.sub_accounts:
                self.mains.append(CROSS.of(self.account(name), self.marks, {}).equity)

    def _holder(self, name: str, symbol: str) -> str:
        subs = self.sub_accounts.get(name)
        return subs[symbol].id if subs is not None else name


def initial_or_no_riskier(before, after) -> bool:
    """Invariant 5, written out independently of the gate: after meets initial margin, or the
    account had positions and closed them all, or its maintenance did not rise and its ratio of
    equity to maintenance did not fall."""
    meets_initial = after.equity >= after.initial
    closes_all = before.maintenance > 0 and after.maintenance == 0
    no_riskier = (
        before.maintenance > 0
        and after.maintenance <= before.maintenance
        and after.equity * before.maintenance >= before.equity * after.maintenance
    )
    return meets_initial or closes_all or no_riskier


ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("order"),
            st.sampled_from(ACCOUNTS),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(1, 1_000),
            st.integers(29_800, 30_200),
            st.sampled_from([TimeInForce.GTC, TimeInForce.IOC]),
        ),
        st.tuples(st.just("mark"), st.integers(27_000, 33_000)),
        st.tuples(st.just("funding"), st.integers(-5_000, 5_000)),
    ),
    min_size=10,
    max_size=80,
)


@given(
    ACTIONS,
    st.sampled_from(PLACEMENTS),
    st.lists(st.sampled_from(MODES), min_size=len(ACCOUNTS), max_size=len(ACCOUNTS)),
)
def test_every_fill_leaves_each_side_at_initial_or_no_riskier(actions, placement, modes) -> None:
    portfolio = PORTFOLIO if placement != "reserve" else None  # reservations are per position
    margin = MarginConfig("USDC", ((P, SCHEDULE),), placement=placement, portfolio=portfolio)
    venue = WatchedVenue(VenueConfig((USDC,), (PERP,), margin=margin))
    for name, mode in zip(ACCOUNTS, modes, strict=True):
        assert venue.open_account(0, name, mode).ok == (mode != "portfolio" or portfolio is not None)
        venue.deposit(0, name, "USDC", "2000")
    venue.set_mark_price(0, P, 30_000)
    for ts, action in enumerate(actions, 1):
        if action[0] == "mark":
            venue.set_mark_price(ts, P, action[1])
        elif action[0] == "funding":  # conservation (venue._check) holds through funding too
            assert venue.apply_funding(ts, P, action[1]).ok
        else:
            _, account, side, size, price, tif = action
            venue.submit(ts, account, P, side, size, price, tif=tif)
        venue._check()
    event(
        f"fills observed: {'none' if not venue.observed else 'some' if len(venue.observed) < 20 else 'many'}"
    )
    for before, after in venue.observed:
        assert initial_or_no_riskier(before, after), (before, after)
    assert all(equity >= 0 for equity in venue.mains), venue.mains


FUT = Instrument.create(
    "BTC-FUT", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
)
LEG_INSTRUMENTS = (P, "BTC-FUT")
RESTING = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS[1:]),
        st.sampled_from(LEG_INSTRUMENTS),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(50, 600),
        st.integers(29_900, 30_100),
    ),
    max_size=16,
)
LEGS = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 200), st.integers(29_900, 30_100)),
    min_size=1,
    max_size=2,
)


def _state(venue: Venue) -> tuple:
    return (
        {
            a.id: (dict(a.balances), {s: p.size for s, p in a.positions.items()})
            for a in venue.ledger.by_index
        },
        {s: (b.depth(100), sorted(b.orders)) for s, b in venue.books.items()},
        venue.next_order_id,
    )


@given(
    RESTING,
    LEGS,
    st.sampled_from(MODES),
    st.lists(st.integers(200, 5_000), min_size=len(ACCOUNTS), max_size=len(ACCOUNTS)),
)
def test_multi_leg_orders_fill_every_leg_in_full_or_change_nothing(resting, legs, mode, cash) -> None:
    """All or none, and the taker's combined result meets initial margin or is no riskier."""
    schedules = ((P, SCHEDULE), ("BTC-FUT", SCHEDULE))
    margin = MarginConfig("USDC", schedules, portfolio=PORTFOLIO)
    venue = Venue(VenueConfig((USDC,), (PERP, FUT), margin=margin))
    for name, amount in zip(ACCOUNTS, cash, strict=True):
        assert venue.open_account(0, name, mode if name == "a" else "cross").ok
        venue.deposit(0, name, "USDC", str(amount))
    for symbol in LEG_INSTRUMENTS:
        venue.set_mark_price(0, symbol, 30_000)
    for account, symbol, side, size, price in resting:
        venue.submit(1, account, symbol, side, size, price)
    cross = CrossMargin("USDC", {P: PERP, "BTC-FUT": FUT}, dict(schedules), {"USDC": USDC}, {})
    holders = [
        venue.ledger.accounts[h] for h in ["a", *(s.id for s in venue.sub_accounts.get("a", {}).values())]
    ]
    before_margin = [margin_of(venue, cross, h.id) for h in holders]
    before = _state(venue)
    orders = [
        (symbol, side, size, price)
        for symbol, (side, size, price) in zip(LEG_INSTRUMENTS, legs, strict=False)
    ]
    result = venue.submit_legs(2, "a", orders)
    venue._check()
    if not result.accepted:
        event(f"refused: {result.reason.name}")
        assert _state(venue) == before
        return
    event("accepted")
    assert [leg.filled for leg in result.legs] == [size for _, _, size, _ in orders]
    for old, account in zip(before_margin, holders, strict=True):
        new = margin_of(venue, cross, account.id)
        assert initial_or_no_riskier(old, new), (old, new)
