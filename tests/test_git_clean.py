"""Using the project does not dirty git: a smoke run in a fresh clone leaves ``git status`` empty.

The clone shares this checkout's package (``PYTHONPATH``, as a second clone sharing an editable install does) and
runs ``python -m stanet_lib run --profile smoke`` in its own folder: everything it writes (``data/``,
``reports/smoke/``) lands in the clone and is git-ignored; no tracked file (notebooks, reference tables) changes.
"""

import os
import subprocess
import sys

import pytest

from stanet_lib.paths import PACKAGE_ROOT, PROJ_ROOT


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_git_status_is_clean_after_a_smoke_run_in_a_clone(tmp_path):
    clone = tmp_path / "clone"
    _git("clone", "--quiet", str(PROJ_ROOT), str(clone), cwd=tmp_path)
    assert _git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("STANET_ROOT", None)
    run = subprocess.run([sys.executable, "-m", "stanet_lib", "run", "--profile", "smoke", "--set", "train.progress=false"],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (clone / "reports" / "smoke" / "README.md").is_file()  # the run wrote into the clone ...
    assert (clone / "reports" / "smoke" / "tables" / "table4.csv").is_file()
    assert (clone / "data" / "cache" / "smoke" / "index.csv").is_file()
    assert _git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""  # ... and git is still clean
