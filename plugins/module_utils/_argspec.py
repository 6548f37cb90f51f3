# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs that several modules share; choices come from where the values are defined.

Each *_ARGSPEC group is documented by the doc fragment of the same name, one to one:
CONNECTION_ARGSPEC by drover.libvirt.connection, MIGRATION_ARGSPEC by drover.libvirt.migration,
CLAIMS_ARGSPEC by drover.libvirt.claims. The *_RANGES beside them bound their numbers
(_values.check_ranges; LibvirtModule checks a module's ranges before it connects anywhere).
The single options below them are documented by each module, in its own words.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.module_utils._claims import DEFAULT_TTL_S
from ansible_collections.drover.libvirt.plugins.module_utils._convergence import DAY_S, MAX_BANDWIDTH_MIB_S, PRESETS
from ansible_collections.drover.libvirt.plugins.module_utils._maintenance import MARK_STATES
from ansible_collections.drover.libvirt.plugins.module_utils._storage import CDROM_MODES, COPY_MODES
from ansible_collections.drover.libvirt.plugins.module_utils._uri import TRANSPORTS

# The libvirt connection every module opens (LibvirtModule adds it). Plain TCP and URIs that turn
# off a check are refused unless allow_insecure_transport is set (_uri.refuse_insecure).
CONNECTION_ARGSPEC = dict(
    uri=dict(type="str", default="qemu:///system"),
    allow_insecure_transport=dict(type="bool", default=False),
)

MAX_MEMORY_MIB = 1 << 30  # 1 PiB
# What one module run may do at once, or try again, at most.
MAX_PARALLEL = 1000

DOMAIN_NAME = dict(type="str", required=True, aliases=["domain"])
TRANSPORT = dict(type="str", choices=sorted(TRANSPORTS), default="ssh")
CONVERGENCE = dict(type="str", choices=list(PRESETS), default="auto")
COPY_STORAGE = dict(type="str", choices=list(COPY_MODES), default="none")
CDROM = dict(type="str", choices=list(CDROM_MODES), default="keep")
MAINTENANCE_MARK = dict(type="str", choices=list(MARK_STATES), default="draining")
# What to read about the domains of the host the module runs on (hypervisor_info, fleet_info).
LOCAL_FACTS_OPTIONS = dict(
    domains=dict(type="list", elements="str"),
    dirty_rate_seconds=dict(type="int", default=0),
    agent_ping=dict(type="bool", default=False),
)
LOCAL_FACTS_RANGES = dict(dirty_rate_seconds=(0, 60))

# How each live migration runs, in migrate and in move_domains alike (see _migration_options).
MIGRATION_ARGSPEC = dict(
    transport=TRANSPORT,
    bandwidth=dict(type="int", default=0),
    timeout=dict(type="int"),
    convergence=CONVERGENCE,
    convergence_knobs=dict(type="dict", default={}),
    tls=dict(type="bool", default=False),
    postcopy_recovery_wait=dict(type="int", default=300),
    remove_source_volumes=dict(type="bool", default=False),
    poll_interval=dict(type="float", default=0.5),
)
MIGRATION_RANGES = dict(
    bandwidth=(0, MAX_BANDWIDTH_MIB_S),
    timeout=(1, 7 * DAY_S),
    postcopy_recovery_wait=(0, DAY_S),
    poll_interval=(0.05, 10),
)

# Capacity claims on destinations, shared with other runs (see _claims and _claim_store).
CLAIMS_ARGSPEC = dict(
    claims=dict(type="dict", apply_defaults=True, options=dict(
        enabled=dict(type="bool", default=True),
        run_id=dict(type="str"),
        owner=dict(type="str"),
        ttl=dict(type="int", default=DEFAULT_TTL_S),
        memory_headroom_pct=dict(type="float", default=10.0),
        reserved_memory_mib=dict(type="int", default=0),
        vcpu_ratio=dict(type="float", default=4.0),
        max_inbound=dict(type="int"),
    )),
)
CLAIMS_RANGES = dict(
    ttl=(1, 7 * DAY_S),
    memory_headroom_pct=(0, 99),
    reserved_memory_mib=(0, MAX_MEMORY_MIB),
    vcpu_ratio=(0.01, 1000),
    max_inbound=(1, MAX_PARALLEL),
)
# A module with the migration and claims options bounds them so.
MOVE_RANGES = dict(MIGRATION_RANGES, claims=CLAIMS_RANGES)
