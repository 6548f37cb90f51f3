"""A short fault campaign (make chaos runs the long one): real moves, a fault each, an outside audit.

The controller killed in the middle of an evacuation, and the destination's libvirtd killed in the
middle of a single migration: no VM lost or duplicated, nothing left behind, and running the same
playbook again completes.
"""
import json
import os
import subprocess

from labfixture import ROOT


def test_faults_lose_nothing_and_the_rerun_completes(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([os.path.join(ROOT, ".venv", "bin", "python"), os.path.join(ROOT, "chaos", "campaign.py"),
                           "--faults", "2", "--seed", "3", "--out", str(out),
                           "--only", "controller_killed/evacuate,dest_libvirtd_killed/migrate"],
                          cwd=ROOT, text=True, capture_output=True, check=False)
    results = json.loads(out.read_text())
    assert results["seed"] == 3 and results["complete"], proc.stdout[-3000:] + proc.stderr[-3000:]
    kinds = sorted((f["kind"], f["operation"]) for f in results["faults"])
    assert kinds == [("controller_killed", "evacuate"), ("dest_libvirtd_killed", "migrate")]
    for fault in results["faults"]:
        assert fault["reached_phase"], fault
        assert fault["unread"] == [] and fault["unaccounted"] == [], fault
        assert fault["lost"] == 0 and fault["duplicated"] == 0 and fault["split"] == [], fault
        assert fault["postcopy_split"] == [] and fault["reset_after"] == [] and fault["frozen"] == [], fault
        assert fault["rerun_completed"], fault
        assert fault["leftovers"] == [], fault
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert ("2 faults: 0 VMs lost, 0 frozen, 0 duplicated, 0 split in post-copy by the fault, 0 left split, "
            "0 with leftovers, 0 re-runs did not complete") in proc.stdout
