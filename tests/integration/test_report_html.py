"""The HTML evacuation report in a real browser: headless Chromium (Debian's `chromium`, installed by
`make deps`) loads pages the report_html filter built from a recorded evacuation report, and a person's
checks are made on what it parsed, ran and painted. No lab is needed.

Screenshots are kept in tests/output/report_html/ (or $DROVER_TEST_OUTPUT), beside the pages.
"""
import copy
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

import pytest
from htmlpage import Page

from ansible_collections.drover.libvirt.plugins.filter.report_html import FilterModule

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(HERE, "fixtures", "evacuation_report.json")
OUTPUT = os.environ.get("DROVER_TEST_OUTPUT") or os.path.join(ROOT, "tests", "output")
WINDOW = (1280, 1400)
# The page's colours (its style sheet): a move that went live, and a failure.
GREEN, RED = bytes.fromhex("2e7d32"), bytes.fromhex("c62828")
BAR_H = 12

report_html = FilterModule().filters()["report_html"]


def recorded():
    """The recorded evacuation report, as the evacuate role wrote it (tests/integration/fixtures)."""
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)


def chromium():
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed; `make deps` (lab/install-deps) installs it")
    return path


def render(name, report, height=WINDOW[1]):
    """Write the page, load it in headless Chromium; return (parsed DOM after scripts ran, console lines, screenshot)."""
    out = os.path.join(OUTPUT, "report_html")
    os.makedirs(out, exist_ok=True)
    page = os.path.join(out, name + ".html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(report_html(report))
    shot = os.path.join(out, name + ".png")
    if os.path.exists(shot):
        os.remove(shot)
    with tempfile.TemporaryDirectory(prefix="drover-chromium-") as profile:
        proc = subprocess.run(
            [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + profile,
             "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--window-size=%d,%d" % (WINDOW[0], height),
             "--screenshot=" + shot, "--dump-dom", "file://" + page],
            capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert os.path.getsize(shot) > 0
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return Page(proc.stdout), console, shot


def bars(dom):
    """The chart's bars: one rect of class bar per move, named by data-domain (the legend's swatches are not)."""
    return [e for e in dom.find("rect", cls="bar") if "data-domain" in e["attrs"]]


def moves(report):
    return [r for r in report["results"] if r.get("started_at") and r.get("finished_at")]


def assert_ran_cleanly(dom, console):
    # The page's script marks the page only when it ran to its end; nothing was logged to the console.
    assert dom.find("html")[0]["attrs"].get("data-drover-ready") == "yes"
    assert console == []


def png_pixels(path):
    """(width, rows of RGB bytes) of an 8-bit RGB or RGBA, non-interlaced PNG, as Chromium writes them."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    n = 3 if colour == 2 else 4
    raw, stride, previous, rows = zlib.decompress(b"".join(idat)), width * n, bytearray(width * n), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - n] if x >= n else 0
            up, corner = previous[x], (previous[x - n] if x >= n else 0)
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + ((left + up) >> 1)) & 255
            elif kind == 4:
                p = left + up - corner
                near = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                line[x] = (line[x] + near) & 255
        rows.append(bytes(b for i in range(0, stride, n) for b in line[i:i + 3]))
        previous = line
    return width, rows


def count(rows, colour):
    return sum(row[i:i + 3] == colour for row in rows for i in range(0, len(row), 3))


# ---------------------------------------------------------------- the recorded evacuation

def test_the_recorded_evacuation_renders_one_bar_per_move_and_names_as_text():
    report = recorded()
    dom, console, _shot = render("evacuation", report)
    assert_ran_cleanly(dom, console)

    drawn = bars(dom)
    assert sorted(b["attrs"]["data-domain"] for b in drawn) == sorted(r["name"] for r in moves(report))
    assert len(drawn) == 7  # 8 domains; the pinned one was left where it is and has no bar
    statuses = {b["attrs"]["data-domain"]: b["attrs"]["class"].split() for b in drawn}
    failed = {r["name"] for r in report["results"] if r["status"] == "failed"}
    assert failed == {"<img src=x onerror=alert(1)>"}
    assert {name for name, classes in statuses.items() if "s-failed" in classes} == failed

    # Names that need escaping are text in the table and the chart, never markup.
    names = [r["name"] for r in report["results"]]
    assert [e["text"] for e in dom.find("td", cls="name")] == names
    assert sorted(e["text"] for e in dom.find("text", cls="label")) == sorted(r["name"] for r in moves(report))
    assert not dom.find("img")
    assert dom.find("title")[0]["text"] == "Evacuation hv1, hv2 - run 20261130091203-482913"

    # The header: run, owner, state, hosts drained and the host that could not be read.
    facts = dict(zip([e["text"] for e in dom.find("dt")], [e["text"] for e in dom.find("dd")]))
    assert facts["Run id"] == "20261130091203-482913" and facts["Owner"] == "m.lindqvist"
    assert facts["Hosts drained"] == "hv1, hv2" and facts["Not read"].startswith("hv5: ")
    assert facts["Started"] == "2026-11-30 09:12:03 UTC" and facts["Took"] == "2 min 16 s"
    assert dom.find("span", id="verdict")[0]["text"] == "incomplete"
    # Two groups per source, by destination; the retried move marks its failed try.
    groups = [(g["attrs"]["data-source"], g["attrs"]["data-destination"]) for g in dom.find("g", cls="group")]
    assert groups == [("hv1", "hv3"), ("hv1", "hv4"), ("hv2", "hv3"), ("hv2", "hv4")]
    assert len([r for r in dom.find("rect", cls="retry") if "key" not in r["attrs"]["class"]]) == 2


def test_a_failed_move_is_painted_in_the_failure_colour():
    """The same run twice, the failed move once as a success: only its bar changes colour on screen."""
    report = recorded()
    dom, console, shot = render("evacuation-colours", report)
    assert_ran_cleanly(dom, console)
    (failed_bar,) = [b for b in bars(dom) if "s-failed" in b["attrs"]["class"].split()]
    area = float(failed_bar["attrs"]["width"]) * BAR_H  # the chart is drawn 1:1 in a 1280 px window

    succeeded = copy.deepcopy(report)
    for result in succeeded["results"]:
        if result["status"] == "failed":
            result.update(status="migrated", to="hv4", error=None, downtime_ms=None)
    _dom, console, shot_ok = render("evacuation-colours-succeeded", succeeded)
    assert console == []

    _width, rows = png_pixels(shot)
    _width, rows_ok = png_pixels(shot_ok)
    red_gone = count(rows, RED) - count(rows_ok, RED)
    green_added = count(rows_ok, GREEN) - count(rows, GREEN)
    assert red_gone == pytest.approx(area, rel=0.1)
    assert green_added == pytest.approx(area, rel=0.1)


# ---------------------------------------------------------------- no moves, many moves

def test_a_run_that_moved_nothing_renders_without_a_chart():
    report = dict(recorded(), status="stopped", ok=False, plan=None, results=[],
                  stopped="Refuse when no host to drain can be read: Nothing was moved")
    dom, console, _shot = render("evacuation-empty", report, height=900)
    assert_ran_cleanly(dom, console)
    assert bars(dom) == [] and not dom.find("svg", cls="timeline")
    assert dom.find("p", id="no-moves")[0]["text"] == "No moves were started."
    assert dom.find("span", id="verdict")[0]["text"] == "stopped"


def two_hundred_moves():
    """200 moves off 4 hosts onto 5, two at a time per source, every 23rd failing, every 17th retried once."""
    report = recorded()
    template = next(r for r in report["results"] if r["name"] == "web-01")
    results = []
    for i in range(200):
        source, destination = "hv%d" % (1 + i % 4), "hv%d" % (5 + (i * 7) % 5)
        start = 30.0 + (i // 8) * 6.5 + (i % 8) * 0.4
        end = start + 3.0 + (i * 37 % 60) / 10.0
        result = copy.deepcopy(template)
        result.update(name="vm-%03d%s" % (i, " <&>" if i % 50 == 0 else ""), started_at=stamp(start),
                      finished_at=stamp(end), downtime_ms=20 + i % 90)
        result["from"], result["to"] = source, destination
        result["tries"] = [dict(template["tries"][0], destination=destination, started_at=stamp(start),
                                finished_at=stamp(end))]
        if i % 17 == 0:
            result["tries"].insert(0, dict(result["tries"][0], status="failed", error="socket closed",
                                           location="source", finished_at=stamp(start + 1.0)))
        if i % 23 == 0:
            result.update(status="failed", to=None, downtime_ms=None, error="aborted by the convergence policy")
        results.append(result)
    report["results"] = results
    report["hosts"] = ["hv1", "hv2", "hv3", "hv4"]
    return report


def stamp(seconds):
    minutes, rest = divmod(seconds, 60)
    return "2026-11-30T10:%02d:%06.3f+00:00" % (minutes, rest)


def test_two_hundred_moves_render_one_bar_each():
    report = two_hundred_moves()
    dom, console, _shot = render("evacuation-200", report, height=12000)
    assert_ran_cleanly(dom, console)
    drawn = bars(dom)
    assert len(drawn) == 200
    assert len({b["attrs"]["data-domain"] for b in drawn}) == 200
    assert len([b for b in drawn if "s-failed" in b["attrs"]["class"].split()]) == 9  # 0, 23, ..., 184
    assert len(dom.find("tr", cls="problem")) == 9
    assert len([e for e in dom.find("tr") if "data-domain" in e["attrs"]]) == 200
    # Every bar inside the plot, every one on its own row.
    svg = dom.find("svg", cls="timeline")[0]
    width = float(svg["attrs"]["viewbox"].split()[2])
    assert all(0 < float(b["attrs"]["x"]) and float(b["attrs"]["x"]) + float(b["attrs"]["width"]) <= width
               for b in drawn)
    assert len({b["attrs"]["y"] for b in drawn}) == 200
    assert [e["text"] for e in dom.find("td", cls="name")][0] == "vm-000 <&>"
