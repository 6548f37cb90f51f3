# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capacity claims between runs: what a claim is, when it counts, and whether one more fits.

Pure logic: no libvirt, no files. _claim_store.py keeps the claims on each destination and asks
these functions. A claim says "run R is about to bring domain U (M KiB, V vCPUs) here, until T".
Every run that places or moves domains counts the live claims of the others, so two runs never
promise the same room twice.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

# The volume (file) name carries every figure the capacity check needs, so a run can count the
# claims on a host from one listing, without reading each one.
NAME_PREFIX = "drover-claim"
NAME_SUFFIX = ".json"
# Claims are written with the claimant's clock and read with others': a claim is only ignored
# once it is this much past its expiry, so clocks that disagree by less never free room early.
CLOCK_GRACE_S = 60
DEFAULT_TTL_S = 600
_RUN_ID = re.compile(r"^[A-Za-z0-9-]{1,40}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def check_run_id(run_id):
    """A run id goes into file names: 1-40 letters, digits or dashes."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise DroverError("run_id must be 1-40 letters, digits or dashes, got %r" % (run_id,))
    return run_id


@dataclass(frozen=True)
class Claim:
    """Room one run holds on one host for one arriving domain."""

    run_id: str
    uuid: str
    memory_kib: int
    vcpus: int
    expires: int
    domain: str = ""
    owner: str = ""
    source: str = ""
    created: float = 0.0

    @property
    def name(self):
        return "%s_%d_%d_%d_%s_%s%s" % (NAME_PREFIX, self.expires, self.vcpus, self.memory_kib,
                                        self.run_id, self.uuid, NAME_SUFFIX)

    def is_live(self, now, grace=CLOCK_GRACE_S):
        return self.expires + grace >= now

    def record(self):
        """What the claim's file holds, for people and for hypervisor_info."""
        return {"run_id": self.run_id, "owner": self.owner, "domain": self.domain, "uuid": self.uuid,
                "source": self.source, "memory_kib": self.memory_kib, "vcpus": self.vcpus,
                "created": self.created, "expires": self.expires, "name": self.name}


def new_claim(run_id, uuid, memory_kib, vcpus, now, ttl=DEFAULT_TTL_S, domain="", owner="", source=""):
    check_run_id(run_id)
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        raise DroverError("a claim needs the domain uuid (its UUID), got %r" % (uuid,))
    for label, value in (("memory_kib", memory_kib), ("vcpus", vcpus), ("ttl", ttl)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise DroverError("claim %s must be a finite number of 0 or more, got %r" % (label, value))
    return Claim(run_id=run_id, uuid=uuid, memory_kib=int(memory_kib), vcpus=int(vcpus),
                 expires=int(math.ceil(now + ttl)), domain=domain, owner=owner, source=source,
                 created=round(now, 3))


def parse_name(name):
    """The claim a file name describes, or None when the name is not a claim's."""
    if not name.startswith(NAME_PREFIX + "_") or not name.endswith(NAME_SUFFIX):
        return None
    parts = name[len(NAME_PREFIX) + 1:-len(NAME_SUFFIX)].split("_")
    if len(parts) != 5:
        return None
    expires, vcpus, memory, run_id, uuid = parts
    if not (expires.isdigit() and vcpus.isdigit() and memory.isdigit()) \
            or not _RUN_ID.match(run_id) or not _UUID.match(uuid):
        return None
    return Claim(run_id=run_id, uuid=uuid, memory_kib=int(memory), vcpus=int(vcpus), expires=int(expires))


def with_record(claim, record):
    """The claim from its name, with the descriptive fields of its file where they are readable."""
    if not isinstance(record, dict):
        return claim
    return Claim(run_id=claim.run_id, uuid=claim.uuid, memory_kib=claim.memory_kib, vcpus=claim.vcpus,
                 expires=claim.expires, domain=str(record.get("domain") or ""),
                 owner=str(record.get("owner") or ""), source=str(record.get("source") or ""),
                 created=float(record.get("created") or 0) if isinstance(record.get("created"), (int, float)) else 0.0)


@dataclass(frozen=True)
class Room:
    """What a host can take, from its own libvirt and the run's limits (as the planner counts it)."""

    total_kib: int
    committed_kib: int
    reserved_kib: int
    headroom_kib: int
    vcpu_limit: int
    vcpus_allocated: int

    @property
    def free_kib(self):
        return self.total_kib - self.committed_kib - self.reserved_kib - self.headroom_kib

    @property
    def free_vcpus(self):
        return self.vcpu_limit - self.vcpus_allocated


def room(total_kib, committed_kib, physical_cpus, vcpus_allocated, reserved_mib=0, headroom_pct=10.0,
         vcpu_ratio=4.0):
    """The Room of a host under the run's limits; the same arithmetic as the planner's hosts."""
    return Room(total_kib=int(total_kib), committed_kib=int(committed_kib), reserved_kib=int(reserved_mib * 1024),
                headroom_kib=int(math.ceil(total_kib * headroom_pct / 100.0)),
                vcpu_limit=int(math.floor(vcpu_ratio * physical_cpus + 1e-9)), vcpus_allocated=int(vcpus_allocated))


def counted(claims, now, present_uuids, exclude=None, grace=CLOCK_GRACE_S):
    """The claims that take room: live, not `exclude`, and for domains not already active here.

    A domain that has arrived (or is arriving: the incoming domain is active) is in the host's
    committed memory already; its claim would count it twice. Two claims for one domain count once.
    """
    seen, out = set(present_uuids), []
    for claim in sorted(claims, key=lambda c: c.name):
        if claim is exclude or (exclude is not None and claim.name == exclude.name):
            continue
        if not claim.is_live(now, grace) or claim.uuid in seen:
            continue
        seen.add(claim.uuid)
        out.append(claim)
    return out


def fits(claim, host_room, others):
    """Whether `claim` fits beside `others`: (True|False, one line a person can act on)."""
    held_kib = sum(c.memory_kib for c in others)
    held_vcpus = sum(c.vcpus for c in others)
    free_kib = host_room.free_kib - held_kib
    free_vcpus = host_room.free_vcpus - held_vcpus
    held = ("; %d MiB and %d vCPUs claimed by %d other move(s) of run(s) %s"
            % (held_kib // 1024, held_vcpus, len(others), ", ".join(sorted({c.run_id for c in others})))
            if others else "")
    if claim.memory_kib > free_kib:
        return False, "needs %d MiB, %d MiB left under the limits%s" % (
            claim.memory_kib // 1024, max(free_kib, 0) // 1024, held)
    if claim.vcpus > free_vcpus:
        return False, "needs %d vCPUs, %d left under the vCPU ratio%s" % (claim.vcpus, max(free_vcpus, 0), held)
    return True, "room for %d MiB and %d vCPUs%s" % (claim.memory_kib // 1024, claim.vcpus, held)


def held_by_others(claims, now, run_id, present_uuids=(), grace=CLOCK_GRACE_S):
    """Memory and vCPUs that other runs' live claims hold on a host (what the planner subtracts)."""
    others = counted([c for c in claims if c.run_id != run_id], now, present_uuids, grace=grace)
    return {"memory_kib": sum(c.memory_kib for c in others), "vcpus": sum(c.vcpus for c in others),
            "claims": len(others)}


def _domains_by_host(fleet):
    """{host: ({uuids of active domains}, {uuids of every domain})} for the hosts whose domains were read."""
    out = {}
    for host, facts in fleet.items():
        doms = facts.get("domains") if isinstance(facts, dict) else None
        if not isinstance(doms, list):
            continue
        uuids = [(d["uuid"], d.get("active")) for d in doms if isinstance(d, dict) and isinstance(d.get("uuid"), str)]
        every = {u for u, _active in uuids}
        active = {u for u, on in uuids if on}
        out[host] = (active, every)
    return out


def stale_claims(fleet):
    """The live claims that hold room for a move that is over: {host: [{name, domain, uuid, run_id, why}]}.

    fleet: {host: hypervisor_info result}. A live claim on host H for domain U is stale when
      - U is active on H: it arrived (or is arriving) and counts there through its own memory; or
      - the claim names its source S, S was read, S defines no domain U any more and H does not hold it shut
        off (a cold move about to start it there): the move it held room for is over, and U runs wherever that
        move (or a later one) put it.
    A claim whose source is unknown or was not read stays: it may belong to a move about to start.
    """
    read = _domains_by_host(fleet)
    out = {}
    for host in sorted(fleet):
        hv = fleet[host].get("hypervisor") if isinstance(fleet[host], dict) else None
        claims = hv.get("claims") if isinstance(hv, dict) else None
        if host not in read or not isinstance(claims, list):
            continue
        for claim in claims:
            if not isinstance(claim, dict) or claim.get("live") is False or not claim.get("name"):
                continue
            uuid, source = claim.get("uuid"), claim.get("source") or ""
            if not isinstance(uuid, str) or not isinstance(source, str):
                continue  # malformed: the planner's reading of the claims says so by name
            why = None
            if uuid in read[host][0]:
                why = "its domain is active here"
            elif source and source != host and source in read and uuid not in read[source][1] \
                    and uuid not in read[host][1]:
                # (Defined but not active on the claim's host: a cold move that has not started it there yet.)
                why = "its domain is no longer on %s, the source it was claimed from" % source
            if why:
                out.setdefault(host, []).append({"name": claim["name"], "domain": claim.get("domain") or "",
                                                 "uuid": uuid, "run_id": claim.get("run_id") or "", "why": why})
    return out
