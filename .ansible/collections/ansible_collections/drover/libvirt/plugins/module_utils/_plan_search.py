# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding destinations fast: indexes over the planner's destinations, one per way of choosing.

Destinations are numbered in name order; `free` (KiB) and `vfree` (vCPUs) are lists the caller
owns and lowers as it places, telling the index with changed(i). search(m, v, excluded, want)
returns up to `want` destinations with room for m KiB and v vCPUs, not in `excluded`, best first:

- spread: lowest relative use of the binding resource, max(memory used / usable, vCPUs used / limit);
- first_fit: name order;
- best_fit: least memory free (the tightest fit).

Every search is exact; the structures only decide how much is looked at. Hosts are told apart by
how many vCPUs they have free (a column per frequent vCPU need), so hosts short of vCPUs are passed
over in bulk, never one by one; spread's tree also keeps a column per frequent memory need.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections import Counter

STRATEGIES = ("spread", "first_fit", "best_fit")
# Integer rank keys: relative use scaled, then the host number, so ties go by name.
SCALE = 1 << 32
# How many unsuitable hosts the spread heap may meet before the tree answers instead.
HEAP_MISSES = 8
THRESHOLDS = 8  # vCPU columns
SIZES = 4  # memory columns, for spread's bound
INFINITY = float("inf")


def frequent(needs, limit=THRESHOLDS, default=1):
    """Sorted needs (vCPUs or memory) that split hosts into columns: the smallest and the most
    frequent, at most `limit` (a rarer need searches the column below it)."""
    counts = Counter(needs)
    if not counts:
        return [default]
    chosen = {min(counts)}
    for need in sorted(counts, key=lambda n: (-counts[n], n)):
        if len(chosen) == limit:
            break
        chosen.add(need)
    return sorted(chosen)


def use_key(free, usable, vfree, limit, number, count):
    """Spread key: max relative use of memory and vCPUs, then the host number."""
    memory = 1.0 - free / usable if usable > 0 else 2.0
    vcpus = 1.0 - vfree / limit if limit > 0 else 2.0
    return int(max(memory, vcpus, 0.0) * SCALE) * count + number


class _Tree:
    """Hosts at the leaves of a segment tree, in number order.

    One column per vCPU threshold t: cols[c][node] is the most memory free on a host below node with
    at least t vCPUs free (-1 when none), least[c][node] the smallest key among those hosts. And one
    per memory size s: roomy[s][node] is the smallest key among hosts below with s free. A search
    descends only where some host has room for both, better key first, and stops looking where no
    key can beat the ones it holds: the best key below a node is at least both smallest keys.
    """

    def __init__(self, free, vfree, keys, thresholds, sizes=()):
        size = 1
        while size < len(free):
            size *= 2
        self.size, self.free, self.vfree, self.thresholds, self.sizes = size, free, vfree, thresholds, sizes
        self.cols = [[-1] * (2 * size) for _t in thresholds]
        self.least = [[INFINITY] * (2 * size) for _t in thresholds]
        self.roomy = [[INFINITY] * (2 * size) for _s in sizes]
        for i, key in enumerate(keys):
            self._leaf(i, key)
        for node in range(size - 1, 0, -1):
            self._pull(node)

    def _leaf(self, i, key):
        node = self.size + i
        free, vfree = self.free[i], self.vfree[i]
        for col, least, threshold in zip(self.cols, self.least, self.thresholds):
            fits = vfree >= threshold and free >= 0
            col[node], least[node] = (free, key) if fits else (-1, INFINITY)
        for roomy, memory in zip(self.roomy, self.sizes):
            roomy[node] = key if free >= memory else INFINITY

    def _pull(self, node):
        changed = False
        left, right = 2 * node, 2 * node + 1
        for col, least in zip(self.cols, self.least):
            most = col[left] if col[left] > col[right] else col[right]
            smallest = least[left] if least[left] < least[right] else least[right]
            if col[node] != most or least[node] != smallest:
                col[node], least[node], changed = most, smallest, True
        for roomy in self.roomy:
            smallest = roomy[left] if roomy[left] < roomy[right] else roomy[right]
            if roomy[node] != smallest:
                roomy[node], changed = smallest, True
        return changed

    def update(self, i, key):
        self._leaf(i, key)
        node = (self.size + i) // 2
        while node and self._pull(node):
            node //= 2

    def search(self, m, v, excluded, want):
        column = bisect_right(self.thresholds, v) - 1
        col, least = self.cols[column], self.least[column]
        roomy = self.roomy[bisect_right(self.sizes, m) - 1] if self.sizes else least
        size, vfree = self.size, self.vfree
        found, worst = [], INFINITY
        stack = [1]
        while stack:
            node = stack.pop()
            if col[node] < m or least[node] >= worst or roomy[node] >= worst:
                continue
            if node >= size:
                i = node - size
                if vfree[i] >= v and i not in excluded:
                    insort(found, (least[node], i))
                    if len(found) >= want:
                        del found[want:]
                        worst = found[-1][0]
                continue
            left, right = 2 * node, 2 * node + 1
            if max(least[left], roomy[left]) <= max(least[right], roomy[right]):
                stack.append(right)
                stack.append(left)
            else:
                stack.append(left)
                stack.append(right)
        return [i for _key, i in found]


