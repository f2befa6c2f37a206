"""The package imports where POSIX-only modules do not exist (Windows, where TensorRT for RTX mostly
runs): every module, with fcntl, termios, pwd, grp and resource made unimportable, and a command
started without SIGHUP."""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.fast  # the tier `make check` runs

WITHOUT_POSIX = textwrap.dedent("""
    import importlib, pkgutil, signal, sys
    for name in ("fcntl", "termios", "pwd", "grp", "resource"):
        sys.modules[name] = None  # importing it fails, as on Windows
    del signal.SIGHUP
    import repvsr_deploy
    failed = []
    for module in pkgutil.walk_packages(repvsr_deploy.__path__, "repvsr_deploy."):
        try:
            importlib.import_module(module.name)
        except ImportError as exc:
            failed.append(f"{module.name}: {exc}")
    print("\\n".join(failed))
    from repvsr_deploy.atomic import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_text("whole")
    sys.argv = ["repvsr-trt", "info", "absent.plan"]
    from repvsr_deploy.cli.trt import main
    main()
""")


def test_the_package_imports_and_locks_outputs_without_posix_modules(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_POSIX, str(tmp_path / "out.txt")], capture_output=True, text=True, cwd=tmp_path
    )
    failed = [line for line in result.stdout.splitlines() if line]
    assert failed == ["repvsr_deploy.trt.plugin: No module named 'tensorrt'"]  # TensorRT 10/11 is not installed here
    assert (tmp_path / "out.txt").read_text() == "whole" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    # (filelock warns that only its soft lock is left: fcntl is gone, and msvcrt is Windows' own)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "repvsr-trt: error: absent.plan: no such engine file"
