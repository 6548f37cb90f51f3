"""The HTML evacuation report, built from hand-made reports: escaping, empty runs, the chart's geometry."""
import pytest
from ansible.errors import AnsibleFilterError
from htmlpage import Page

from ansible_collections.drover.libvirt.plugins.filter.report_html import FilterModule
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._report_html import (
    BAR_H,
    MIN_BAR_W,
    MIN_PAUSE_W,
    PLOT_W,
    PLOT_X,
    offset_label,
    report_html,
    tick_step,
    timeline,
)

HOSTILE = '<img src=x onerror="alert(1)">&amp;\'q\''


def vm(name, start, end, status="migrated", source="hv1", to="hv2", **fields):
    """One per-VM result as the role writes it; start and end are seconds after 10:00:00 UTC."""
    result = {"name": name, "from": source, "to": to if status != "failed" else None, "status": status,
              "method": "live", "attempts": 1, "downtime_ms": 50, "duration_ms": 1000, "bytes": 1 << 30,
              "overhead_ms": 20, "started_at": at(start), "finished_at": at(end), "error": None,
              "tries": [{"destination": to, "status": status, "error": None, "started_at": at(start),
                         "finished_at": at(end), "location": "destination", "no_room": False}],
              "verify": {"ok": True, "reason": "running on %s" % to}}
    result.update(fields)
    return result


def at(seconds):
    if seconds is None:
        return None
    minutes, rest = divmod(seconds, 60)
    return "2026-03-02T10:%02d:%06.3f+00:00" % (minutes, rest)


def report(results, **fields):
    base = {"kind": "drover.libvirt.evacuation", "status": "finished", "stopped": None, "run_id": "r1",
            "owner": "ops", "started_at": "2026-03-02T09:59:50.000001", "finished_at": "2026-03-02T10:01:00.5",
            "hosts": ["hv1"], "unreachable": [], "ok": True, "plan": None, "results": results}
    base.update(fields)
    return base


# ---------------------------------------------------------------- escaping

def test_names_and_errors_with_markup_are_text_not_elements():
    failed = vm(HOSTILE, 0, 5, "failed", error='refused: <b>"quota"</b> & more')
    page_text = report_html(report([failed, vm("caf\u00e9-\u2713", 1, 3)], hosts=[HOSTILE]))
    page = Page(page_text)
    assert not page.find("img") and not page.find("b")
    assert "<img" not in page_text and "<b>" not in page_text
    cells = [e["text"] for e in page.find("td", cls="name")]
    assert cells == [HOSTILE, "caf\u00e9-\u2713"]
    assert [e["attrs"]["data-domain"] for e in page.find("rect", cls="bar")] == [HOSTILE, "caf\u00e9-\u2713"]
    assert [e["text"] for e in page.find("td", cls="problem")][0] == 'refused: <b>"quota"</b> & more'
    assert page.find("h1")[0]["text"] == "Evacuation of " + HOSTILE


def test_control_characters_and_lone_surrogates_are_replaced():
    page = Page(report_html(report([vm("vm\x01a\ud800", 0, 1, error=None)])))
    assert page.find("td", cls="name")[0]["text"] == "vm?a?"


def test_the_page_is_self_contained():
    text = report_html(report([vm("vm1", 0, 10)]))
    assert text.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    for external in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert external not in text


# ---------------------------------------------------------------- empty and stopped runs

def test_a_run_that_moved_nothing_has_no_chart_and_says_so():
    page = Page(report_html(report([], status="stopped", ok=False, stopped="Plan: no host could be read")))
    assert not page.find("svg", cls="timeline")
    assert page.find("p", id="no-moves")[0]["text"] == "No moves were started."
    assert page.find("td", cls="empty")[0]["text"] == "No domain results: nothing was moved."
    assert page.find("span", id="verdict")[0]["text"] == "stopped"
    assert page.find("p", cls="stopped")[0]["text"] == "The run stopped: Plan: no host could be read"


