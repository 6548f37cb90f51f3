"""Run the integration test modules on several labs at once: `make integration`.

Every test module brings up a lab of its own and takes it down again (conftest.py), so modules
are independent; this runner gives each of N workers a lab with its own name, network and state
directory (DROVER_LAB_NAME, DROVER_LAB_NET, DROVER_LAB_STATE) and hands out the modules, the
longest first, to whichever worker is free. Each module's pytest output is printed whole when it
ends (never interleaved), then a summary with every module's time; the exit status is 1 when any
module failed. Two labs share this machine's two CPUs well: the hosts' QEMU runs under TCG, but
most of a test's time is spent waiting for migrations, playbooks and guests.

    python tests/integration/run_labs.py [--labs N] [MODULE ...] [-- PYTEST_ARGS ...]
"""
import argparse
import glob
import os
import queue
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# The modules that take longest, first, so that the last one to start is a short one.
LONGEST_FIRST = ["test_postcopy_recovery.py", "test_evacuate.py", "test_fleet.py", "test_rolling.py",
                 "test_chaos.py", "test_convergence.py", "test_hostile_input.py", "test_storage.py",
                 "test_migrate.py", "test_text_inputs.py", "test_runner.py", "test_preflight.py"]


def lab_env(index):
    """The first lab is the default one (lab/.state, 10.251.0); the others get their own."""
    env = dict(os.environ)
    if index == 0:
        return env
    env.update(DROVER_LAB_NAME="drover%d" % (index + 1), DROVER_LAB_NET="10.%d.0" % (251 - index),
               DROVER_LAB_STATE=os.path.join(ROOT, "lab", ".state-%d" % (index + 1)))
    return env


def ordered(modules):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    return sorted(modules, key=lambda m: (rank.get(os.path.basename(m), len(rank)), m))


def worker(index, todo, results, lock, pytest_args):
    env = lab_env(index)
    while True:
        try:
            module = todo.get_nowait()
        except queue.Empty:
            return
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"] + pytest_args
                              + [module], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        took = time.monotonic() - start
        with lock:
            results.append((module, proc.returncode, took, index))
            verdict = "passed" if proc.returncode == 0 else "FAILED"
            print("=" * 30 + " %s on lab %d: %s in %.0f s " % (os.path.relpath(module, ROOT), index + 1, verdict, took)
                  + "=" * 30)
            print(proc.stdout, flush=True)


def main(argv):
    args, pytest_args = argv, []
    if "--" in argv:
        cut = argv.index("--")
        args, pytest_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--labs", type=int, default=2, help="labs at once (default 2)")
    parser.add_argument("modules", nargs="*", help="test modules (default: every tests/integration/test_*.py)")
    opts = parser.parse_args(args)
    if not 1 <= opts.labs <= 4:
        parser.error("--labs must be 1 to 4")
    modules = ordered(opts.modules or glob.glob(os.path.join(HERE, "test_*.py")))
    todo = queue.Queue()
    for module in modules:
        todo.put(module)
    results, lock = [], threading.Lock()
    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i, todo, results, lock, pytest_args))
               for i in range(min(opts.labs, len(modules)))]
    for t in threads:
        t.start()
        time.sleep(5)  # the labs' first steps (images, daemons) do not all start at the same moment
    for t in threads:
        t.join()
    failed = [m for m, rc, _took, _lab in results if rc != 0]
    print("=" * 30 + " integration modules, %.0f s on %d labs " % (time.monotonic() - start, len(threads)) + "=" * 30)
    for module, rc, took, lab in sorted(results, key=lambda r: -r[2]):
        verdict = "passed" if rc == 0 else "FAILED (exit %d)" % rc
        print("%-40s lab %d  %6.0f s  %s" % (os.path.relpath(module, ROOT), lab + 1, took, verdict))
    if failed:
        print("failing modules: %s" % " ".join(os.path.relpath(m, ROOT) for m in failed))
    return 1 if failed or len(results) != len(modules) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
