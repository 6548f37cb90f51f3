# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Convergence policy: what to do, sample by sample, so a live migration finishes in known time.

Pure logic: it reads job-stat summaries and a clock value and answers with actions
(set_downtime, postcopy, pause, abort). The job monitor carries them out, so this file is
tested with synthetic sequences and needs no libvirt. Private to drover.libvirt.
"""

from __future__ import annotations

from collections import deque

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._switchover import qemu_limit
from ansible_collections.drover.libvirt.plugins.module_utils._values import check_ranges

GIB = 1024 ** 3
DAY_S = 86400
# QEMU takes at most about 8 TiB/s; no link comes near 1 TiB/s.
MAX_BANDWIDTH_MIB_S = 1024 * 1024
ACTIONS = ("none", "abort", "postcopy", "pause")
COMPRESSION_METHODS = ("xbzrle", "mt", "zlib", "zstd")

# Every knob and its default (the `balanced` preset). Times are seconds unless the name says ms.
KNOB_DEFAULTS = {
    "initial_downtime_ms": 100,   # first downtime limit
    "max_downtime_ms": 500,       # last step of the stepped schedule
    "downtime_steps": 5,          # steps from initial to max
    "step_interval_per_gib": 20,  # seconds between steps per GiB to move
    "min_step_interval": 2,       # ... but at least this
    "timeout_per_gib": 150,       # completion timeout per GiB of RAM + copied disk
    "min_timeout": 60,            # ... but at least this
    "stall_window": 20,           # stall: no new low of remaining bytes within this window
    "stall_ratio": 0.96,          # ... i.e. the window's minimum stays above 96% of the earlier minimum
    "on_stall": "postcopy",       # once the downtime schedule is spent: none, abort, postcopy, pause
    "on_timeout": "postcopy",     # abort, postcopy, pause
    "auto_converge": True,        # throttle the vCPUs when the guest dirties faster than the link
    "auto_converge_initial": 20,  # percent
    "auto_converge_increment": 10,
    "postcopy": True,             # allow switching to post-copy (set at start, used only if needed)
    "postcopy_after_first_pass": False,
    "postcopy_dirty_ratio": 0,    # after the first pass: post-copy once the guest dirties this share of the rate sent
    "calibrate_switchover": True,  # give QEMU each limit minus the switch-over cost learned for the host pair
    "postcopy_bandwidth": 0,      # MiB/s during post-copy, 0 = no cap
    "pause_grace": 60,            # after pausing the guest, abort if still not done by then
    "parallel_connections": 0,    # 0 = one stream; >= 2 uses multifd
    "compression": [],            # e.g. [xbzrle]; costs CPU, saves link
}

# Bounds of the numeric knobs, so an absurd value (1e300 s) is refused by name; _check adds the rules
# between knobs and that times be above 0.
KNOB_RANGES = {
    "initial_downtime_ms": (0, 600000), "max_downtime_ms": (0, 600000), "downtime_steps": (0, 100),
    "step_interval_per_gib": (0, DAY_S), "min_step_interval": (0, DAY_S), "timeout_per_gib": (0, DAY_S),
    "min_timeout": (0, 7 * DAY_S), "stall_window": (0, DAY_S), "auto_converge_initial": (0, 100),
    "auto_converge_increment": (0, 100), "postcopy_bandwidth": (0, MAX_BANDWIDTH_MIB_S), "pause_grace": (0, DAY_S),
    "postcopy_dirty_ratio": (0, 100),
}

# In the order the modules list them (their `convergence` choices come from here).
PRESETS = {
    # Step the downtime, throttle, and finish in post-copy if still not converging.
    "balanced": {},
    # The default. Each guest by its own dirty rate against the rate its move gets: pre-copy where that converges (no
    # throttling), post-copy right after the first pass where the guest dirties half or more of what is sent.
    "auto": {"auto_converge": False, "postcopy_dirty_ratio": 0.5},
    # When a pause is worse than giving up: low downtime, throttle, then abort.
    "minimal_downtime": {"initial_downtime_ms": 50, "max_downtime_ms": 300, "downtime_steps": 6,
                         "postcopy": False, "on_stall": "none", "on_timeout": "abort"},
    # Guests that dirty memory faster than any link: switch once the first full pass is sent.
    "postcopy": {"postcopy_after_first_pass": True, "auto_converge": False,
                 "initial_downtime_ms": 300, "max_downtime_ms": 300, "downtime_steps": 1},
    # Post-copy not allowed (e.g. untrusted link), but the move must happen: pause the guest.
    "suspend_if_needed": {"postcopy": False, "on_stall": "pause", "on_timeout": "pause"},
    # No convergence help at all: a plain pre-copy that is aborted at the timeout.
    "none": {"auto_converge": False, "postcopy": False, "on_stall": "none", "on_timeout": "abort",
             "downtime_steps": 0},
}


def resolve_knobs(preset, overrides=None):
    """The preset's knobs with the user's overrides, checked; raises DroverError on bad input."""
    if preset not in PRESETS:
        raise DroverError("convergence preset %r is not one of %s" % (preset, ", ".join(sorted(PRESETS))))
    knobs = dict(KNOB_DEFAULTS)
    knobs.update(PRESETS[preset])
    for key, value in (overrides or {}).items():
        if key not in KNOB_DEFAULTS:
            raise DroverError("unknown convergence knob %r; known: %s" % (key, ", ".join(sorted(KNOB_DEFAULTS))))
        if value is not None:
            knobs[key] = _coerce(key, value)
    _check(knobs)
    return knobs


def _coerce(key, value):
    """The knob's value in the type of its default; extra vars arrive as strings."""
    default = KNOB_DEFAULTS[key]
    try:
        if isinstance(default, bool):
            return boolean(value, strict=True)
        if isinstance(default, list):
            items = value.split(",") if isinstance(value, str) else list(value)
            return [str(item).strip() for item in items if str(item).strip()]
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        if isinstance(default, int) and float(value) == int(float(value)):
            return int(float(value))
        if isinstance(default, (int, float)):
            return float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise DroverError("convergence knob %s must be %s, got %r" % (
            key, {bool: "true or false", list: "a list"}.get(type(default), "a number"), value))


