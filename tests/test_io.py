import os
import signal
import subprocess
import sys

import pytest

from bulkmod.io import atomic_path, remove_stale_temps, write_text_atomic


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "results.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_sigkilled_writer_leaves_a_temp_that_only_its_own_sweep_removes(tmp_path):
    """SIGKILL skips atomic_path's cleanup; the sweep for one file must not touch another file's temps."""
    code = (
        "import os, sys, time\nfrom bulkmod.io import atomic_path\n"
        f"with atomic_path({str(tmp_path / 'checkpoint.pt')!r}) as t:\n"
        "    t.write_text('x'); print('ready', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with atomic_path(tmp_path / "checkpoint.pt.bak") as other:  # a sibling whose name extends the first
        other.write_text("y")
        left = sorted(p.name for p in tmp_path.iterdir())
        remove_stale_temps(tmp_path / "checkpoint.pt")
        after = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and all(n.startswith(".checkpoint.pt.") for n in left)
    assert after == [other.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt.bak"]
