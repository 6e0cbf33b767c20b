"""The speech pipeline's OpenMP threads wait passively (coder/pipeline/__init__.py): set before torch loads,
unless the user chose a policy. docs/benchmarks.md has the measurements behind it."""
import os
import subprocess
import sys

from .support.paths import ROOT

PROBE = ("import os, sys; import coder.pipeline.diarize.builtin; import torch; "
         "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")


def _probe(**env):
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env}, capture_output=True,
                         text=True, check=True, timeout=120)
    return out.stdout.split()


def test_pipeline_sets_passive_waiting_before_torch_loads():
    assert _probe() == ["PASSIVE", "True"]


def test_a_policy_the_user_set_is_kept():
    assert _probe(OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "True"]