def _check(k):
    check_ranges(k, KNOB_RANGES, "convergence knob ")
    for key in ("initial_downtime_ms", "max_downtime_ms", "timeout_per_gib", "min_timeout", "stall_window",
                "min_step_interval", "pause_grace"):
        if not isinstance(k[key], (int, float)) or k[key] <= 0:
            raise DroverError("convergence knob %s must be a positive number, got %r" % (key, k[key]))
    if k["initial_downtime_ms"] > k["max_downtime_ms"]:
        raise DroverError("initial_downtime_ms (%s) is above max_downtime_ms (%s)"
                          % (k["initial_downtime_ms"], k["max_downtime_ms"]))
    if not 0 < k["stall_ratio"] <= 1:
        raise DroverError("stall_ratio must be in (0, 1], got %r" % k["stall_ratio"])
    if k["on_stall"] not in ACTIONS or k["on_timeout"] not in ACTIONS[1:]:
        raise DroverError("on_stall must be one of %s and on_timeout one of %s" % (ACTIONS, ACTIONS[1:]))
    if "postcopy" in (k["on_stall"], k["on_timeout"]) or k["postcopy_after_first_pass"] or k["postcopy_dirty_ratio"]:
        if not k["postcopy"]:
            raise DroverError("a post-copy action is set but postcopy is not allowed (postcopy: false)")
    if k["parallel_connections"] not in (0, 1) and not 2 <= k["parallel_connections"] <= 255:
        raise DroverError("parallel_connections must be 0 or 2..255, got %r" % k["parallel_connections"])
    bad = [m for m in k["compression"] if m not in COMPRESSION_METHODS]
    if bad:
        raise DroverError("unknown compression method(s) %s; use %s" % (bad, ", ".join(COMPRESSION_METHODS)))


def completion_timeout(knobs, total_bytes):
    """Seconds a migration of total_bytes (RAM + copied disk) may take before on_timeout."""
    return max(knobs["min_timeout"], knobs["timeout_per_gib"] * total_bytes / GIB)


def downtime_schedule(knobs, total_bytes):
    """[(seconds after start, downtime ms)]: the stepped downtime limits, first one at 0."""
    steps = knobs["downtime_steps"]
    if steps <= 0:
        return []
    interval = max(knobs["min_step_interval"], knobs["step_interval_per_gib"] * total_bytes / GIB)
    first, last = knobs["initial_downtime_ms"], knobs["max_downtime_ms"]
    if steps == 1:
        return [(0.0, last)]
    return [(i * interval, int(round(first + (last - first) * i / (steps - 1)))) for i in range(steps)]


