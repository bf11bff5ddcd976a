"""The environment files agree and pin exactly."""

import re
from pathlib import Path

from stanet_lib.paths import PROJ_ROOT


def _req_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
        assert m, f"{path.name}: not an exact pin: {line!r}"
        pins[m[1].lower()] = m[2]
    return pins


def _conda_pip_pins(path: Path) -> dict[str, str]:
    pins, in_pip = {}, False
    for line in path.read_text().splitlines():
        if line.strip() == "- pip:":
            in_pip = True
            continue
        if in_pip:
            m = re.fullmatch(r"\s+-\s+([A-Za-z0-9_.\-]+)==(\S+)", line)
            if m:
                pins[m[1].lower()] = m[2]
            elif line.strip():
                in_pip = False
    return pins


def test_requirements_and_environment_yml_agree():
    req = _req_pins(PROJ_ROOT / "requirements.txt")
    conda = _conda_pip_pins(PROJ_ROOT / "environment.yml")
    assert req, "requirements.txt is empty"
    assert req == conda


def test_torch_pair_is_pinned():
    req = _req_pins(PROJ_ROOT / "requirements.txt")
    assert req["torch"] == "2.11.0" and req["torchaudio"] == "2.11.0"


def test_lock_file_is_consistent_with_requirements():
    req = _req_pins(PROJ_ROOT / "requirements.txt")
    lock = _req_pins(PROJ_ROOT / "requirements-lock.txt")
    for name, version in req.items():
        assert lock.get(name) == version, f"requirements-lock.txt pins {name}=={lock.get(name)}, not {version}"


def test_installed_versions_match_pins():
    from importlib.metadata import version

    req = _req_pins(PROJ_ROOT / "requirements.txt")
    for name, pinned in req.items():
        assert version(name).split("+")[0] == pinned, name
