"""The one task runner (porevae._parallel.Runner): the same results here, on local processes and
on Dask, errors raised from the failing task, refusals before any work."""

import operator

import pytest

from porevae._parallel import Runner

CALLS = [(k, k + 3) for k in range(7)]
WANT = {k: k * (k + 3) for k in range(7)}


def test_this_process_runs_in_order_and_lazily():
    seen = []

    def fn(a, b):
        seen.append(a)
        return a * b

    with Runner() as run:
        it = run.map(fn, CALLS)
        assert next(it) == (0, 0) and seen == [0]
        assert dict([(0, 0), *it]) == WANT
    assert Runner().where == "this process"


def test_local_processes_give_the_same_results_and_raise_the_tasks_error():
    with Runner(jobs=2) as run:
        assert run.where == "2 local processes"
        assert dict(run.map(operator.mul, CALLS)) == WANT
        # the pool is kept for a second map (generation runs two passes)
        assert dict(run.map(operator.mul, CALLS[:3])) == {k: WANT[k] for k in range(3)}
        with pytest.raises(ZeroDivisionError):
            dict(run.map(operator.truediv, [(1, 2), (1, 0), (3, 4)]))
    assert run._pool is None


def test_dask_client_gives_the_same_results_and_shares_once(rng):
    distributed = pytest.importorskip("distributed", reason="optional 'dask' extra")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with Runner(dask=client) as run:
            assert dict(run.map(operator.mul, CALLS)) == WANT
            x = rng.standard_normal(5)
            shared = run.share(x)
            got = dict(run.map(operator.mul, [(shared, float(k)) for k in range(3)]))
            for k in range(3):
                assert (got[k] == x * k).all()
            with pytest.raises(ZeroDivisionError):
                dict(run.map(operator.truediv, [(1, 0)]))
        assert client.status == "running"        # a client passed in stays open


@pytest.mark.slow
def test_dask_local_cluster_of_jobs_workers():
    pytest.importorskip("distributed", reason="optional 'dask' extra")
    with Runner(jobs=2, dask="local") as run:
        assert dict(run.map(operator.mul, CALLS)) == WANT
        assert len(run._client.scheduler_info()["workers"]) == 2
        cluster = run._cluster
    assert run._client is None and cluster.status.name == "closed"


def test_refusals_before_any_work():
    pytest.importorskip("distributed", reason="optional 'dask' extra")
    with pytest.raises(ValueError, match="jobs"):
        Runner(jobs=0)
    with pytest.raises(TypeError, match="jobs"):
        Runner(jobs=1.5)
    with pytest.raises(ValueError, match="jobs > 1 or a Dask cluster"):
        Runner(jobs=2, dask="tcp://127.0.0.1:1")
    with pytest.raises(TypeError, match="dask must be"):
        Runner(dask=8786)
    run = Runner(dask="tcp://127.0.0.1:1")   # nothing is contacted before the first map
    assert run.where == "the Dask cluster at tcp://127.0.0.1:1"
    run.close()