class ConvergencePolicy:
    """Decides, at each job sample, which actions the monitor should take."""

    def __init__(self, knobs, total_bytes, timeout=None, switchover_ms=0):
        self.knobs = knobs
        self.switchover_ms = switchover_ms  # what the pause adds to QEMU's limit (_switchover.py)
        self.timeout = timeout or completion_timeout(knobs, total_bytes)
        self.schedule = downtime_schedule(knobs, total_bytes)
        self.next_step = 0
        self.last_step_at = 0.0
        self.phase = "precopy"          # precopy, postcopy, paused, aborting
        self.paused_at = None
        self.timed_out = False
        self.window = deque()           # (t, remaining) inside the stall window
        self.min_before_window = None   # lowest remaining seen before the window

    def confirm(self, action, ok):
        """The monitor reports whether an action took effect; phases follow only real changes."""
        if not ok:
            return
        if action == "postcopy":
            self.phase = "postcopy"
        elif action == "pause" and self.phase == "precopy":
            self.phase = "paused"

    def _stalled(self, t, remaining):
        self.window.append((t, remaining))
        while self.window and self.window[0][0] < t - self.knobs["stall_window"]:
            _old_t, old = self.window.popleft()
            self.min_before_window = old if self.min_before_window is None else min(self.min_before_window, old)
        if self.min_before_window is None:
            return False
        return min(r for _t, r in self.window) > self.knobs["stall_ratio"] * self.min_before_window

    def _act(self, action, reason):
        """An escalation (abort, postcopy, pause) in a form the monitor executes."""
        if action == "none":
            return []
        return [(action, None, reason)]

    def decide(self, t, sample):
        """Actions [(action, value, reason)] for a sample taken t seconds after the start."""
        if self.phase in ("postcopy", "aborting"):
            # Never abort or pause a post-copy migration (the guest lives on both hosts);
            # after an abort, the monitor alone insists until the job ends.
            return []
        actions = self._decide(t, sample)
        if any(a[0] == "abort" for a in actions):
            self.phase = "aborting"
        return actions

    def _decide(self, t, sample):
        actions = []
        due = None
        while self.next_step < len(self.schedule) and t >= self.schedule[self.next_step][0]:
            due = self.schedule[self.next_step]
            self.next_step += 1
        if due is not None:
            self.last_step_at = t
        if due is not None and self.phase == "precopy":
            step = "downtime step %d/%d" % (self.next_step, len(self.schedule))
            if self.switchover_ms:
                given = qemu_limit(due[1], self.switchover_ms)
                step += " (%d ms: %d ms to QEMU, %d ms switch-over)" % (due[1], given, self.switchover_ms)
                actions.append(("set_downtime", given, step))
            else:
                actions.append(("set_downtime", due[1], step))
        if self.phase == "paused":
            if t - self.paused_at >= self.knobs["pause_grace"]:
                return actions + [("abort", None, "still not done %ss after pausing the guest" % self.knobs["pause_grace"])]
            return actions
        k = self.knobs
        if k["postcopy_after_first_pass"] and sample.get("memory_iterations", 0) >= 2:
            return actions + [("postcopy", None, "first full pass sent")]
        hot = self._too_hot(sample)
        if hot:
            return actions + [("postcopy", None, hot)]
        if t >= self.timeout and not self.timed_out:
            self.timed_out = True
            return actions + self._escalate(t, k["on_timeout"], "ran %.1fs, over the %.0fs completion timeout"
                                            % (t, self.timeout))
        remaining = sample.get("data_remaining_bytes")
        if remaining is not None and remaining > 0 and self._stalled(t, remaining):
            # Escalate only once every downtime step has had a full window to work.
            spent = self.next_step >= len(self.schedule) and t - self.last_step_at >= k["stall_window"]
            if spent and k["on_stall"] != "none":
                self.window.clear()
                self.min_before_window = None
                return actions + self._escalate(t, k["on_stall"], "no progress for %ss (remaining %d bytes)"
                                                % (k["stall_window"], remaining))
        if self.timed_out and self.phase == "precopy" and t >= self.timeout + k["pause_grace"]:
            return actions + [("abort", None, "escalation at the timeout did not finish the migration")]
        return actions

    def _too_hot(self, sample):
        """Why pre-copy will not converge at the rate this move gets, or None (postcopy_dirty_ratio).

        Each later pass resends what the guest dirtied during the one before, so passes shrink only by
        the ratio of dirty rate to rate sent: at half or more, converging takes many passes and a long
        pause at the end; post-copy sends each remaining page once. QEMU measures both rates once a
        pass has ended, and the rate sent is this move's share of the link.
        """
        ratio = self.knobs["postcopy_dirty_ratio"]
        if not ratio or sample.get("memory_iterations", 0) < 2:
            return None
        dirty, sent = sample.get("dirty_rate_bps") or 0, sample.get("memory_bandwidth_bps") or 0
        if not dirty or not sent or dirty < ratio * sent:
            return None
        return ("dirtying %.1f MiB/s, %d%% of the %.1f MiB/s sent: pre-copy would not converge"
                % (dirty / 1048576.0, round(100.0 * dirty / sent), sent / 1048576.0))

    def _escalate(self, t, action, reason):
        if action == "pause":
            self.paused_at = t
        return self._act(action, reason)
