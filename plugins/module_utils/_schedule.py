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


def _route(move):
    return move["source"], move["destination"]


def fill_waves(moves, caps, sources_at_once=SOURCES_AT_ONCE):
    """Give each move (in plan order) its wave and order; returns the waves.

    Each wave starts from no move running and takes what start_now() lets it, from the first
    `sources_at_once` sources (by name) that still have moves; None lets every source in at once.
    Destinations never become sources, so moves do not depend on each other and any order is
    safe; plan order puts the largest first. Sorts `moves` by their new order.
    """
    position = {id(move): i for i, move in enumerate(moves)}
    by_source = {}
    for move in moves:
        by_source.setdefault(move["source"], []).append(move)
    queue = [by_source[source] for source in sorted(by_source)]  # each in plan order
    waves, order = [], 0
    while queue:
        active = queue if sources_at_once is None else queue[:sources_at_once]
        waiting = active[0] if len(active) == 1 else heapq.merge(*active, key=lambda m: position[id(m)])
        wave = start_now(waiting, Slots(caps), _route)
        taken = {id(move) for move in wave}
        for group in active:
            group[:] = [move for move in group if id(move) not in taken]
        queue[:len(active)] = [group for group in active if group]
        number = len(waves) + 1
        for move in wave:
            order += 1
            move["wave"], move["order"] = number, order
        waves.append({"wave": number, "domains": [m["domain"] for m in wave],
                      "estimated_seconds": max(m["estimated_seconds"] for m in wave)})
    moves.sort(key=lambda m: m["order"])
    return waves
