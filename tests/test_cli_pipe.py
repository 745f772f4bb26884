"""`controller ... | head`: a reader that leaves early is no error of ours (no traceback, no 'internal error')."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_closed_pipe_is_a_quiet_exit(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write is EPIPE
    try:
        proc = subprocess.run([sys.executable, "-m", "controller", "schemas", "--out", str(tmp_path)],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
    assert list(tmp_path.glob("*.json")), "the command ran until its first line"
