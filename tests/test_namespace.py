"""One import namespace: stylestudy claims no generic top-level name, a researcher's own
``analysis.py`` or ``db.py`` does not shadow it, and the wheel holds the packages and their
declared data only."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GENERIC = ("analysis", "db", "generator", "study_server")
BARE_IMPORT = re.compile(r"^\s*(from|import) (db|generator|analysis|study_server)\b")


def _env():
    """The environment without PYTHONPATH, so only what is installed can be imported."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(args, cwd):
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=300)


def _git_files():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted({line for line in out.splitlines()
                   if os.path.lexists(ROOT / line)})


def test_own_modules_in_the_working_directory_do_not_shadow_stylestudy(tmp_path):
    for name in GENERIC:
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the local {name}.py')\n")
    imports = "import stylestudy.analysis.api, stylestudy.db, stylestudy.study_server.app"
    done = _run([sys.executable, "-c", imports], tmp_path)
    assert done.returncode == 0, done.stderr
    done = _run([str(BIN / "stylestudy"), "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    # the local files are what a bare import finds: the check above is not vacuous
    done = _run([sys.executable, "-c", "import db"], tmp_path)
    assert "the local db.py" in done.stderr


@pytest.mark.parametrize("name", GENERIC)
def test_no_generic_top_level_name_is_installed(tmp_path, name):
    done = _run([sys.executable, "-c", f"import {name}"], tmp_path)
    assert done.returncode != 0
    assert f"No module named '{name}'" in done.stderr


def test_the_wheel_holds_the_packages_and_their_declared_data_only(tmp_path):
    src = tmp_path / "src"
    for rel in _git_files():
        path, dest = ROOT / rel, src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            dest.symlink_to(os.readlink(path))
        elif path.is_file():
            shutil.copy2(path, dest)
    data = src / "stylestudy_data"
    (data / "assets").mkdir(parents=True)
    (data / "assets" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (data / "report.html").write_text("<html></html>")
    (data / "report.json").write_text("{}")
    (data / "__init__.py").write_text("")
    wheels = tmp_path / "wheels"
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "-q", "-w", str(wheels), "."], src)
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("stylestudy-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"stylestudy"}, tops
    assert not [n for n in names if "stylestudy_data" in n]
    for declared in ("stylestudy/study_server/templates/study.html",
                     "stylestudy/study_server/static/study.js",
                     "stylestudy/db/migrations/env.py",
                     "stylestudy/db/migrations/script.py.mako",
                     "stylestudy/db/migrations/versions/0001_initial_schema.py",
                     "stylestudy/demo_data/contents/astronaut.png",
                     "stylestudy/demo_data/styles/hubble.png",
                     "stylestudy/analysis/api.py", "stylestudy/generator/runner.py"):
        assert declared in names, declared
    assert any(n.startswith("stylestudy/study_server/templates/admin/") for n in names)


def test_no_python_file_imports_a_bare_package_name():
    found = [f"{rel}:{i}: {line.strip()}"
             for rel in _git_files() if rel.endswith(".py") and (ROOT / rel).is_file()
             for i, line in enumerate((ROOT / rel).read_text(encoding="utf-8").splitlines(), 1)
             if BARE_IMPORT.match(line)]
    assert not found, "bare imports (use stylestudy.<package>):\n" + "\n".join(found)


def test_the_bare_import_pattern_catches_what_it_looks_for():
    for bad in ("import db", "from analysis import api", "    from study_server.app import x",
                "import generator.runner"):
        assert BARE_IMPORT.match(bad), bad
    for good in ("from stylestudy.db import engine", "import dbm", "from analysis_x import y",
                 "# import db"):
        assert not BARE_IMPORT.match(good), good
