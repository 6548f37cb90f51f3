# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Capacity claims on destinations (CLAIMS_ARGSPEC in module_utils/_argspec.py).
    DOCUMENTATION = r"""
options:
  claims:
    description:
      - Capacity claims between runs. Before a domain starts moving, the run claims its memory and
        vCPUs on the destination, in a file that the destination's libvirt daemon creates in its
        storage pool C(drover-state) (C(/var/lib/libvirt/drover)). The claim is kept only if
        it fits beside the domains active there and every other run's live claim, under the limits
        below; otherwise the domain does not move there and the reason names the runs holding the room.
      - The claim is removed when the move ends, whatever its outcome. A claim left by a run that was
        killed expires after O(claims.ttl) seconds (plus a minute of grace for clocks that disagree),
        is ignored from then on, and removed by the next run that claims room on that host.
      - A domain that is already active on the destination (arriving or arrived) counts once, through
        its memory there, never also through its claim.
      - In check mode the room is checked and nothing is written.
    type: dict
    suboptions:
      enabled:
        description: Claim room before each move that starts a domain on a destination.
        type: bool
        default: true
      run_id:
        description:
          - Identifies this run's claims (1-40 letters, digits or dashes). Planning ignores the claims of its
            own run. A random id is used when not set.
        type: str
      owner:
        description: Who runs the move (a person or a job), written into the claim for whoever reads it.
        type: str
      ttl:
        description: Seconds a claim stays valid if the run never removes it.
        type: int
        default: 600
      memory_headroom_pct:
        description: Percent of the destination's memory kept free, as the planner keeps it.
        type: float
        default: 10.0
      reserved_memory_mib:
        description: MiB of the destination's memory kept for the host itself.
        type: int
        default: 0
      vcpu_ratio:
        description: Allowed vCPUs per physical CPU on the destination.
        type: float
        default: 4.0
      max_inbound:
        description:
          - The most moves of this run (same O(claims.run_id)) that may arrive at one destination at once,
            counted through the claims, so the cap holds across several sources draining in parallel in
            separate processes. A move over it waits for one of them to end. Unset, no such limit.
        type: int
"""
