# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of one live migration, read from module parameters once and checked in one place.

Pure: a frozen value, built before any connection is opened, so a bad option fails the task
without touching a host. Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ansible_collections.drover.libvirt.plugins.module_utils._claims import check_run_id
from ansible_collections.drover.libvirt.plugins.module_utils._convergence import resolve_knobs
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import check_domain_name
from ansible_collections.drover.libvirt.plugins.module_utils._uri import destination_uri, migration_uri


@dataclass(frozen=True)
class MigrationOptions:
    """What one live migration of domain `name` from `source_uri` to `dest_uri` is asked to do.

    `knobs` are the convergence preset's knobs with the user's overrides, resolved and checked;
    `data_uri` is the checked address of the data stream, or None.
    """

    name: str
    source_uri: str
    dest_uri: str
    data_uri: Optional[str]
    persist: bool
    undefine_source: bool
    bandwidth: int
    timeout: Optional[int]
    convergence: str
    knobs: dict
    tls: bool
    postcopy_recovery_wait: int
    copy_storage: str
    copy_disks: tuple
    cdrom: str
    remove_source_volumes: bool
    poll_interval: float
    claims: Optional[dict] = None

    @classmethod
    def from_params(cls, p):
        """Options from the migrate module's parameters (extra keys are ignored); raises DroverError."""
        check_domain_name(p["name"])
        if p["timeout"] is not None and p["timeout"] <= 0:
            raise DroverError("timeout must be a positive number of seconds, got %r" % p["timeout"])
        if p["bandwidth"] < 0:
            raise DroverError("bandwidth must be 0 (unlimited) or a positive MiB/s, got %r" % p["bandwidth"])
        if not 0.05 <= p["poll_interval"] <= 10:
            raise DroverError("poll_interval must be between 0.05 and 10 seconds, got %r" % p["poll_interval"])
        dest_uri = destination_uri(p["dest"], p["transport"], p["dest_user"])
        data_uri = migration_uri(p["migration_uri"]) if p["migration_uri"] else None
        return cls(
            name=p["name"], source_uri=p["uri"], dest_uri=dest_uri, data_uri=data_uri, persist=p["persist"],
            undefine_source=p["undefine_source"], bandwidth=p["bandwidth"], timeout=p["timeout"],
            convergence=p["convergence"], knobs=resolve_knobs(p["convergence"], p["convergence_knobs"]),
            tls=p["tls"], postcopy_recovery_wait=p["postcopy_recovery_wait"], copy_storage=p["copy_storage"],
            copy_disks=tuple(p["copy_disks"] or ()), cdrom=p["cdrom"],
            remove_source_volumes=p["remove_source_volumes"], poll_interval=p["poll_interval"],
            claims=claim_settings(p.get("claims")))


def claim_settings(claims):
    """The claim settings, checked; None when claims are off."""
    if not claims or not claims.get("enabled", True):
        return None
    if claims.get("run_id") is not None:
        check_run_id(claims["run_id"])
    for key, low in (("ttl", 1), ("memory_headroom_pct", 0), ("reserved_memory_mib", 0), ("max_inbound", 1)):
        if claims.get(key) is not None and not claims[key] >= low:
            raise DroverError("claims.%s must be at least %s, got %r" % (key, low, claims[key]))
    if claims.get("memory_headroom_pct") is not None and claims["memory_headroom_pct"] >= 100:
        raise DroverError("claims.memory_headroom_pct must be below 100, got %r" % claims["memory_headroom_pct"])
    if claims.get("vcpu_ratio") is not None and not claims["vcpu_ratio"] > 0:
        raise DroverError("claims.vcpu_ratio must be above 0, got %r" % claims["vcpu_ratio"])
    return dict(claims)
