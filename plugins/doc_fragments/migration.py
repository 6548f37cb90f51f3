# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How each live migration runs, for migrate and move_domains (MIGRATION_ARGSPEC in module_utils/_argspec.py).
    DOCUMENTATION = r"""
options:
  transport:
    description:
      - Transport of the libvirt control connection to a destination given as a host name or address
        rather than a libvirt URI.
      - The source libvirt daemon opens that connection itself (peer-to-peer), so it needs the same
        access (SSH keys, TLS certificates) as the task.
      - V(tcp) is neither encrypted nor authenticated and is refused unless O(allow_insecure_transport=true).
    type: str
    choices: [ssh, tcp, tls]
    default: ssh
  bandwidth:
    description: Cap of each migration stream in MiB/s; V(0) means no cap.
    type: int
    default: 0
  timeout:
    description:
      - Completion timeout of each live migration in seconds. When it passes, the policy takes its
        C(on_timeout) action (abort, post-copy or pause, see O(convergence_knobs)). After an abort the
        domain keeps running on the source and the move fails and says so.
      - By default it is computed from the domain's memory, C(timeout_per_gib) seconds per GiB with a
        floor of C(min_timeout) (150 s/GiB, at least 60 s, in every preset).
    type: int
  convergence:
    description:
      - The convergence preset, what the job monitor does when pre-copy does not finish on its own.
      - V(balanced) steps the downtime limit up (100 to 500 ms), throttles the guest (auto-converge),
        and switches to post-copy when remaining bytes stop falling for C(stall_window) seconds after the
        last step, or at the timeout. Needs QEMU post-copy support (userfaultfd) on the destination.
      - V(auto) decides per guest from its own dirty rate against the rate its move gets (its share of the link),
        both measured by QEMU during the first pass. When the guest dirties less than half of what is sent,
        pre-copy converges and runs as in V(balanced) but without throttling the guest; at half or more
        (C(postcopy_dirty_ratio)) it switches to post-copy as soon as the first pass is sent, so each
        remaining page crosses once and the move takes about one pass. The default; needs post-copy support as
        V(balanced).
      - V(minimal_downtime) steps the downtime from 50 to 300 ms, throttles, and aborts at the timeout.
        For guests where a longer pause is worse than staying put.
      - V(postcopy) switches to post-copy as soon as the first full pass of memory is sent; bounded
        time, each page crosses once, for guests that dirty memory faster than any link.
      - V(suspend_if_needed) is V(balanced) without post-copy; it pauses the guest to finish (a longer
        downtime) when the link may not be trusted with post-copy.
      - V(none) does nothing but abort at the timeout, like a plain C(virsh migrate --timeout).
      - Once a migration is in post-copy it is never aborted or paused, since the guest lives on both hosts.
    type: str
    choices: [balanced, auto, minimal_downtime, postcopy, suspend_if_needed, none]
    default: auto
  convergence_knobs:
    description:
      - Overrides of single knobs of the preset; unknown knobs are refused. Times are in seconds.
      - C(initial_downtime_ms), C(max_downtime_ms), C(downtime_steps), C(step_interval_per_gib),
        C(min_step_interval) shape the stepped downtime limit, the pause the guest may see.
      - C(calibrate_switchover) (default true) gives QEMU each limit minus the switch-over cost (device state,
        stop and start) learned from the last 8 moves from this host to the same destination - libvirt's
        measured downtime beyond QEMU's limit - kept in C(/var/lib/libvirt/drover/switchover-DEST.json) on the
        source; never below 20 ms. C(metrics.estimated_pause_ms) in the result is the pause expected that way.
      - C(timeout_per_gib), C(min_timeout) give the completion timeout when O(timeout) is not set.
      - C(stall_window), C(stall_ratio) detect a stall - the lowest remaining byte count within the
        window stays above C(stall_ratio) of the lowest before it - and C(on_stall) (none, abort,
        postcopy, pause) says what to do once every downtime step had a full window to work.
      - C(on_timeout) (abort, postcopy, pause); C(pause_grace) aborts (and resumes the guest) when a
        paused or post-copy-requested migration is still not done that long after.
      - C(auto_converge), C(auto_converge_initial), C(auto_converge_increment) (percent, libvirt 2.0+);
        C(postcopy) (allow the switch), C(postcopy_after_first_pass), C(postcopy_dirty_ratio) (after the first
        pass, switch once the dirty rate reaches this share of the rate sent; 0 is off), C(postcopy_bandwidth) (MiB/s,
        libvirt 5.1+); C(parallel_connections) (multifd, libvirt 5.2+); C(compression) (list of
        xbzrle, mt, zlib, zstd).
    type: dict
    default: {}
  tls:
    description:
      - Encrypt the migration data stream with QEMU's native TLS (libvirt's C(migrate_tls_*) settings on
        both hosts must point to certificates).
      - Without it the guest's memory and copied disks cross the migration network in clear, whatever
        O(transport) is; set it wherever that network is shared.
    type: bool
    default: false
  postcopy_recovery_wait:
    description:
      - Seconds to keep recovering a migration that failed during post-copy (for example a broken link),
        while the guest runs on the destination with part of its memory on the source. Neither side is
        ever destroyed; the migration is driven forward as soon as the link allows.
      - The stream is resumed with C(VIR_MIGRATE_POSTCOPY_RESUME) (libvirt 8.5 or later), or on
        libvirt 11.3.0, whose resume call crashes the destination daemon, with QEMU's own resume command.
      - When the time runs out, the move fails and says the guest is split between the hosts.
    type: int
    default: 300
  remove_source_volumes:
    description: After a successful move, delete the copied volumes on the source (only disks that were copied).
    type: bool
    default: false
  poll_interval:
    description: Seconds between two samples of each migration job's progress.
    type: float
    default: 0.5
"""