def test_the_page_of_a_run_in_progress_says_it_may_have_been_interrupted():
    # As the role writes it when a run starts, so a previous run's page never looks current.
    page = Page(report_html({"kind": "drover.libvirt.evacuation", "status": "running", "run_id": "r2", "owner": "ops",
                             "hosts": ["hv1"], "started_at": "2026-03-02T09:59:50.000001", "ok": False, "results": []}))
    assert page.find("span", id="verdict")[0]["text"] == "running"
    assert "in progress, or it was interrupted" in page.find("p", id="running")[0]["text"]
    assert not page.find("svg", cls="timeline")


def test_skipped_domains_are_in_the_table_but_have_no_bar():
    skipped = vm("pinned", None, None, "skipped", to=None, tries=None, downtime_ms=None, error="pinned")
    page = Page(report_html(report([vm("vm1", 0, 10), skipped])))
    assert [e["attrs"]["data-domain"] for e in page.find("rect", cls="bar")] == ["vm1"]
    assert [e["attrs"]["data-domain"] for e in page.find("tr") if "data-domain" in e["attrs"]] == ["vm1", "pinned"]


def test_missing_keys_show_as_dashes():
    page = Page(report_html({"results": []}))
    facts = dict(zip([e["text"] for e in page.find("dt")], [e["text"] for e in page.find("dd")]))
    assert facts["Run id"] == "-" and facts["Started"] == "-" and facts["Took"] == "-"


@pytest.mark.parametrize("bad", [None, [], "report"])
def test_anything_but_a_report_is_refused(bad):
    with pytest.raises(DroverError, match="expected the evacuation report"):
        report_html(bad)
    with pytest.raises(AnsibleFilterError, match="report_html: expected the evacuation report"):
        FilterModule().filters()["report_html"](bad)


def test_malformed_results_are_refused_by_name():
    with pytest.raises(AnsibleFilterError, match="vm1 has unknown status 'moved'"):
        FilterModule().filters()["report_html"](report([vm("vm1", 0, 1, status="moved")]))


# ---------------------------------------------------------------- the chart's geometry

def test_bars_span_their_moves_on_one_time_scale():
    chart = timeline([vm("a", 0, 10), vm("b", 10, 40), vm("c", 20, 30, to="hv3")])
    assert chart["span_s"] == 40.0 and chart["bars"] == 3
    bars = {drawn["name"]: drawn for group in chart["groups"] for drawn in group["bars"]}
    assert bars["a"]["x"] == pytest.approx(PLOT_X)
    assert bars["a"]["width"] == pytest.approx(PLOT_W / 4)
    assert bars["b"]["x"] == pytest.approx(PLOT_X + PLOT_W / 4)
    assert bars["b"]["x"] + bars["b"]["width"] == pytest.approx(PLOT_X + PLOT_W)
    assert bars["c"]["x"] == pytest.approx(PLOT_X + PLOT_W / 2)


def test_bars_are_grouped_by_source_and_destination_and_ordered_by_start():
    results = [vm("late", 30, 31, source="hv2", to="hv3"), vm("x", 5, 9, to="hv3"), vm("first", 0, 2, to="hv3"),
               vm("other", 1, 3, source="hv2", to="hv1"),
               vm("lost", 4, 6, "failed", tries=[]), vm("retried", 2, 8, "failed", to="hv4")]
    chart = timeline(results)
    assert [(g["source"], g["destination"], [b["name"] for b in g["bars"]]) for g in chart["groups"]] == [
        ("hv1", "hv3", ["first", "x"]), ("hv1", "hv4", ["retried"]), ("hv1", None, ["lost"]),
        ("hv2", "hv1", ["other"]), ("hv2", "hv3", ["late"])]
    ys = [drawn["y"] for group in chart["groups"] for drawn in group["bars"]]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    assert chart["height"] > ys[-1] + BAR_H


def test_the_pause_ends_with_the_bar_and_is_never_thinner_than_visible():
    chart = timeline([vm("long", 0, 100, downtime_ms=20_000), vm("short", 0, 50, downtime_ms=30)])
    bars = {drawn["name"]: drawn for drawn in chart["groups"][0]["bars"]}
    assert bars["long"]["pause"]["width"] == pytest.approx(PLOT_W / 5)
    assert bars["short"]["pause"]["width"] == MIN_PAUSE_W
    for drawn in bars.values():
        assert drawn["pause"]["x"] + drawn["pause"]["width"] == pytest.approx(drawn["x"] + drawn["width"])


