"""The ledger: every movement of money is a double-entry transfer between accounts.

Money enters only by :meth:`Ledger.deposit` and leaves only by :meth:`Ledger.withdraw`; every
other movement is a transfer with equal and opposite entries. So, for every asset,

    deposited - withdrawn == sum of all account balances

exactly, which :meth:`Ledger._check` asserts. Balances may go negative (a long position bought
on margin has a negative quote balance; an account with negative *equity* is bad debt).

:meth:`Ledger.settle_trade` applies one fill: the full quote amount from buyer to seller, both
positions, and both fees to or from :data:`~exchange_sim.accounts.FEE_ACCOUNT`. It computes every
new value first and then assigns them, so it either applies in full or not at all.

It also keeps each contract's *open interest*, :attr:`Ledger.open_interest`: the sum of the
positive (long) position sizes of all accounts, in lots, as dYdX v4 counts it ("total size of open
long contracts"). Positions net to zero, so it equals the sum of the short sizes too. It is updated
by the same compute-then-commit step (a few integer operations per fill) and
:meth:`Ledger._check` recomputes it. Open-interest-dependent initial margin reads it
(:mod:`exchange_sim.margin.open_interest`).
"""

from __future__ import annotations

from exchange_sim.accounts import FEE_ACCOUNT, Account, Position, position_after
from exchange_sim.instruments import Instrument


