# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of a live migration, pure: no libvirt, no I/O, tested with plain dicts.

Which domain names libvirt can hold, what to do given where a domain is (decide: never a state
that leaves it on zero or two hosts), where it is after a failure, the flags and parameters of
the libvirt call, and the figures reported from its job stats. _domain_presence reads the
presence records these rules take; _live_migration runs the flow.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError, quoted

# A domain's presence on one host (see _domain_presence.presence) when it is not there.
ABSENT = {"exists": False, "active": False, "persistent": False, "state": "absent",
          "migratable": False, "uuid": None, "postcopy": False, "postcopy_failed": False, "reason": None}

# Stats keys of virDomainGetJobStats (VIR_DOMAIN_JOB_*) used in results.
_SAMPLE_KEYS = {
    "time_elapsed": "elapsed_ms",
    "data_remaining": "data_remaining_bytes",
    "data_processed": "data_processed_bytes",
    "data_total": "data_total_bytes",
    "memory_remaining": "memory_remaining_bytes",
    "memory_bps": "memory_bandwidth_bps",
    "memory_iteration": "memory_iterations",
    "downtime": "expected_downtime_ms",
}


def check_domain_name(name):
    """Refuse names libvirt could never hold, before any connection is used.

    Empty, not text, with control characters or a slash, not encodable as UTF-8, or longer than
    255 bytes. Spaces, quotes and shell characters are valid in libvirt names and never reach a shell.
    """
    if not isinstance(name, str) or not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name) or "/" in name:
        raise DroverError("domain name %s is not a valid libvirt domain name" % quoted(name))
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise DroverError("domain name %s is not valid UTF-8 text" % quoted(name)) from None
    if size > 255:
        raise DroverError("domain name %s is longer than 255 bytes" % quoted(name))


def lost_in_postcopy(src, dst):
    """True when the destination runs the half of a post-copy move whose source half is gone.

    The memory the destination had not received yet died with the source's QEMU (crashed, killed, or
    restarted by QEMU itself after an I/O error it did not pause on): the guest cannot go on, and the move
    can neither finish nor be undone. It is not a landed move.
    """
    if not (dst.get("postcopy") and dst["active"]) or src["active"] or src.get("reason") == "migrated":
        return False  # a source shut off as "migrated" finished the move; the destination is only slow to say so
    # A source that is not there at all may be one the finished move undefined: only a destination that has noticed
    # its stream failed says otherwise.
    return src["exists"] or bool(dst.get("postcopy_failed"))


def lost_text(subject, src, dst_name="the destination"):
    """What to tell the user about a domain lost_in_postcopy(): what happened and how to bring it back."""
    gone = "shut off%s" % (" (%s)" % src["reason"] if src.get("reason") else "") if src["exists"] else "absent"
    return ("%s was LOST IN POST-COPY: it runs on %s as the half of a post-copy migration whose source is gone "
            "(source: %s); the memory that had not crossed yet went with the source's QEMU, so the guest cannot "
            "go on. Its definitions were left as they are. Restart it from its disks on %s, which hold its latest "
            "writes (docs/migrate.md, 'Lost in post-copy')" % (subject, dst_name, gone, dst_name))


def stuck_text(subject):
    """What to tell the user about a move stuck in its switch-over to post-copy (see split_moves(stuck=True))."""
    return ("%s is STUCK IN THE SWITCH-OVER TO POST-COPY: the destination never received the guest's device state "
            "(it is paused there as an incoming migration that never started) while the source's QEMU has paused "
            "the move for a resume; QEMU before 10.2 can neither resume such a move nor run the guest on its source "
            "again, so the guest is down. Its definitions were left as they are. Restart it from its disks on the "
            "source, which hold its latest writes: the destination never ran it (docs/migrate.md, 'Stuck in "
            "the switch-over')" % subject)


