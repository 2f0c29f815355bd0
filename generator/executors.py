"""Executors: run a list of generation ids in this process or in a local process pool."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time

from tqdm import tqdm

from stylestudy.db.states import GenerationState
from stylestudy.generator.runner import (
    MethodCache,
    batches,
    run_group,
    run_local,
    status_of,
    worker_id,
)


def default_workers() -> int:
    """One worker per GPU, or one process on a CPU-only machine."""
    import torch

    return max(1, torch.cuda.device_count())


def _pool_worker(todo, device: str, allow_random: bool, retry: bool, gpu: int,
                 threads: int) -> None:
    import torch

    # share the cores: N processes with all cores each oversubscribe the CPU badly
    torch.set_num_threads(threads)
    methods, worker = MethodCache(device, allow_random, gpu), worker_id()
    while True:
        try:
            group = todo.get_nowait()
        except queue.Empty:
            return
        run_group(group, worker, methods, retry)


def run_pool(set_name: str, ids: list[int], workers: int, device: str = "auto",
             allow_random_weights: bool = False, retry_failed: bool = False,
             show_progress: bool = True) -> dict[str, int]:
    """Run ``ids`` with ``workers`` processes taking batches from one queue.

    Worker *i* uses GPU *i* (modulo the GPU count) for methods that prefer a GPU when
    ``device`` is ``auto``. With one worker everything runs in this process. Every row is
    claimed by compare-and-set, so nothing runs twice even beside other jobs on the same set.
    """
    bar = tqdm(total=len(ids), desc=f"generate {set_name}", unit="img",
               disable=not show_progress)
    if workers <= 1:
        with bar:
            return run_local(ids, MethodCache(device, allow_random_weights), retry_failed,
                             progress=bar)
    ctx = mp.get_context("spawn")
    todo = ctx.Queue()
    for group in batches(ids, methods=MethodCache(device, allow_random_weights)):
        todo.put(group)
    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = [ctx.Process(target=_pool_worker,
                         args=(todo, device, allow_random_weights, retry_failed, i, threads))
             for i in range(workers)]
    for p in procs:
        p.start()
    with bar:
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            now = status_of(ids)
            bar.update(now[GenerationState.DONE] + now[GenerationState.FAILED] - bar.n)
    # the ids were all waiting to run: what is not done or failed now, another job has
    after = status_of(ids)
    done, failed = after[GenerationState.DONE], after[GenerationState.FAILED]
    return {"done": done, "failed": failed, "skipped": len(ids) - done - failed}
