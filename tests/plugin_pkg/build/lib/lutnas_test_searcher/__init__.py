"""A third-party searcher used by the tests: proposes grid specs in increasing GFLOPs."""

from lutnas.search import Searcher


class LowestFirst(Searcher):
    name = "test-lowest"
    description = "test plug-in: cheapest specs first"

    def setup_state(self):
        self._order = sorted(self.problem.space.grid(), key=lambda s: s.macs())

    def _propose(self, n):
        out, self._order = self._order[:n], self._order[n:]
        return out
