"""Property: after any fill the cross-margin gate accepted, each side meets initial margin or is
no riskier than before (DESIGN.md invariant 5), and money and positions stay conserved.

Random limit and IOC orders of four thinly funded accounts, and random mark moves, on a venue
with margin rules. A watching venue records each account's margin state just before and just
after every fill that happens; the property is checked on those, with the rule written out here
independently of the gate's code.
"""

from __future__ import annotations

from hypothesis import event, given
from hypothesis import strategies as st

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.cross import CrossMargin
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


class WatchedVenue(Venue):
    """Records (before, after) margin states of both accounts around every applied fill."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.observed: list[tuple] = []

    def _on_fill(self, taker, maker, price, lots) -> None:
        names = (taker.account, maker.account)
        before = [CROSS.of(self.account(n), self.marks, {}) for n in names]
        super()._on_fill(taker, maker, price, lots)
        after = [CROSS.of(self.account(n), self.marks, {}) for n in names]
        self.observed.extend(zip(before, after, strict=True))


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
    ),
    min_size=10,
    max_size=80,
)


@given(ACTIONS)
def test_every_fill_leaves_each_side_at_initial_or_no_riskier(actions) -> None:
    config = VenueConfig((USDC,), (PERP,), margin=MarginConfig("USDC", ((P, SCHEDULE),)))
    venue = WatchedVenue(config)
    for name in ACCOUNTS:
        venue.open_account(0, name)
        venue.deposit(0, name, "USDC", "2000")
    venue.set_mark_price(0, P, 30_000)
    for ts, action in enumerate(actions, 1):
        if action[0] == "mark":
            venue.set_mark_price(ts, P, action[1])
        else:
            _, account, side, size, price, tif = action
            venue.submit(ts, account, P, side, size, price, tif=tif)
        venue._check()
    event(
        f"fills observed: {'none' if not venue.observed else 'some' if len(venue.observed) < 20 else 'many'}"
    )
    for before, after in venue.observed:
        meets_initial = after.equity >= after.initial
        closes_all = before.maintenance > 0 and after.maintenance == 0
        no_riskier = (
            before.maintenance > 0
            and after.maintenance <= before.maintenance
            and after.equity * before.maintenance >= before.equity * after.maintenance
        )
        assert meets_initial or closes_all or no_riskier, (before, after)