def decide(name, src, dst, persist, undefine_source):
    """What to do given the domain's presence on source and destination.

    Returns {"action": "migrate" | "none", "cleanup": [...]}; raises DroverError
    whenever acting could leave the domain on no host or on two.
    """
    if src["active"] and dst["active"]:
        raise DroverError("domain %r is active on both the source and the destination; refusing to "
                          "touch either until a person decides which one is real" % name,
                          source_state=src["state"], destination_state=dst["state"])
    if src["active"]:
        if dst["exists"]:
            raise DroverError("domain %r is already defined on the destination (%s); refusing to "
                              "migrate over that definition" % (name, dst["state"]))
        if src.get("postcopy"):
            raise DroverError("domain %r is still one half of a post-copy migration that has not finished (%s on the "
                              "source); it moves on once that migration is done (playbooks/migrate.yml finishes a "
                              "failed one)" % (name, src["state"]))
        if not src["migratable"]:
            raise DroverError("domain %r is %s on the source; only a running or user-paused domain "
                              "can be live-migrated" % (name, src["state"]))
        return {"action": "migrate", "cleanup": []}
    if lost_in_postcopy(src, dst):
        raise DroverError(lost_text("domain %r" % name, src), source_state=src["state"], destination_state=dst["state"])
    if dst["active"]:
        if src["exists"] and src["uuid"] != dst["uuid"]:
            raise DroverError("domain %r runs on the destination, but a different domain of that name "
                              "(uuid %s) is defined on the source; resolve the clash by hand"
                              % (name, src["uuid"]))
        cleanup = []
        if src["exists"] and undefine_source:
            cleanup.append("undefine_source")
        if persist and not dst["persistent"]:
            cleanup.append("define_destination")
        return {"action": "none", "cleanup": cleanup}
    if src["exists"]:
        raise DroverError("domain %r is not running on the source (state: %s); live migration needs a "
                          "running domain" % (name, src["state"]), source_state=src["state"])
    if dst["exists"]:
        raise DroverError("domain %r is not on the source and is %s on the destination; nothing to "
                          "migrate" % (name, dst["state"]), destination_state=dst["state"])
    raise DroverError("domain %r was not found on the source nor on the destination" % name)


def where_after_failure(src, dst):
    """Name where a domain runs after a failed migration: source, destination, both, lost or none."""
    if lost_in_postcopy(src, dst):
        return "lost"
    if src["active"] and dst["active"]:
        return "both"
    if src["active"]:
        return "source"
    if dst["active"]:
        return "destination"
    return "none"


def migration_flags(persist, undefine_source, knobs=None, tls=False):
    """Names of the VIR_MIGRATE_* flags used (returned to the user as they are)."""
    knobs = knobs or {}
    names = ["LIVE", "PEER2PEER", "ABORT_ON_ERROR"]
    if persist:
        names.append("PERSIST_DEST")
    if undefine_source:
        names.append("UNDEFINE_SOURCE")
    if knobs.get("auto_converge"):
        names.append("AUTO_CONVERGE")
    if knobs.get("postcopy"):
        names.append("POSTCOPY")  # permits the switch; post-copy starts only when the policy says so
    if knobs.get("parallel_connections", 0) >= 2:
        names.append("PARALLEL")
    if knobs.get("compression"):
        names.append("COMPRESSED")
    if tls:
        names.append("TLS")
    return names


def migration_params(bandwidth_mib=0, data_uri=None, knobs=None):
    """virTypedParameters for migrateToURI3 (keys are VIR_MIGRATE_PARAM_* values)."""
    knobs = knobs or {}
    params = {}
    if bandwidth_mib:
        params["bandwidth"] = int(bandwidth_mib)
    if data_uri:
        params["migrate_uri"] = data_uri
    if knobs.get("auto_converge"):
        params["auto_converge.initial"] = int(knobs["auto_converge_initial"])
        params["auto_converge.increment"] = int(knobs["auto_converge_increment"])
    if knobs.get("postcopy") and knobs.get("postcopy_bandwidth"):
        params["bandwidth.postcopy"] = int(knobs["postcopy_bandwidth"])
    if knobs.get("parallel_connections", 0) >= 2:
        params["parallel.connections"] = int(knobs["parallel_connections"])
    if knobs.get("compression"):
        params["compression"] = list(knobs["compression"])
    return params


def flags_value(libvirt, names):
    """The flags named by migration_flags() as libvirt's bit mask (libvirt is the module, passed in)."""
    value = 0
    for name in names:
        value |= getattr(libvirt, "VIR_MIGRATE_" + name)
    return value


def summarize_stats(stats):
    """Job stats -> the subset a person reads, with units in the names."""
    summary = {}
    for key, out in _SAMPLE_KEYS.items():
        if key in stats:
            summary[out] = int(stats[key])
    if "memory_dirty_rate" in stats:
        summary["dirty_rate_bps"] = int(stats["memory_dirty_rate"]) * int(stats.get("memory_page_size", 4096))
    return summary


def completed_metrics(stats, wall_ms):
    """Metrics of a finished migration from its completed-job stats."""
    data = stats.get("data_processed")
    if data is None:
        data = stats.get("memory_processed", 0) + stats.get("disk_processed", 0)
    return {
        "downtime_ms": int(stats.get("downtime", 0)),
        "duration_ms": int(stats.get("time_elapsed", 0)),
        "data_bytes": int(data),
        "memory_bytes": int(stats.get("memory_processed", 0)),
        "disk_bytes": int(stats.get("disk_processed", 0)),
        "memory_iterations": int(stats.get("memory_iteration", 0)),
        "memory_bandwidth_bps": int(stats.get("memory_bps", 0)),
        "setup_ms": int(stats.get("setup_time", 0)),
        "wall_ms": int(wall_ms),
    }
