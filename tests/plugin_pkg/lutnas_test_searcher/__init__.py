"""A third-party searcher used by the tests: proposes grid specs in increasing GFLOPs."""

from lutnas.search import Searcher


class LowestFirst(Searcher):
    name = "test-lowest"
    description = "test plug-in: cheapest specs first"

    def _start(self, run):
        run.order = sorted(run.problem.space.grid(), key=lambda s: s.macs())

    def _propose(self, run, n):
        out, run.order = run.order[:n], run.order[n:]
        return out
