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

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import CLAIMS_RANGES, MIGRATION_RANGES
from ansible_collections.drover.libvirt.plugins.module_utils._claims import check_run_id
from ansible_collections.drover.libvirt.plugins.module_utils._convergence import resolve_knobs
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import check_domain_name
from ansible_collections.drover.libvirt.plugins.module_utils._uri import (
    INSECURE_SWITCH, checked_uri, destination_uri, migration_uri)
from ansible_collections.drover.libvirt.plugins.module_utils._values import check_ranges


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
        check_ranges(p, MIGRATION_RANGES)
        # Both connections are checked before either is opened: plain TCP only when allowed.
        allow_insecure = bool(p.get(INSECURE_SWITCH))
        checked_uri(p["uri"], "source URI", allow_insecure)
        dest_uri = destination_uri(p["dest"], p["transport"], p["dest_user"], allow_insecure=allow_insecure)
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
    check_ranges(claims, CLAIMS_RANGES, "claims.")
    return dict(claims)
