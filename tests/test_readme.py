"""The README's promises as a user meets them: its tour runs as written, in order, on a fresh
database; an installed crmpool (not a checkout) has its bundled examples."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def tour_lines() -> list[str]:
    section = README[README.index("## A short tour"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMPOOL_")}
    # The venv's `crmpool` script, as `python3 scripts/dev.py demo` leaves it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)
    return env


def test_the_tour_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    lines = tour_lines()
    assert len(lines) > 15
    env = clean_env(tmp_path)
    state = ""
    for line in lines:
        # One shell, so `export` carries on; stop at the first line that fails.
        state += line + "\n"
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", state], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (line, result.stderr[-2000:])
        state = "\n".join(s for s in state.splitlines() if s.startswith("export")) + "\n"
    assert (tmp_path / "team.db").exists() and (tmp_path / "all.csv").read_bytes().startswith(
        b"\xef\xbb\xbf")


def test_the_pools_section_runs_as_written_and_its_rules_hand_out_by_morning(tmp_path):
    section = README[README.index("## Pools and distribution"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    rules = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    env = clean_env(tmp_path) | {"CRMPOOL_USER": "boss", "CRMPOOL_DB": "team.db"}
    setup = ["crmpool init -q", "crmpool user add wang --role manager --team east -q",
             "crmpool user add li --team east -q", "crmpool user add zhang --team east -q",
             "crmpool user add chen --role manager --team west -q",
             "crmpool user add zhao --team west -q"]
    for line in setup + [x for x in block.splitlines() if x.strip()]:
        result = subprocess.run(["bash", "-e", "-c", line], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (line, result.stderr[-2000:])
    # The section's rules, with a reclaim rule, hand last night's reclaimed customers out.
    (tmp_path / "rules.toml").write_text(
        '[[reclaim]]\nname = "idle"\nidle_days = 30\n' + rules, encoding="utf-8")
    steps = ["crmpool rules set rules.toml -q",
             "crmpool add 老客户 --owner zhang --region 北京 -q",
             "crmpool add 新客户 --pool east -q",
             "crmpool sweep --now +40d -q"]
    for line in steps:
        result = subprocess.run(["bash", "-e", "-c", line], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (line, result.stderr[-2000:])
    listed = subprocess.run(["crmpool", "list", "-f", "csv", "-c", "name,owner"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60).stdout
    # zhang's idle customer went home to `public` (not east's); east's waiting one went to
    # its only member by then, li.
    assert "新客户,li" in listed and "老客户," in listed


@pytest.mark.slow
def test_an_installed_crmpool_has_its_examples(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--disable-pip-version-check", "--target", str(target), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    assert (target / "crmpool" / "examples" / "customers.csv").exists()
    assert (target / "crmpool" / "examples" / "rules.toml").exists()
    # Every package of the source tree is installed (a new subpackage must be listed in
    # pyproject.toml's packages, or `pip install .` leaves it out).
    for init in (ROOT / "crmpool").rglob("__init__.py"):
        package = init.parent.relative_to(ROOT)
        assert (target / package / "__init__.py").exists(), f"{package} is not installed"
    run = tmp_path / "elsewhere"
    run.mkdir()
    env = clean_env(tmp_path) | {"PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-m", "crmpool", "demo", "--out", "d.db"],
                            cwd=run, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    probe = subprocess.run([sys.executable, "-c", "import crmpool; print(crmpool.__file__)"],
                           cwd=run, env=env, capture_output=True, text=True)
    assert probe.stdout.startswith(str(target))
