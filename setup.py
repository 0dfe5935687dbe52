"""Builds the C extension hypercache.native._native; everything else is in pyproject.toml.

`pip install -e .` and `pip install .` compile it (gcc or clang and the Python headers are
needed).  scripts/asan-native builds the same sources with AddressSanitizer.
"""

import sys

from setuptools import Extension, setup

SRC = "hypercache/native/src/"
SOURCES = [SRC + name for name in ("_native.c", "hc_cuckoo.c", "hc_bloom.c", "hc_crc16.c", "hc_resp.c", "hc_lane_set.c", "hc_crc32.c", "hc_wal.c", "hc_table.c", "hc_flush.c", "hc_compact.c", "hc_table_get.c", "hc_hot.c", "hc_memtable.c")]
HEADERS = [SRC + name for name in ("hc_hash.h", "hc_status.h", "hc_cuckoo.h", "hc_bloom.h", "hc_crc16.h", "hc_resp.h", "hc_lane.h", "hc_crc32.h", "hc_wal.h", "hc_table.h", "hc_flush.h", "hc_compact.h", "hc_table_get.h", "hc_hot.h", "hc_memtable.h")]

if sys.platform == "win32":
    CFLAGS = ["/O2", "/W3"]
else:
    CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-fvisibility=hidden"]

setup(
    ext_modules=[
        Extension(
            "hypercache.native._native",
            sources=SOURCES,
            depends=HEADERS,
            include_dirs=[SRC],
            extra_compile_args=CFLAGS,
        )
    ],
    package_data={"hypercache.native": ["*.pyi", "*.md", "src/*.c", "src/*.h"]},
)
