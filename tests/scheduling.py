"""How `make test` spreads its work over pytest-xdist's workers.

xdist's `--dist=loadscope` sends each test module, and each notebook under nbval, to one worker
as a whole: a module's fixtures (the built book) are made once, and a notebook's cells share one
kernel and must run in order. One exception: each notebook of tests/test_other_machine.py is a
unit of its own. Those are the longest tests of the suite, and as one module they would keep one
worker busy for minutes while the other idles.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

UNIT_PER_TEST = "test_outputs_hold_on_another_machine["


class NotebookScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        if UNIT_PER_TEST in nodeid:
            return nodeid
        return super()._split_scope(nodeid)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadscope":
        return NotebookScheduling(config, log)
    return None
