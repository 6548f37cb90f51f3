# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the rolling role: host order, whether the next host starts, a host's record, JUnit.

Each filter is documented in its own file beside this one (rolling_order.yml, rolling_next.yml,
rolling_record.yml, rolling_junit.yml, rolling_preview.yml, rolling_campaign.yml), as ansible-core expects for a file with several filters.
"""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils import _rolling as rolling
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def _call(name, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except DroverError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc.msg)) from exc
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AnsibleFilterError("%s: malformed input (%r)" % (name, exc)) from exc


def rolling_order(hosts, fleet, order="given"):
    """The hosts in the order to maintain them."""
    return _call("rolling_order", rolling.order_hosts, list(hosts), dict(fleet or {}), order)


def _next(records, facts, assumed, started_at, window_end, budget_minutes, max_fail_pct, now):
    started = rolling.aware(started_at)
    end = rolling.window_end(started, window_end or None, budget_minutes or None)
    model = rolling.learn(records, assumed)
    expected = rolling.estimate(facts, model)
    moment = rolling.aware(now) if now else datetime.datetime.now(datetime.timezone.utc)
    decision = rolling.decide(records, moment, end, expected["seconds"], max_fail_pct)
    return dict(decision, expected=expected, model=model, window_end=end.isoformat(timespec="seconds") if end else None)


def rolling_next(records, facts, assumed, started_at, window_end="", budget_minutes=0, max_fail_pct=0, now=None):
    """Whether the next host starts, with its estimate and the window."""
    return _call("rolling_next", _next, list(records or []), facts, assumed, started_at, window_end,
                 budget_minutes, max_fail_pct, now)


def rolling_record(host, outcome, reason="", started_at=None, finished_at=None, hook_seconds=None, moves=None,
                   expected=None):
    """One host's entry in the rolling report."""
    return _call("rolling_record", rolling.host_record, host, outcome, reason, started_at, finished_at,
                 hook_seconds, list(moves or []), expected)


def _preview(order, fleet, assumed, started_at, window_end, budget_minutes, constraints):
    started = rolling.aware(started_at)
    end = rolling.window_end(started, window_end or None, budget_minutes or None)
    view = rolling.preview(order, fleet, rolling.learn([], assumed), started, end, constraints)
    return dict(view, lines=rolling.preview_lines(view))


def rolling_preview(order, fleet, assumed, started_at, window_end="", budget_minutes=0, constraints=None):
    """The whole rolling run, host by host, as check mode shows it."""
    return _call("rolling_preview", _preview, list(order), dict(fleet), assumed, started_at, window_end,
                 budget_minutes, constraints)


def rolling_junit(records, name="rolling maintenance"):
    """JUnit XML with one test case per host and per VM."""
    return _call("rolling_junit", rolling.junit, list(records or []), name)


def rolling_campaign(fleet, hosts, given="", resume=True, resume_hours=24, now=None, new_id=None):
    """The campaign this run belongs to, and the hosts it finished earlier."""
    moment = rolling.aware(now) if now else datetime.datetime.now(datetime.timezone.utc)
    new_id = new_id or "rolling-" + moment.strftime("%Y%m%d%H%M%S")
    return _call("rolling_campaign", rolling.campaign, dict(fleet or {}), list(hosts), given or "", bool(resume),
                 moment, float(resume_hours), new_id)


class FilterModule:
    """drover.libvirt filters for rolling maintenance."""

    def filters(self):
        return {"rolling_order": rolling_order, "rolling_next": rolling_next, "rolling_record": rolling_record,
                "rolling_junit": rolling_junit, "rolling_preview": rolling_preview,
                "rolling_campaign": rolling_campaign}