def test_a_move_without_downtime_has_no_pause_and_a_tiny_move_stays_visible():
    chart = timeline([vm("cold", 0, 1000, "moved_cold", downtime_ms=None), vm("blink", 1000, 1000.001)])
    bars = {drawn["name"]: drawn for drawn in chart["groups"][0]["bars"]}
    assert bars["cold"]["pause"] is None
    assert bars["blink"]["width"] == MIN_BAR_W
    assert bars["blink"]["x"] + bars["blink"]["width"] <= PLOT_X + PLOT_W


def test_failed_tries_before_the_last_are_marked_where_they_ran():
    tries = [{"destination": "hv2", "status": "failed", "error": "socket closed", "started_at": at(0),
              "finished_at": at(5)},
             {"destination": "hv3", "status": "migrated", "error": None, "started_at": at(5), "finished_at": at(20)}]
    drawn = timeline([vm("vm1", 0, 20, to="hv3", attempts=2, tries=tries)])["groups"][0]["bars"][0]
    assert drawn["retries"] == [{"x": pytest.approx(PLOT_X), "width": pytest.approx(PLOT_W / 4), "destination": "hv2",
                                 "error": "socket closed"}]


def test_run_times_without_a_zone_are_utc_like_the_moves():
    chart = timeline([vm("vm1", 0, 10, started_at="2026-03-02T10:00:00", finished_at="2026-03-02T10:00:10+00:00")])
    assert chart["bars"] == 1 and chart["span_s"] == 10.0


def test_no_moves_no_geometry():
    assert timeline([]) == {"origin": None, "span_s": 0.0, "ticks": [], "groups": [], "height": 0, "bars": 0}


@pytest.mark.parametrize("span, step", [(1, 0.1), (9, 1), (40, 5), (100, 10), (140, 15), (600, 60), (1000, 120),
                                        (7200, 900), (30 * 86400, 3 * 86400)])
def test_the_axis_has_at_most_ten_round_steps(span, step):
    assert tick_step(span) == step
    assert span / step <= 10


def test_ticks_cover_the_span_from_zero():
    ticks = timeline([vm("a", 0, 95)])["ticks"]
    assert [t["label"] for t in ticks] == ["0", "+10 s", "+20 s", "+30 s", "+40 s", "+50 s", "+60 s", "+70 s",
                                           "+80 s", "+90 s"]
    assert ticks[0]["x"] == PLOT_X and ticks[-1]["x"] == pytest.approx(PLOT_X + PLOT_W * 90 / 95)


@pytest.mark.parametrize("seconds, step, label", [
    (0, 10, "0"), (0.5, 0.1, "+0.5 s"), (0.3, 0.1, "+0.3 s"), (15, 15, "+15 s"), (90, 30, "+90 s"),
    (150, 30, "+150 s"), (120, 60, "+2 min"), (900, 300, "+15 min"), (3600, 3600, "+1 h"), (10800, 10800, "+3 h"),
    (7200, 900, "+120 min")])
def test_axis_labels_keep_the_unit_of_the_step(seconds, step, label):
    assert offset_label(seconds, step) == label


def test_the_page_draws_one_bar_per_move_with_its_status_and_verify_problem():
    results = [vm("ok1", 0, 10), vm("bad", 5, 30, "failed", error="aborted"),
               vm("sick", 10, 20, verify={"ok": False, "reason": "guest did not answer its agent"})]
    page = Page(report_html(report(results)))
    bars = page.find("rect", cls="bar")
    assert [(b["attrs"]["data-domain"], b["attrs"]["class"]) for b in bars] == [
        ("ok1", "bar s-migrated"), ("bad", "bar s-failed"), ("sick", "bar s-migrated verify-failed")]
    assert len([r for r in page.find("rect", cls="pause") if "key" not in r["attrs"]["class"]]) == 3
    assert [r["attrs"]["data-domain"] for r in page.find("tr", cls="problem")] == ["bad", "sick"]
    assert page.find("span", id="verdict")[0]["text"] == "complete"
