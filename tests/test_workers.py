"""Worker processes: what their parent's environment must not change about them."""

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import os, signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as nohup, or a supervisor, may start a process
    from qualia_pipelines.core.workers import WorkerProcess, no_state

    if __name__ == "__main__":
        worker = WorkerProcess(no_state)
        os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while worker.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        print("stopped" if not worker.alive else "still running")
        worker.stop()
    """
)


def test_a_worker_stops_on_sigterm_though_its_parent_ignores_it() -> None:
    """A parent started with SIGTERM ignored passes that on through the fork server; its workers must still
    stop on SIGTERM, or the parent's exit waits for them for ever (multiprocessing terminates, then joins)."""
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
