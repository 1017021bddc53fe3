"""How `make test` splits the suite between its pytest-xdist workers: tests/e2e is one unit of work, so the session's
DAG run is made once and the Airflow components, streams and cluster its tests start never meet; every other
module is a unit of its own, so its module fixtures (a Spark pipeline run, a database) are built once."""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

E2E_PREFIX = "tests/e2e/"


def lane_of(nodeid: str) -> str:
    """The unit of work a test id belongs to: 'e2e' for tests/e2e, its module's path for any other."""
    module = nodeid.split("::", 1)[0]
    return "e2e" if module.startswith(E2E_PREFIX) else module


class LaneScheduling(LoadScopeScheduling):
    """Units in collection order (with --no-loadscope-reorder), each to the next worker that runs short of work."""

    def _split_scope(self, nodeid: str) -> str:
        return lane_of(nodeid)
