"""The one runner of independent tasks in porevae: this process, local processes, or Dask.

Every command that cuts its work into independent tasks (``porevae ensemble``: realizations;
``porevae generate --dask``: chunks of a volume) runs them through a :class:`Runner`::

    with Runner(jobs=args.jobs, dask=args.dask) as run:
        model = run.share(payload)                  # sent once per worker (Dask), else as is
        for k, result in run.map(task, [(model, i) for i in items]):
            ...                                     # k: index of the call, in completion order

Where the tasks run (the same results, bit for bit, wherever they run: a task must depend on its
arguments only, never on the worker it lands on):

=========================== ==============================================================
``jobs=1, dask=None``       this process, one call after the other, lazily, in order
``jobs=N > 1, dask=None``   ``N`` local worker processes (``concurrent.futures``, ``spawn``)
``dask="local"``            a ``distributed.LocalCluster`` of ``jobs`` single-threaded worker
                            processes, started here and closed on exit
``dask="tcp://host:8786"``  the Dask cluster of that scheduler (``jobs`` must be 1)
``dask=client``             an existing ``distributed.Client`` (left open on exit)
=========================== ==============================================================

Rules of the road:

* ``fn`` and its arguments must pickle (module-level functions, plain data): the process pool
  starts workers with ``spawn``, so a script calling a parallel porevae function needs the usual
  ``if __name__ == "__main__":`` guard. Workers on other machines (Dask) need the files the
  tasks name on a file system they share.
* Each local worker process runs a watchdog thread that ends it when its parent is gone, so
  killing the coordinating process (even ``kill -9``) leaves no idle workers behind.
* :meth:`Runner.map` yields results as tasks complete; the first task that raises ends the map
  with its exception, and tasks not yet started are cancelled. Closing the map early (``break``)
  cancels the rest as well.
* Pools and clusters start at the first :meth:`~Runner.map` or :meth:`~Runner.share` that needs
  them (a map of one call runs in this process), and stop when the ``with`` block ends.

Dask needs the optional ``dask`` extra (``pip install 'porevae[dask]'``): one clear ImportError
otherwise, raised when the runner is created, before any work.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any

from porevae._validation import check_int

DEFAULT_CHUNK = 16     # items per task of a command that cuts its work (ensemble realizations)
WATCHDOG_PERIOD = 0.5  # s between a local worker's checks that its parent still runs
LOCAL = "local"        # dask="local": start a LocalCluster here


def _watch_parent(parent: int) -> None:
    """Worker initializer: a daemon thread that ends this process once ``parent`` is gone."""
    def watch():
        while os.getppid() == parent:
            time.sleep(WATCHDOG_PERIOD)
        os._exit(1)

    threading.Thread(target=watch, name="porevae-parent-watchdog", daemon=True).start()


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the Dask path needs the optional 'dask' extra: "
                          "pip install 'porevae[dask]'") from exc
    return distributed


class Runner:
    """Run independent calls of one function here, on local processes or on a Dask cluster.

    Parameters
    ----------
    jobs : int
        Local worker processes (>= 1; 1 = this process), or the workers of ``dask="local"``.
    dask : None, "local", str or distributed.Client
        None: local (``jobs``); ``"local"``: a LocalCluster of ``jobs`` workers started here;
        a scheduler address (``"tcp://host:8786"``): that cluster; a ``distributed.Client``:
        that client (not closed by the runner). With a remote cluster ``jobs`` must be 1 (the
        cluster has its own workers).

    Use it as a context manager (``with Runner(...) as run``) so that pools, clusters and
    clients are stopped, also on errors and Ctrl-C.
    """

    def __init__(self, jobs: int = 1, dask=None):
        self.jobs = check_int(jobs, "jobs", 1)
        self.dask = dask
        self._pool: ProcessPoolExecutor | None = None
        self._client = None
        self._cluster = None
        if dask is None:
            return
        distributed = _import_distributed()
        if isinstance(dask, distributed.Client):
            self._client = dask
        elif not isinstance(dask, str) or not dask.strip():
            raise TypeError(f"dask must be 'local', a scheduler address or a "
                            f"distributed.Client, got {dask!r}")
        if dask != LOCAL and jobs > 1:
            raise ValueError(f"give jobs > 1 or a Dask cluster, not both (jobs={jobs}, "
                             f"dask={dask!r}); jobs sets the workers of dask='local' only")

    @property
    def where(self) -> str:
        """Where the tasks run, in words (for a log line)."""
        if self.dask is None:
            return "this process" if self.jobs == 1 else f"{self.jobs} local processes"
        if self.dask == LOCAL:
            return f"a local Dask cluster of {self.jobs} worker(s)"
        if isinstance(self.dask, str):
            return f"the Dask cluster at {self.dask}"
        return f"the Dask cluster of {self.dask.scheduler.address}"

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the pool, and the client and cluster this runner started (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None and self._client is not self.dask:
            self._client.close()
        self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _dask_client(self):
        if self._client is None:
            distributed = _import_distributed()
            if self.dask == LOCAL:
                self._cluster = distributed.LocalCluster(
                    n_workers=self.jobs, threads_per_worker=1, processes=True,
                    dashboard_address=None)
                self._client = distributed.Client(self._cluster)
            else:
                self._client = distributed.Client(self.dask)
        return self._client

    def share(self, value):
        """``value`` as a task argument sent once per worker: a Dask future of it, broadcast
        to every worker; locally, ``value`` itself."""
        if self.dask is None:
            return value
        return self._dask_client().scatter(value, broadcast=True, hash=False)

    def map(self, fn: Callable, calls: Iterable[tuple]) -> Iterator[tuple[int, Any]]:
        """Yield ``(k, fn(*calls[k]))`` for every argument tuple, in completion order.

        ``calls`` is consumed at once (the calls are all submitted before the first result).
        In this process (``jobs=1`` and no Dask, or a single call without Dask) the calls run
        in order, one per ``next()``.
        """
        calls = [tuple(c) for c in calls]
        if self.dask is not None:
            yield from self._map_dask(fn, calls)
        elif self.jobs == 1 or len(calls) <= 1:
            for k, args in enumerate(calls):
                yield k, fn(*args)
        else:
            yield from self._map_pool(fn, calls)

    def _map_pool(self, fn, calls):
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs,
                                             mp_context=get_context("spawn"),
                                             initializer=_watch_parent,
                                             initargs=(os.getpid(),))
        pending = {self._pool.submit(fn, *args): k for k, args in enumerate(calls)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    k = pending.pop(fut)
                    yield k, fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def _map_dask(self, fn, calls):
        distributed = _import_distributed()
        client = self._dask_client()
        futures = {client.submit(fn, *args, pure=False): k for k, args in enumerate(calls)}
        try:
            for fut in distributed.as_completed(futures):
                result = fut.result()
                k = futures.pop(fut)
                fut.release()
                yield k, result
        finally:
            if futures:
                client.cancel(list(futures))


__all__ = ["DEFAULT_CHUNK", "LOCAL", "Runner"]