class Spread:
    """Lowest relative use first. A heap answers while the best hosts fit; the tree when they do not."""

    def __init__(self, free, vfree, usable, limits, thresholds, sizes):
        self.free, self.vfree, self.usable, self.limits = free, vfree, usable, limits
        self.smallest = (sizes[0], thresholds[0])  # every unit needs this much: a host without it never fits again
        self.keys = [self.key(i) for i in range(len(free))]
        self.heap = [(key, i) for i, key in enumerate(self.keys)]
        heapq.heapify(self.heap)
        self.tree = _Tree(free, vfree, self.keys, thresholds, sizes)
        self.dirty = set()

    def key(self, i):
        return use_key(self.free[i], self.usable[i], self.vfree[i], self.limits[i], i, len(self.free))

    def changed(self, i):
        key = self.key(i)
        if key != self.keys[i]:
            self.keys[i] = key
            heapq.heappush(self.heap, (key, i))
        self.dirty.add(i)

    def anchor_key(self, i):
        return self.keys[i]

    def search(self, m, v, excluded, want):
        heap, keys, free, vfree = self.heap, self.keys, self.free, self.vfree
        found, aside, misses = [], [], 0
        while heap and len(found) < want and misses <= HEAP_MISSES:
            key, i = heap[0]
            if keys[i] != key or free[i] < self.smallest[0] or vfree[i] < self.smallest[1]:
                heapq.heappop(heap)  # an older key, or a host that can take nothing any more
                continue
            if free[i] >= m and vfree[i] >= v and i not in excluded:
                found.append(i)
            else:
                misses += 1
            aside.append(heapq.heappop(heap))
        for entry in aside:
            heapq.heappush(heap, entry)
        if misses <= HEAP_MISSES:
            return found
        for i in self.dirty:
            self.tree.update(i, keys[i])
        self.dirty.clear()
        return self.tree.search(m, v, excluded, want)


class FirstFit:
    """Name order: the tree with the host number as key."""

    def __init__(self, free, vfree, thresholds):
        self.tree = _Tree(free, vfree, range(len(free)), thresholds)

    def changed(self, i):
        self.tree.update(i, i)

    @staticmethod
    def anchor_key(i):
        return i

    def search(self, m, v, excluded, want):
        return self.tree.search(m, v, excluded, want)


class BestFit:
    """Least memory free first: per vCPU column, a sorted list of (free, number)."""

    def __init__(self, free, vfree, thresholds):
        self.free, self.vfree, self.thresholds = free, vfree, thresholds
        self.lists = [[] for _t in thresholds]
        self.where = [None] * len(free)
        for i in range(len(free)):
            self._add(i)

    def _add(self, i):
        column = bisect_right(self.thresholds, self.vfree[i]) - 1
        if column >= 0 and self.free[i] >= 0:
            entry = (self.free[i], i)
            insort(self.lists[column], entry)
            self.where[i] = (column, entry)

    def changed(self, i):
        if self.where[i] is not None:
            column, entry = self.where[i]
            entries = self.lists[column]
            del entries[bisect_left(entries, entry)]
            self.where[i] = None
        self._add(i)

    def anchor_key(self, i):
        return (self.free[i], i)

    def search(self, m, v, excluded, want):
        lowest = bisect_right(self.thresholds, v) - 1
        short = self.thresholds[lowest] < v  # that column may hold hosts with fewer than v free
        found = []
        for column in range(lowest, len(self.lists)):
            entries = self.lists[column]
            taken = 0
            for j in range(bisect_left(entries, (m,)), len(entries)):
                free, i = entries[j]
                if i in excluded or (short and column == lowest and self.vfree[i] < v):
                    continue
                found.append((free, i))
                taken += 1
                if taken == want:
                    break
        found.sort()
        return [i for _free, i in found[:want]]


class Definitions:
    """Hosts for shut-off definitions, which need no room: a heap by the strategy's key, lazily updated."""

    def __init__(self, key, count):
        self.key = key
        self.keys = [key(i) for i in range(count)]
        self.heap = [(k, i) for i, k in enumerate(self.keys)]
        heapq.heapify(self.heap)

    def changed(self, i):
        key = self.key(i)
        if key != self.keys[i]:
            self.keys[i] = key
            heapq.heappush(self.heap, (key, i))

    def anchor_key(self, i):
        return self.keys[i]

    def search(self, _m, _v, excluded, want):
        heap, keys = self.heap, self.keys
        found, aside = [], []
        while heap and len(found) < want:
            key, i = heapq.heappop(heap)
            if keys[i] != key:
                continue
            aside.append((key, i))
            if i not in excluded:
                found.append(i)
        for entry in aside:
            heapq.heappush(heap, entry)
        return found
