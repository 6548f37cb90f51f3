# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one schedule model of moves under concurrency caps.

A move runs from a source to a destination (None for a shutdown, which only takes source
slots). Slots count the moves running overall, per source and per destination; start_now()
picks, in order, the waiting moves that fit. The planner fills its waves with it (each wave
starts from no move running: an upper bound of the time, a wave lasting as long as its longest
move) and move_domains decides with it what to start whenever a move ends.

Several sources drain at once, each in its own move_domains process: drain_caps() says how
many at once (at most max_parallel) and gives each an equal share of max_parallel as its
max_per_source, so the moves of all of them never exceed max_parallel; the per-destination cap
is held across their processes by the run's capacity claims on each destination (max_inbound).
The plan's waves are filled with the same caps and sources_at_once.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import heapq
from collections import deque

from ansible_collections.drover.libvirt.plugins.module_utils._values import bounded_number

CAPS = ("max_parallel", "max_per_source", "max_per_destination")
# Hosts being drained whose moves may run at the same time, when nothing else is said.
SOURCES_AT_ONCE = 1


def read_caps(values, prefix=""):
    """The caps in effect: each an integer of at least 1; per-source and per-destination caps above
    max_parallel are lowered to it. Raises DroverError naming the cap (after `prefix`)."""
    caps = {key: bounded_number(prefix + key, values[key], minimum=1, integer=True) for key in CAPS}
    for key in ("max_per_source", "max_per_destination"):
        caps[key] = min(caps[key], caps["max_parallel"])
    return caps


