"""A per-process budget for rendering in the web server: how many pictures
render at once and how many canvas pixels they hold together.

A render holds its canvas and layers in memory (about 200 MB at the peak for
a 4000x4000 JPEG), so a count of renders alone does not bound a process's
memory: ten shoppers asking for pictures of a big trophy at once took a web
worker from 351 to 917 MB. Each render reserves its canvas's width x height;
the reservations together stay within the budget, except that a canvas
larger than the whole budget may render alone. Others wait their turn for a
moment and are then refused, so the page can ask again later.
"""
import threading
from contextlib import contextmanager


class BudgetExhausted(Exception):
    """No room within the wait: the renders running hold the budget."""


class RenderBudget:
    def __init__(self, pixels, renders):
        self.pixels = pixels      # canvas pixels of all renders at once
        self.renders = renders    # renders at once, whatever their size
        self.used = 0
        self.running = 0
        self.peak_pixels = 0      # the most pixels ever reserved at once (tests, diagnosis)
        self._changed = threading.Condition()

    def cost(self, width, height):
        return min(width * height, self.pixels)  # a canvas over the budget runs alone

    @contextmanager
    def reserve(self, width, height, timeout):
        cost = self.cost(width, height)
        with self._changed:
            if not self._changed.wait_for(lambda: self._fits(cost), timeout):
                raise BudgetExhausted(f"{self.running} renders hold {self.used:,} of {self.pixels:,} pixels")
            self.used += cost
            self.running += 1
            self.peak_pixels = max(self.peak_pixels, self.used)
        try:
            yield
        finally:
            with self._changed:
                self.used -= cost
                self.running -= 1
                self._changed.notify_all()

    def _fits(self, cost):
        return self.running < self.renders and self.used + cost <= self.pixels