class Ledger:
    """All accounts (user and system), their balances and positions, and the money totals."""

    __slots__ = ("accounts", "by_index", "deposited", "fees", "open_interest", "touched", "withdrawn")

    def __init__(self, assets: list[str]) -> None:
        self.accounts: dict[str, Account] = {}
        self.by_index: list[Account] = []
        self.deposited: dict[str, int] = dict.fromkeys(assets, 0)
        self.withdrawn: dict[str, int] = dict.fromkeys(assets, 0)
        self.open_interest: dict[str, int] = {}
        """Lots of open long positions per contract instrument (absent: none ever traded)."""
        self.fees = self.open(FEE_ACCOUNT)
        self.touched: list[Account] | None = None
        """When a list (a liquidation engine keeps a health scan), every account whose balances or
        positions change is appended to it; the engine reads and clears it. ``None``: not kept."""

    def open(self, account_id: str) -> Account:
        """Open an account (the caller has validated the id). Indexes follow opening order."""
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} exists")
        account = Account(account_id, len(self.by_index))
        self.accounts[account_id] = account
        self.by_index.append(account)
        return account

    def deposit(self, account: Account, asset: str, amount: int) -> None:
        """Money enters the venue (``amount > 0`` atoms)."""
        self.deposited[asset] += amount
        account.balances[asset] = account.balances.get(asset, 0) + amount
        account.stamp += 1
        if self.touched is not None:
            self.touched.append(account)

    def withdraw(self, account: Account, asset: str, amount: int) -> None:
        """Money leaves the venue (``amount > 0`` atoms; the caller checked it may)."""
        self.withdrawn[asset] += amount
        account.balances[asset] = account.balances.get(asset, 0) - amount
        account.stamp += 1
        if self.touched is not None:
            self.touched.append(account)

    def transfer(self, source: Account, dest: Account, asset: str, amount: int) -> None:
        """Move ``amount`` atoms from ``source`` to ``dest`` (one debit, one credit)."""
        if source is dest:
            return
        new_source = source.balances.get(asset, 0) - amount
        new_dest = dest.balances.get(asset, 0) + amount
        source.balances[asset] = new_source
        dest.balances[asset] = new_dest
        source.stamp += 1
        dest.stamp += 1
        if self.touched is not None:
            self.touched += (source, dest)

    def settle_trade(
        self,
        inst: Instrument,
        buyer: Account,
        seller: Account,
        price: int,
        lots: int,
        buyer_fee: int,
        seller_fee: int,
    ) -> None:
        """Apply one fill of ``lots`` at ``price`` ticks, all or nothing.

        Entries (settlement asset, atoms; ``N = price x lots x atoms_per_tick_per_lot``):
        buyer -N, seller +N; buyer -buyer_fee, seller -seller_fee, fee account +both (a negative
        fee is a rebate paid by the fee account). Positions: buyer +lots, seller -lots.
        Open interest: changes by the change in each side's long size (none for a self-trade).
        """
        asset = inst.settlement_asset
        symbol = inst.symbol
        notional = price * lots * inst.atoms_per_tick_per_lot
        # compute --------------------------------------------------------------------------
        bpos = buyer.positions.get(symbol)
        if bpos is None:
            b_old = 0
            b_new = (lots, notional, 0)
        else:
            b_old = bpos.size
            b_new = position_after(b_old, bpos.cost, bpos.realized, lots, notional)
        b_bal = buyer.balances.get(asset, 0) - notional - buyer_fee
        oi = self.open_interest.get(symbol, 0)
        if seller is buyer:
            s_new = position_after(*b_new, -lots, -notional)
            s_bal = b_bal + notional - seller_fee
        else:
            spos = seller.positions.get(symbol)
            if spos is None:
                s_old = 0
                s_new = (-lots, -notional, 0)
            else:
                s_old = spos.size
                s_new = position_after(s_old, spos.cost, spos.realized, -lots, -notional)
            s_bal = seller.balances.get(asset, 0) + notional - seller_fee
            # open interest moves by the change in each side's long size
            b_size, s_size = b_new[0], s_new[0]
            if b_size > 0:
                oi += b_size
            if b_old > 0:
                oi -= b_old
            if s_size > 0:
                oi += s_size
            if s_old > 0:
                oi -= s_old
        fees = self.fees
        f_bal = fees.balances.get(asset, 0) + buyer_fee + seller_fee
        # commit: plain assignments only --------------------------------------------------------
        buyer.balances[asset] = b_bal
        seller.balances[asset] = s_bal
        fees.balances[asset] = f_bal
        buyer.stamp += 1
        seller.stamp += 1
        if self.touched is not None:
            self.touched += (buyer, seller)
        self.open_interest[symbol] = oi
        if seller is buyer:
            _assign(buyer, symbol, s_new)
        else:
            _assign(buyer, symbol, b_new)
            _assign(seller, symbol, s_new)

    def settle_spot(
        self,
        inst: Instrument,
        buyer: Account,
        seller: Account,
        price: int,
        lots: int,
        buyer_fee: int,
        seller_fee: int,
    ) -> None:
        """Apply one spot fill, all or nothing: the pair's two assets change hands, no position.

        Entries: quote (settlement) asset ``N = price x lots x atoms_per_tick_per_lot`` from
        buyer to seller; base asset ``lots x base_atoms_per_lot`` from seller to buyer; fees in
        the quote asset to the fee account, as for a contract.
        """
        quote, base = inst.settlement_asset, inst.underlying
        notional = price * lots * inst.atoms_per_tick_per_lot
        delivered = lots * inst.base_atoms_per_lot
        fees = self.fees
        # compute (a self-trade nets out: same account on both sides) ----------------------------
        b_quote = buyer.balances.get(quote, 0) - notional - buyer_fee
        b_base = buyer.balances.get(base, 0) + delivered
        if seller is buyer:
            s_quote, s_base = b_quote + notional - seller_fee, b_base - delivered
        else:
            s_quote = seller.balances.get(quote, 0) + notional - seller_fee
            s_base = seller.balances.get(base, 0) - delivered
        f_quote = fees.balances.get(quote, 0) + buyer_fee + seller_fee
        # commit ------------------------------------------------------------------------------
        buyer.balances[quote] = b_quote
        buyer.balances[base] = b_base
        seller.balances[quote] = s_quote
        seller.balances[base] = s_base
        fees.balances[quote] = f_quote
        buyer.stamp += 1
        seller.stamp += 1
        if self.touched is not None:
            self.touched += (buyer, seller)

    def settle_positions(self, inst: Instrument, price: int) -> list[tuple[Account, int, int]]:
        """Close every position in ``inst`` at ``price`` ticks (a dated future's expiry), all or
        nothing: each holder receives ``size x price x atoms_per_tick_per_lot`` (a long receives,
        a short pays), as if it sold (bought back) its position at ``price``. Because positions
        net to zero, the amounts do too: no money enters or leaves. Returns ``(account, size,
        amount)`` per holder, in ledger order. O(accounts)."""
        symbol, asset = inst.symbol, inst.settlement_asset
        apl = inst.atoms_per_tick_per_lot
        # compute --------------------------------------------------------------------------
        closing = []
        for account in self.by_index:
            position = account.positions.get(symbol)
            if position is None or not position.size:
                continue
            amount = position.size * price * apl
            after = position_after(position.size, position.cost, position.realized, -position.size, -amount)
            closing.append((account, position, after, account.balances.get(asset, 0) + amount, amount))
        # commit: plain assignments only --------------------------------------------------------
        out = []
        for account, position, after, balance, amount in closing:
            out.append((account, position.size, amount))
            account.balances[asset] = balance
            position.size, position.cost, position.realized = after
            account.stamp += 1
            if self.touched is not None:
                self.touched.append(account)
        if symbol in self.open_interest:
            self.open_interest[symbol] = 0
        return out

    # invariants --------------------------------------------------------------------------

    def totals(self, asset: str) -> int:
        """Sum of every account's balance of ``asset``."""
        return sum(a.balances.get(asset, 0) for a in self.by_index)

    def net_position(self, instrument: str) -> int:
        return sum(a.positions[instrument].size for a in self.by_index if instrument in a.positions)

    def long_size(self, instrument: str) -> int:
        """Sum of the positive position sizes in ``instrument`` (lots), recomputed: O(accounts)."""
        return sum(
            a.positions[instrument].size
            for a in self.by_index
            if instrument in a.positions and a.positions[instrument].size > 0
        )

    def _check(self, instruments: list[str] | None = None) -> None:
        """Assert money conservation per asset, and per instrument zero net position and open
        interest equal to the recomputed sum of long sizes."""
        for asset in self.deposited:
            expected = self.deposited[asset] - self.withdrawn[asset]
            total = self.totals(asset)
            assert total == expected, f"{asset}: balances sum {total} != deposits - withdrawals {expected}"
        for account in self.by_index:
            assert set(account.balances) <= set(self.deposited), f"{account.id}: unknown asset balance"
            assert self.accounts[account.id] is account
        for symbol in instruments or []:
            net = self.net_position(symbol)
            assert net == 0, f"{symbol}: positions sum to {net}, not 0"
            longs, tracked = self.long_size(symbol), self.open_interest.get(symbol, 0)
            assert tracked == longs, f"{symbol}: open interest {tracked} != sum of long sizes {longs}"


def _assign(account: Account, symbol: str, state: tuple[int, int, int]) -> None:
    pos = account.positions.get(symbol)
    if pos is None:
        account.positions[symbol] = Position(*state)
    else:
        pos.size, pos.cost, pos.realized = state
