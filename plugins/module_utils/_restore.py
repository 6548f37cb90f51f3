# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which domains go home: the moves that bring each domain back to the host recorded as its origin.

Pure: works on fleet facts (hypervisor_info/fleet_info shape, each domain's `origin`, see
_origin). Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations


def _holders(fleet):
    """{name: [hosts it is defined on]} over the hosts read."""
    where = {}
    for host, facts in fleet.items():
        for dom in (facts or {}).get("domains") or []:
            where.setdefault(dom["name"], []).append(host)
    return where


def restore_batches(fleet, homes, moved_by_hand=False):
    """{batches: [{holder, moves}], left: [{domain, holder, home, reason}], lines} for the domains of `homes`.

    A domain comes home from the host holding it when its origin is one of `homes`, it is defined
    on one host only, and that host is where drover put it (`to`) or `moved_by_hand` is set. It
    moves live when it runs, as a definition when it is shut off. A home that is marked for
    maintenance or was not read takes nothing back; the domain stays and the reason says why.
    """
    homes = list(homes)
    where = _holders(fleet)
    batches, left = {}, []
    for holder in sorted(fleet):
        for dom in (fleet[holder] or {}).get("domains") or []:
            origin = dom.get("origin") or {}
            home = origin.get("host")
            if home not in homes or home == holder:
                continue
            entry = {"domain": dom["name"], "holder": holder, "home": home}
            mark = ((fleet.get(home) or {}).get("hypervisor") or {}).get("maintenance")
            if len(where[dom["name"]]) > 1:
                reason = "defined on %s: settle that first" % ", ".join(sorted(where[dom["name"]]))
            elif home not in fleet:
                reason = "%s was not read" % home
            elif mark:
                reason = "%s is marked %s (%s)" % (home, mark.get("state"), mark.get("reason") or "no reason given")
            elif origin.get("to") not in (None, holder) and not moved_by_hand:
                reason = "moved by hand since drover put it on %s; set moved_by_hand to bring it home" % origin["to"]
            else:
                reason = None
            if reason:
                left.append(dict(entry, reason=reason))
                continue
            batches.setdefault(holder, []).append({"domain": dom["name"], "destination": home,
                                                   "method": "live" if dom.get("active") else "define"})
    lines = ["%s: %s -> %s (%s)" % (m["domain"], h, m["destination"], m["method"]) for h, ms in batches.items() for m in ms]
    lines += ["%s stays on %s: %s" % (e["domain"], e["holder"], e["reason"]) for e in left]
    return {"batches": [{"holder": h, "moves": m} for h, m in batches.items()], "left": left,
            "lines": lines or ["no domain has %s as its origin" % " or ".join(homes)]}


def restore_outcome(loop_results):
    """{results, moved, failed, lines} from the registered loop of move_domains over the holders.

    A holder that gave no per-domain results (unreachable, or the module failed before moving)
    counts each of its domains failed with the reason it gave; they were not moved.
    """
    results = []
    for item in loop_results:
        batch = item.get("item") or {}
        homes = {move["domain"]: move["destination"] for move in batch.get("moves", [])}
        if item.get("results") is not None:
            results.extend(dict(r, home=homes.get(r["name"])) for r in item["results"])
            continue
        for move in batch.get("moves", []):
            results.append({"name": move["domain"], "from": batch.get("holder"), "to": None, "status": "failed",
                            "error": item.get("msg") or "no answer from %s" % batch.get("holder"),
                            "downtime_ms": None, "home": move["destination"]})
    failed = [r for r in results if r.get("status") == "failed"]
    lines = ["%s: %s -> %s %s%s" % (r["name"], r.get("from"), r.get("to") or "-", r["status"],
                                    (": %s" % r["error"]) if r.get("error") else
                                    (" (paused %s ms)" % r["downtime_ms"]) if r.get("downtime_ms") is not None else "")
             for r in results]
    brief = [{k: r.get(k) for k in ("name", "from", "to", "home", "status", "error", "downtime_ms")} for r in results]
    return {"results": results, "brief": brief, "moved": len(results) - len(failed), "failed": len(failed),
            "lines": lines}
