"""hypercache-server without its C extension: one clear line, no traceback."""

import subprocess
import sys


def test_missing_native_extension_is_one_clear_line(tmp_path):
    code = (
        "import sys; sys.modules['hypercache.native._native'] = None\n"  # as if never built
        "from hypercache.cli import main\n"
        f"sys.exit(main(['--port', '0', '--dir', {str(tmp_path / 'data')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "native extension not built: reinstall with pip install -e ." in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
