# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One placement of the planner's units with one strategy (spread, first_fit or best_fit).

A run works on its own copy of what the destinations have free, so several strategies can be tried
on the same problem and the best kept (_planner). The problem is read only: units (in placement
order) with what they need, the destinations that exclude them whatever happens, and their anchors.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.module_utils import _plan_search as search

# Alternates named with each move.
ALTERNATES = 3


class Run:
    """The books of one run: free memory and vCPUs per destination, anti-affinity holders, outcome.

    placed: [(unit, destination number, [alternate numbers])] in placement order; failed: units.
    """

    def __init__(self, problem, strategy):
        self.problem, self.strategy = problem, strategy
        targets = problem.targets
        self.free = [h.free_kib for h in targets]
        self.vfree = [h.vcpus_free for h in targets]
        self.defined = [0] * len(targets)
        self.holders = {}  # anti-affinity group: destinations this run put a member on
        self.placed, self.failed = [], []

    def place_all(self):
        problem = self.problem
        if problem.capacity_units:
            index = self._capacity_index()
            for unit in problem.capacity_units:
                self._place(unit, index, True)
        if problem.definition_units:
            index = search.Definitions(self._definition_key(), len(problem.targets))
            for unit in problem.definition_units:
                self._place(unit, index, False)
        return self

    def score(self):
        """What a placement is judged by: VMs placed, then their memory."""
        return (sum(len(unit.members) for unit, _i, _alt in self.placed),
                sum(unit.weight_kib for unit, _i, _alt in self.placed))

    def _capacity_index(self):
        units = self.problem.capacity_units
        thresholds = search.frequent(unit.vcpus for unit in units)
        if self.strategy == "first_fit":
            return search.FirstFit(self.free, self.vfree, thresholds)
        if self.strategy == "best_fit":
            return search.BestFit(self.free, self.vfree, thresholds)
        targets = self.problem.targets
        return search.Spread(self.free, self.vfree, [h.usable_kib for h in targets], [h.vcpu_limit for h in targets],
                             thresholds, search.frequent((unit.memory_kib for unit in units), search.SIZES, 0))

    def _definition_key(self):
        """Definitions reserve nothing: spread by memory used plus what was defined there, relative to usable."""
        if self.strategy == "first_fit":
            return lambda i: i
        if self.strategy == "best_fit":
            return lambda i: (self.free[i], i)
        targets, count = self.problem.targets, len(self.problem.targets)
        return lambda i: search.use_key(self.free[i] - self.defined[i], targets[i].usable_kib, 1, 1, i, count)

    def _place(self, unit, index, needs_capacity):
        m, v = (unit.memory_kib, unit.vcpus) if needs_capacity else (0, 0)
        excluded = unit.excluded
        if unit.anti:
            placed_here = [self.holders[group] for group in unit.anti if group in self.holders]
            if placed_here:
                excluded = excluded.union(*placed_here)
        if unit.anchors is not None:
            free, vfree = self.free, self.vfree
            valid = [i for i in unit.anchors
                     if i not in excluded and (not needs_capacity or (free[i] >= m and vfree[i] >= v))]
            valid.sort(key=lambda i: (-unit.anchors[i], index.anchor_key(i)))
            found = valid[:ALTERNATES + 1]
        else:
            found = index.search(m, v, excluded, ALTERNATES + 1)
        if not found:
            self.failed.append(unit)
            return
        chosen = found[0]
        if needs_capacity:
            self.free[chosen] -= m
            self.vfree[chosen] -= v
        self.defined[chosen] += unit.define_kib
        index.changed(chosen)
        for group in unit.anti:
            self.holders.setdefault(group, set()).add(chosen)
        self.placed.append((unit, chosen, found[1:]))
