"""Router fan-out: DataFeedRouter.publish to 1, 10, 100 subscribers.

The raw baseline is the plain Python loop a hand-written fan-out would be (a list of
callbacks called in turn), measured in the same run.
"""

from __future__ import annotations

import time

from stockfish_core.models import DataType, MarketUpdate, PriceTick
from stockfish_core.router import DataFeedRouter

from benchmarks import common


def run_ours(n_subs: int, n_updates: int, updates: list[MarketUpdate]) -> float:
    router = DataFeedRouter()
    counter = [0]

    def cb(_: MarketUpdate) -> None:
        counter[0] += 1

    for _ in range(n_subs):
        router.subscribe(cb)
    publish = router.publish
    start = time.perf_counter()
    for i in range(n_updates):
        publish(updates[i & 1023])
    elapsed = time.perf_counter() - start
    assert counter[0] == n_subs * n_updates
    return n_updates / elapsed


def run_raw(n_subs: int, n_updates: int, updates: list[MarketUpdate]) -> float:
    counter = [0]

    def cb(_: MarketUpdate) -> None:
        counter[0] += 1

    callbacks = [cb] * n_subs
    start = time.perf_counter()
    for i in range(n_updates):
        update = updates[i & 1023]
        for c in callbacks:
            c(update)
    elapsed = time.perf_counter() - start
    assert counter[0] == n_subs * n_updates
    return n_updates / elapsed


def main() -> None:
    args = common.parse_args(__doc__ or "")
    repeats = 3 if args.mode == "quick" else 7
    updates = [MarketUpdate(DataType.PRICE_TICK, f"S{i % 100}", "bench",
                            PriceTick(f"S{i % 100}", bid=1.0, ask=1.1), i) for i in range(1024)]
    metrics = []
    for n_subs in (1, 10, 100):
        n_updates = (200_000 if args.mode == "full" else 40_000) // max(1, n_subs // 10)
        ours = [run_ours(n_subs, n_updates, updates) for _ in range(repeats)]
        raw = [run_raw(n_subs, n_updates, updates) for _ in range(repeats)]
        metrics.append(common.metric(f"fan-out to {n_subs} subscriber(s)", "upd/s", ours, raw,
                                     goal="(context: ratio to a bare loop)"))
    common.write("router", args, metrics)


if __name__ == "__main__":
    main()
