"""Cut leases in the pool: claimed in a slot, so a 429 never reaches them; a lease held
elsewhere sends the slot back while the pool waits for that cut."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from pool.errors import Preempted, Saturated
from pool.store.directory import DirectoryStore
from pool.uncancellable import await_uncancellable
from tests.pool.conftest import MakePool, clip, eventually

pytestmark = pytest.mark.anyio

SLOW = 'sleep 2\nexec "$REAL" "$@"'


class TableLeases:
    """The cut_leases table's rule (db/leases.py) in memory, one table shared by the
    pools of a test; records the keys each holder tried to claim.

    Like origin/leases.py, a claim is never cancelled from outside: it finishes,
    then the cancellation goes on. With a ``gate``, claims wait for it first.
    """

    def __init__(self, table: dict[str, str], holder: str) -> None:
        self.table = table
        self.holder = holder
        self.claimed: list[str] = []
        self.gate: asyncio.Event | None = None

    async def claim(self, key: str) -> bool:
        self.claimed.append(key)
        return await await_uncancellable(asyncio.ensure_future(self._claim(key)))

    async def _claim(self, key: str) -> bool:
        if self.gate is not None:
            await self.gate.wait()
        return self.table.setdefault(key, self.holder) == self.holder

    async def release(self, key: str) -> None:
        if self.table.get(key) == self.holder:
            del self.table[key]


async def test_a_request_refused_a_slot_never_claims_a_lease(
    make_pool: MakePool,
    sample_no_bframes: Path,
    tmp_path: Path,
    wrapper_script: Callable[[str, str], str],
) -> None:
    store = DirectoryStore(tmp_path / "store")
    table: dict[str, str] = {}
    leases = TableLeases(table, "a")
    pool = await make_pool(
        store=store, leases=leases, max_processes=1, queue_timeout_s=0.05,
        ffmpeg=wrapper_script("slow-ffmpeg", SLOW),
    )  # fmt: skip
    first = clip(sample_no_bframes, "2", "6", clip_id=1)
    cutting = asyncio.create_task(pool.fetch_file(first))
    await eventually(lambda: pool.status().pids != ())
    with pytest.raises(Saturated):
        await pool.fetch_file(clip(sample_no_bframes, "2", "4", clip_id=2))
    assert leases.claimed == [first.cache_key]
    assert table == {first.cache_key: "a"}  # held while it cuts
    assert (await cutting).cache == "miss"
    await eventually(lambda: table == {})  # given back once stored
    assert store.contains(first.cache_key)


async def test_a_lease_held_elsewhere_gives_the_slot_back_until_the_clip_is_stored(
    make_pool: MakePool,
    sample_no_bframes: Path,
    tmp_path: Path,
    wrapper_script: Callable[[str, str], str],
) -> None:
    store = DirectoryStore(tmp_path / "store")
    table: dict[str, str] = {}
    holder = await make_pool(
        store=store, leases=TableLeases(table, "a"), cache_dir=tmp_path / "a",
        ffmpeg=wrapper_script("slow-ffmpeg", SLOW),
    )  # fmt: skip
    waiter_leases = TableLeases(table, "b")
    waiter = await make_pool(
        store=store, leases=waiter_leases, cache_dir=tmp_path / "b",
        max_processes=1, queue_timeout_s=0.0,
    )  # fmt: skip
    wanted = clip(sample_no_bframes, "2", "6", clip_id=1)
    cutting = asyncio.create_task(holder.fetch_file(wanted))
    await eventually(lambda: wanted.cache_key in table)
    waiting = asyncio.create_task(waiter.fetch_file(wanted))
    await eventually(
        lambda: wanted.cache_key in waiter_leases.claimed and waiter.status().active == 0
    )
    # The waiter's one slot is free while it waits: another clip is cut at
    # once, with a queue timeout of 0.
    other = await waiter.fetch_file(clip(sample_no_bframes, "2", "4", clip_id=2))
    assert other.cache == "miss"
    assert not cutting.done()
    copied = await waiting
    assert copied.cache == "store"
    assert (await cutting).cache == "miss"
    assert waiter.fleet is not None
    assert waiter.fleet.waits == {"stored": 1, "claimed": 0, "gave_up": 0}
    assert waiter.runs_started == 1  # the other clip's
    await eventually(lambda: table == {})


async def test_a_warm_run_preempted_while_it_claims_gives_the_lease_back(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path
) -> None:
    table: dict[str, str] = {}
    leases = TableLeases(table, "a")
    leases.gate = asyncio.Event()
    pool = await make_pool(
        store=DirectoryStore(tmp_path / "store"), leases=leases,
        max_processes=1, queue_timeout_s=0.0,
    )  # fmt: skip
    warm_request = clip(sample_no_bframes, "2", "6", clip_id=1)
    warming = asyncio.create_task(pool.warm(warm_request))
    await eventually(lambda: leases.claimed == [warm_request.cache_key])  # in its slot
    request = asyncio.create_task(pool.fetch_file(clip(sample_no_bframes, "2", "4", clip_id=2)))
    await eventually(lambda: pool.slots.preemptions == 1)
    leases.gate.set()  # the warm run's claim gets the lease after it was preempted
    with pytest.raises(Preempted):
        await warming
    assert (await request).cache == "miss"
    await eventually(lambda: table == {})  # neither lease outlives its run
