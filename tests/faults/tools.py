"""The two compiled helpers of the campaign: the power-cut VFS library and the libFuzzer target.

CMake builds them when tests/faults is part of the build (tests/faults/CMakeLists.txt); when it
is not, or when a source is newer, they are compiled here into BUILD/tests/faults/ with the same
commands, so the campaign runs from any build tree.
"""

import shutil
import subprocess

from faultlib import BUILD_DIR, HERE, REPO

OUT = BUILD_DIR / "tests" / "faults"
FUZZ_SOURCES = [HERE / "fuzz_request.cpp", REPO / "ipc" / "request.cpp", REPO / "ipc" / "reply.cpp",
                REPO / "daemon" / "requests" / "event_fields.cpp", REPO / "config" / "utc_time.cpp",
                REPO / "config" / "isbn.cpp"]


def _fresh(target, sources):
    return target.exists() and all(target.stat().st_mtime >= s.stat().st_mtime for s in sources)


def powercut_library():
    target = OUT / "libbooklore_powercut_vfs.so"
    source = HERE / "powercut_vfs.cpp"
    if not _fresh(target, [source]):
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(["g++", "-std=c++20", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
                        "-shared", "-fPIC", str(source), "-o", str(target), "-lsqlite3"],
                       check=True)
    return target


def clang():
    for name in ("clang++-14", "clang++"):
        if shutil.which(name):
            return name
    return None


def fuzzer_binary():
    """The libFuzzer target (ASan + UBSan), or None when no clang with libFuzzer is installed."""
    target = OUT / "fuzz_request"
    if _fresh(target, FUZZ_SOURCES):
        return target
    compiler = clang()
    if compiler is None:
        return None
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run([compiler, "-std=c++20", "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
                    "-fno-sanitize-recover=undefined",
                    # recoverable only so that ubsan.supp can silence rapidjson's own finding
                    "-fsanitize-recover=pointer-overflow", "-DRAPIDJSON_HAS_STDSTRING=1",
                    "-Wno-ambiguous-reversed-operator",  # rapidjson's operator== under C++20
                    f"-I{REPO}"] + [str(s) for s in FUZZ_SOURCES] + ["-o", str(target)],
                   check=True)
    return target
