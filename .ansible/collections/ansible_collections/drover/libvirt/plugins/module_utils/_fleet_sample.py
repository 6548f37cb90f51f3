# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read enough of a fleet, not all of it: which hosts to read, and when the hosts read are enough.

Draining one host needs its own domains and enough room elsewhere, not the facts of every host of
a large group. The hosts being drained (the sources) are read first; the others are read in a
shuffled order, a batch at a time, until at least `destinations` of them answered and their room
(memory and vCPUs, maintenance-marked hosts counting none) is `margin` times what the sources'
running domains need. The order is shuffled with a seed (the run's id) so concurrent runs spread
over the fleet instead of all reading, and filling, its first hosts.
Pure logic; private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math
import random

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

DEFAULTS = {"destinations": 8, "margin": 2.0, "sources": [], "seed": "", "reserved_memory_mib": 0,
            "vcpu_ratio": 1.0}


def sample_settings(raw):
    """The checked settings of a sample (dict with DEFAULTS' keys), or None to read every host."""
    if raw is None:
        return None
    settings = dict(DEFAULTS, **{k: v for k, v in raw.items() if v is not None})
    if settings["destinations"] < 1:
        raise DroverError("sample.destinations must be at least 1, got %r; nothing was read"
                          % settings["destinations"])
    for name, low in (("margin", 1.0), ("vcpu_ratio", 0.01), ("reserved_memory_mib", 0)):
        value = settings[name]
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= low):
            raise DroverError("sample.%s must be a number from %s, got %r; nothing was read" % (name, low, value))
    return settings


def read_order(names, sources, seed):
    """`names` reordered: the sources first (in their order), then the others shuffled by `seed`."""
    first = [n for n in names if n in set(sources)]
    rest = [n for n in names if n not in set(sources)]
    random.Random(str(seed)).shuffle(rest)
    return first + rest


def demand(source_facts):
    """{memory_kib, vcpus} the running domains of the sources' facts need elsewhere."""
    need = {"memory_kib": 0, "vcpus": 0}
    for facts in source_facts:
        for dom in facts.get("domains", []):
            if dom.get("active"):
                need["memory_kib"] += dom.get("memory_kib") or 0
                need["vcpus"] += dom.get("vcpus") or 0
    return need


def room(facts, reserved_memory_mib, vcpu_ratio):
    """{memory_kib, vcpus} a destination has left for guests; none on a host marked for maintenance."""
    hyp = facts.get("hypervisor", {})
    if hyp.get("maintenance"):
        return {"memory_kib": 0, "vcpus": 0}
    mem, cpus = hyp.get("memory", {}), hyp.get("vcpus", {})
    memory = (mem.get("total_kib") or 0) - reserved_memory_mib * 1024 - (mem.get("committed_kib") or 0)
    vcpus = int(math.floor((cpus.get("physical") or 0) * vcpu_ratio)) - (cpus.get("allocated") or 0)
    return {"memory_kib": max(memory, 0), "vcpus": max(vcpus, 0)}


def enough(need, rooms, settings):
    """True when the destinations read (their `rooms`) are enough to plan the sources' moves."""
    if len(rooms) < settings["destinations"]:
        return False
    margin = settings["margin"]
    return (sum(r["memory_kib"] for r in rooms) >= margin * need["memory_kib"]
            and sum(r["vcpus"] for r in rooms) >= margin * need["vcpus"])


def read_sampled(names, read_batch, settings, local):
    """{name: outcome} of the hosts read, reading only as many of `names` as `settings` call for.

    read_batch(names) -> [outcome] in order, an outcome being ("ok", facts) or a failure;
    local: (name, facts()) of the host read locally, which counts as read; facts() is called after
    the first batch, so the local read can run alongside it.
    Returns (outcomes by name, names not read, in reading order).
    """
    local_name, local_facts = local
    sources = set(settings["sources"])
    order = [n for n in read_order(names, settings["sources"], settings["seed"]) if n != local_name]
    rest = [n for n in order if n not in sources]
    todo = [n for n in order if n in sources]  # the sources come with the first batch
    read, facts, position = {}, {}, 0
    while True:
        answered = sum(1 for n in facts if n not in sources)
        chunk = rest[position:position + max(settings["destinations"] - answered, 1)]
        position += len(chunk)
        todo += chunk
        for name, outcome in zip(todo, read_batch(todo) if todo else []):
            read[name] = outcome
            if outcome[0] == "ok":
                facts[name] = outcome[1]
        todo = []
        if local_name not in facts:
            facts[local_name] = local_facts()
        need = demand(facts[n] for n in facts if n in sources)
        rooms = [room(facts[n], settings["reserved_memory_mib"], settings["vcpu_ratio"])
                 for n in facts if n not in sources]
        if enough(need, rooms, settings) or position >= len(rest):
            return read, rest[position:]
