"""Isolated margin: each contract position of an account has its own collateral.

An isolated account is a main ledger account plus one *sub-account* per contract instrument
settled in the margin asset, named ``"<account>/<instrument>"`` (``/`` never appears in an
account id, so the names cannot collide). The sub-account holds the position and the
settlement-asset balance that margins it, and nothing else; the main account holds the
account's collateral (and its spot trades). Every movement between them is a ledger transfer,
so money stays conserved exactly.

Each sub-account is margined as a cross account that holds one position
(:mod:`exchange_sim.margin.cross`): its equity is its balance plus the position's value at the
mark, and only that equity can be lost on the position. A loss beyond it stays in the
sub-account as bad debt; it is never taken from the main account.

Margin moves between main and sub-account in three ways:

* **top-up** (:func:`top_up`), when a fill opens or increases the position (or flips it): the
  main account pays into the sub-account what the sub-account needs to meet initial margin after
  the fill, ``max(0, initial_after - equity_after)``. The main account must afford it: after
  paying it, it must still meet its own rule (its collateral equity at least zero, less any
  margin reserved for resting orders). A fill that reduces the position takes no top-up; it is
  checked by the per-fill rule on the sub-account alone.
* **release** when the position is closed: a positive remaining balance returns to the main
  account in the same fill.
* **margin transfer** by the user (``Venue.transfer_margin``): add collateral to a position to
  move its liquidation price away, or remove what is above its initial requirement.

This follows Binance's isolated margin mode (margin allocated per position from the wallet at
opening, added or removed by the user, the loss of a position limited to its margin), with one
simplification: Binance also releases margin in proportion when a position is reduced; here the
margin of a reduced position stays with it until the position is closed or the user removes it.
See ``docs/margin.md``, "Isolated margin".
"""

from __future__ import annotations

SEPARATOR = "/"


def sub_account_id(account_id: str, instrument: str) -> str:
    """The ledger id of ``account_id``'s isolated sub-account for ``instrument``.

    >>> sub_account_id("alice", "BTC-PERP")
    'alice/BTC-PERP'
    """
    return f"{account_id}{SEPARATOR}{instrument}"


def increases(size_before: int, size_after: int) -> bool:
    """Whether a fill taking the position from ``size_before`` to ``size_after`` lots opens,
    increases or flips it (and so needs initial margin for what it opens).

    >>> increases(0, 3), increases(3, 5), increases(3, 1), increases(3, -1), increases(3, 0)
    (True, True, False, True, False)
    """
    if size_after == 0:
        return False
    if size_before == 0 or (size_before > 0) != (size_after > 0):
        return True
    return abs(size_after) > abs(size_before)


def top_up(size_before: int, size_after: int, equity_after: int, initial_after: int) -> int:
    """Atoms the main account pays into the sub-account with this fill (see the module docstring).

    >>> top_up(0, 2, -60, 400)      # opening: equity after the fill -60 (the fee), initial 400
    460
    >>> top_up(2, 1, 150, 200)      # reducing: no top-up, the per-fill rule decides alone
    0
    >>> top_up(2, 3, 900, 600)      # increasing with enough margin already there
    0
    """
    if not increases(size_before, size_after):
        return 0
    return max(0, initial_after - equity_after)
