"""Ray executor: one task per generation; the driver alone talks to the database.

The driver claims each row (compare-and-set, as every executor does), ships the input
pixels through Ray's object store and stores each output as soon as its task finishes.
Workers only compute, so they need neither the database nor the asset store. A worker that
dies mid-task is retried by Ray (``max_retries``); the row stays claimed by the driver
meanwhile, so it is neither lost nor run twice. A driver killed with kill -9 leaves claims
of a dead process, which the next run takes over.
"""

from __future__ import annotations

import os
from typing import Any

from tqdm import tqdm

from stylestudy.errors import UserError
from stylestudy.generator import method as registry
from stylestudy.generator.command import CommandFailed
from stylestudy.generator.runner import (
    Job,
    MethodCache,
    claim,
    execute,
    finish,
    load_job,
    worker_id,
)

#: Ray retries a task this many times when its worker process dies
MAX_RETRIES = 3
#: how many tasks are in flight at once, per available CPU/GPU slot
INFLIGHT_PER_SLOT = 2

_methods: MethodCache | None = None


def _remote_execute(job: Job, device: str, allow_random: bool) -> tuple[Any, dict]:
    """Ray task body: run one job in a worker, reusing set-up methods across tasks."""
    global _methods
    if _methods is None or (_methods.device, _methods.allow_random_weights) != (device,
                                                                               allow_random):
        _methods = MethodCache(device, allow_random)
    image, prov = execute(job, _methods)
    prov["executor"] = {"kind": "ray", "worker_pid": os.getpid()}
    return image, prov


def resources_for(cls: type[registry.Method], device: str, gpus_in_cluster: float) -> dict:
    """Ray resources for one task of ``cls``: a GPU when it prefers one and one exists."""
    use_gpu = device.startswith("cuda") or (device == "auto" and cls.prefers_gpu
                                            and gpus_in_cluster > 0)
    res: dict[str, Any] = {"num_cpus": cls.num_cpus, "num_gpus": 1 if use_gpu else 0}
    if cls.memory_bytes:
        res["memory"] = cls.memory_bytes
    return res


def job_resources(job: Job, device: str, gpus_in_cluster: float) -> dict:
    """Ray resources for one job: a command's task takes one CPU and the GPUs it asks for."""
    if job.command is None:
        return resources_for(registry.get(job.method), device, gpus_in_cluster)
    gpus = int(job.command.get("gpus", 0))
    return {"num_cpus": 1, "num_gpus": gpus if gpus and device != "cpu" else 0}


def run_ray(set_name: str, ids: list[int], device: str = "auto",
            allow_random_weights: bool = False, retry_failed: bool = False,
            show_progress: bool = True, address: str | None = None) -> dict[str, int]:
    """Run ``ids`` as Ray tasks (``address``: a running cluster; default a local instance)."""
    try:
        import ray
    except ImportError:
        raise UserError("the Ray executor needs Ray: pip install 'stylestudy[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        # without an address, always a private local instance: never attach to a cluster
        # some other process happened to leave behind
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local",
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        return _drive(ray, set_name, ids, device, allow_random_weights, retry_failed,
                      show_progress)
    finally:
        if started_here:
            ray.shutdown()


def _drive(ray, set_name, ids, device, allow_random, retry_failed, show_progress):
    cluster = ray.cluster_resources()
    slots = int(cluster.get("CPU", 1) + cluster.get("GPU", 0))
    remote = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(_remote_execute)
    worker = worker_id()
    tally = {"done": 0, "failed": 0, "skipped": 0}
    pending = list(ids)
    inflight: dict[Any, int] = {}
    bar = tqdm(total=len(ids), desc=f"generate {set_name} (ray)", unit="img",
               disable=not show_progress)

    def submit() -> None:
        while pending and len(inflight) < max(1, slots * INFLIGHT_PER_SLOT):
            gen_id = pending.pop(0)
            if not claim(gen_id, worker, retry_failed):
                tally["skipped"] += 1
                bar.update(1)
                continue
            try:
                job = load_job(gen_id)
                opts = job_resources(job, device, cluster.get("GPU", 0))
            except UserError as exc:
                finish(gen_id, worker, None, None, error=exc.message)
                tally["failed"] += 1
                bar.update(1)
                continue
            ref = remote.options(**opts).remote(job, device, allow_random)
            inflight[ref] = gen_id

    with bar:
        submit()
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            gen_id = inflight.pop(ready[0])
            try:
                image, prov = ray.get(ready[0])
                state = "done" if finish(gen_id, worker, image, prov) else "skipped"
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) else exc
                msg = cause.message if isinstance(cause, UserError | CommandFailed) else (
                    f"{type(cause).__name__}: {cause}")
                record = cause.record if isinstance(cause, CommandFailed) else None
                finish(gen_id, worker, None, record, error=msg)
                state = "failed"
            except ray.exceptions.RayError as exc:  # worker died more than MAX_RETRIES times
                finish(gen_id, worker, None, None, error=f"ray: {type(exc).__name__}: {exc}")
                state = "failed"
            tally[state] += 1
            bar.update(1)
            bar.set_postfix(tally, refresh=False)
            submit()
    return tally
