"""The C core tested from C (tests/native/c_selftest.c), and the build's contract: the
extension imports, and its absence is an error that says how to fix it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "hypercache" / "native" / "src"


def _cc() -> str | None:
    cc = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("gcc") or shutil.which("cc")


@pytest.mark.skipif(_cc() is None, reason="no C compiler")
def test_c_selftest(tmp_path: Path) -> None:
    exe = tmp_path / "selftest"
    sources = [ROOT / "tests" / "native" / "c_selftest.c", SRC / "hc_cuckoo.c", SRC / "hc_bloom.c", SRC / "hc_crc16.c"]
    build = subprocess.run(
        [_cc(), "-O2", "-Wall", "-Wextra", "-Werror", f"-I{SRC}", *map(str, sources), "-lm", "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith(", 0 failed")


def test_extension_is_the_compiled_module() -> None:
    from hypercache.native import _native

    assert Path(_native.__file__).suffix in (".so", ".pyd")


def test_missing_extension_is_a_clear_error() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'hypercache.native._native':\n"
        "            raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    import hypercache.native\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "hypercache native extension not built: reinstall with pip install -e ." in out.stdout, out.stderr