def drain_caps(caps, sources):
    """The caps when `sources` hosts drain at once: the caps with sources_at_once, and each source's
    max_per_source its share of max_parallel (at least 1, at most its own cap)."""
    at_once = max(1, min(int(sources), caps["max_parallel"]))
    share = max(1, min(caps["max_per_source"], caps["max_parallel"] // at_once))
    return dict(caps, max_per_source=share, sources_at_once=at_once)


def batch_caps(caps):
    """What one source's batch (move_domains) runs under: {max_parallel, max_per_destination}.

    Each source's batch runs under its per-source cap; the sources run sources_at_once at a time.
    """
    return {"max_parallel": caps["max_per_source"], "max_per_destination": caps["max_per_destination"]}


def single_source_caps(max_parallel, max_per_destination):
    """The caps of a batch off one source, checked: the source's moves are all the moves."""
    return read_caps({"max_parallel": max_parallel, "max_per_source": max_parallel,
                      "max_per_destination": max_per_destination})


class Slots:
    """Moves running now, overall, per source and per destination, against the caps."""

    def __init__(self, caps):
        self.caps = caps
        self.running = 0
        self.per_source = {}
        self.per_destination = {}

    def full(self):
        return self.running >= self.caps["max_parallel"]

    def fits(self, source, destination):
        return (not self.full()
                and self.per_source.get(source, 0) < self.caps["max_per_source"]
                and (destination is None or self.per_destination.get(destination, 0) < self.caps["max_per_destination"]))

    def take(self, source, destination):
        self.running += 1
        self.per_source[source] = self.per_source.get(source, 0) + 1
        if destination is not None:
            self.per_destination[destination] = self.per_destination.get(destination, 0) + 1

    def release(self, source, destination):
        self.running -= 1
        self.per_source[source] -= 1
        if destination is not None:
            self.per_destination[destination] -= 1


def start_now(waiting, slots, route):
    """The waiting items that may start now, in their order, each taking its slots.

    route(item) gives (source, destination). An item that does not fit waits; the walk stops
    once every global slot is taken.
    """
    started = []
    for item in waiting:
        if slots.full():
            break
        source, destination = route(item)
        if slots.fits(source, destination):
            slots.take(source, destination)
            started.append(item)
    return started


def fill_waves(moves, caps, sources_at_once=SOURCES_AT_ONCE):
    """Give each move (in plan order) its wave and order; returns the waves.

    Each wave starts from no move running and takes what start_now() would let it, from the first
    `sources_at_once` sources (by name) that still have moves; None lets every source in at once.
    Destinations never become sources, so moves do not depend on each other and any order is
    safe; plan order puts the largest first. Sorts `moves` by their new order.
    """
    waiting = _Waiting(moves, caps)
    later = deque(sorted(waiting.heads))
    at_once = len(later) if sources_at_once is None else sources_at_once
    waves, order = [], 0
    while later or waiting.active:
        while later and len(waiting.active) < at_once:
            waiting.activate(later.popleft())
        wave = [moves[position] for position in waiting.wave()]
        number = len(waves) + 1
        for move in wave:
            order += 1
            move["wave"], move["order"] = number, order
        waves.append({"wave": number, "domains": [m["domain"] for m in wave],
                      "estimated_seconds": max(m["estimated_seconds"] for m in wave)})
    moves.sort(key=lambda m: m["order"])
    return waves


class _Waiting:
    """The moves not yet in a wave, so that each wave takes what start_now() would without a walk over all of them.

    start_now() takes, again and again, the first waiting move whose source and destination both
    have a slot left. Here moves wait in queues per source and destination (heads: a heap of the
    queues' first positions per source). Each active source with a slot left offers its first move
    to a destination with room; the offers are grouped by destination, and `top` holds each group's
    first. A full destination drops out of `top` with all its offers at once; only sources that
    also have moves for other destinations offer again. A wave so costs a few heap operations per
    move it takes and per source that offers again, whatever the number of moves waiting.
    """

    def __init__(self, moves, caps):
        self.caps = caps
        self.queues = {}  # source: {destination: deque of plan positions}
        for position, move in enumerate(moves):
            self.queues.setdefault(move["source"], {}).setdefault(move["destination"], deque()).append(position)
        self.heads = {}
        for source, by_destination in self.queues.items():
            self.heads[source] = [(queue[0], destination) for destination, queue in by_destination.items()]
            heapq.heapify(self.heads[source])
        self.active = set()
        self.offered = {}  # source: (position, destination) of its offer; older entries elsewhere are stale
        self.groups = {}  # destination: heap of (position, source)
        self.top = []  # heap of (position, destination): a group's first offer
        self.others = {}  # destination: offering sources that have moves for other destinations too
        self.arriving, self.passed = {}, {}

    def _full(self, destination):
        return destination is not None and self.arriving.get(destination, 0) >= self.caps["max_per_destination"]

    def activate(self, source):
        self.active.add(source)
        self._offer(source)

    def _first(self, destination):
        """The live first offer of a group, dropping stale ones; None when it has none."""
        group = self.groups.get(destination)
        while group:
            position, source = group[0]
            if self.offered.get(source) == (position, destination):
                return group[0]
            heapq.heappop(group)
        return None

    def _offer(self, source):
        """Offer the source's first move to a destination with room, passing (for this wave) the others."""
        pending = self.heads[source]
        while pending and self._full(pending[0][1]):
            self.passed.setdefault(source, []).append(heapq.heappop(pending))
        if not pending:
            return
        position, destination = pending[0]
        first = self._first(destination)
        self.offered[source] = (position, destination)
        if len(pending) > 1:
            self.others.setdefault(destination, set()).add(source)
        heapq.heappush(self.groups.setdefault(destination, []), (position, source))
        if first is None or position < first[0]:
            heapq.heappush(self.top, (position, destination))

    def _withdraw(self, source):
        _position, destination = self.offered.pop(source)
        self.others.get(destination, set()).discard(source)
        first = self._first(destination)
        if first is not None and not self._full(destination):
            heapq.heappush(self.top, (first[0], destination))

    def wave(self):
        """The plan positions of the next wave, in order."""
        limit, per_source = self.caps["max_parallel"], self.caps["max_per_source"]
        taken, running, touched, closed = [], {}, set(), set()
        while self.top and len(taken) < limit:
            position, destination = heapq.heappop(self.top)
            if self._full(destination):
                closed.add(destination)  # back in the next wave
                continue
            first = self._first(destination)
            if first is None or first[0] != position:
                continue  # an older entry: the group's first has its own
            source = first[1]
            self._withdraw(source)
            touched.add(source)
            queue = self.queues[source][destination]
            taken.append(queue.popleft())
            running[source] = running.get(source, 0) + 1
            pending = self.heads[source]
            if queue:
                heapq.heapreplace(pending, (queue[0], destination))
            else:
                heapq.heappop(pending)
            if destination is not None:
                self.arriving[destination] = self.arriving.get(destination, 0) + 1
                if self._full(destination):
                    for other in sorted(self.others.get(destination, ())):
                        self._withdraw(other)
                        touched.add(other)
                        if running.get(other, 0) < per_source:
                            self._offer(other)
            if running[source] < per_source:
                self._offer(source)
        self.arriving = {}
        for source, entries in self.passed.items():
            touched.add(source)
            for entry in entries:
                heapq.heappush(self.heads[source], entry)
        self.passed = {}
        for source in sorted(touched):
            if source in self.offered:
                self._withdraw(source)  # its offer may be past moves this wave passed over
            if self.heads[source]:
                self._offer(source)
            else:
                self.active.discard(source)
        for destination in sorted(closed, key=str):
            first = self._first(destination)
            if first is not None:
                heapq.heappush(self.top, (first[0], destination))
        return taken
