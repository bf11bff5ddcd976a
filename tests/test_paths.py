"""stanet_lib.paths: the project root follows the working directory (a checkout), a run's reports its profile."""

import subprocess
import sys

from stanet_lib import paths


def _checkout(folder):
    (folder / "stanet_lib").mkdir(parents=True)
    (folder / "stanet_lib" / "__init__.py").write_text("")
    (folder / "notebooks").mkdir()
    return folder


def test_the_root_is_the_checkout_around_the_working_directory(tmp_path):
    clone = _checkout(tmp_path / "clone")
    (clone / "notebooks" / "deep").mkdir()
    assert paths.find_root(clone / "notebooks" / "deep", environ={}) == clone.resolve()
    assert paths.find_root(clone, environ={"STANET_ROOT": str(tmp_path)}) == tmp_path.resolve()
    assert paths.find_root(tmp_path, environ={}) == paths.PACKAGE_ROOT  # outside any checkout: the package's
    assert paths.is_checkout(clone) and not paths.is_checkout(tmp_path)


def test_a_second_clone_sharing_the_package_writes_into_itself(tmp_path):
    """The package is imported from this checkout; the command runs in another: its paths are the other's."""
    clone = _checkout(tmp_path / "clone")
    code = "from stanet_lib import paths; print(paths.DATA_DIR); print(paths.run_reports('smoke')); print(paths.PACKAGE_ROOT)"
    env = {"PYTHONPATH": str(paths.PACKAGE_ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=clone / "notebooks", env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == [str(clone.resolve() / "data"), str(clone.resolve() / "reports" / "smoke"), str(paths.PACKAGE_ROOT)]


def test_a_run_writes_into_its_profile_folder_unless_told(tmp_path):
    assert paths.run_reports("smoke") == paths.REPORTS_DIR / "smoke"
    assert paths.run_reports("demo", "") == paths.REPORTS_DIR / "demo" != paths.TABLES_DIR.parent
    assert paths.run_reports("smoke", str(tmp_path)) == tmp_path
