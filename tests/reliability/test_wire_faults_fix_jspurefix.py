"""The FIX 100-fault schedule against the jspurefix venue (Node.js, written apart from the
QuickFIX one): see ``test_wire_faults_fix.py``. A file of its own so that pytest-xdist's
``loadfile`` runs it on one worker while the QuickFIX schedule runs on the other."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("quickfix")
from tests.reliability.test_wire_faults_fix import run_fix_schedule


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_fix_survives_a_hundred_wire_faults_jspurefix(tmp_path: Path) -> None:
    run_fix_schedule(tmp_path, "jspurefix")
