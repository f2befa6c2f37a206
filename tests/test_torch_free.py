"""The runtime path (sessions, TensorRT) imports and runs on a machine without torch."""

import subprocess
import sys
import textwrap


def test_runtime_runs_an_exported_graph_without_torch(exported):
    _, path = exported("repvsr")
    script = textwrap.dedent(f"""
        import sys
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is not installed here")
        sys.meta_path.insert(0, NoTorch())

        import numpy as np
        import repvsr_deploy
        import repvsr_deploy.cli.trt, repvsr_deploy.runtime.tensorrt_backend, repvsr_deploy.trt.builder
        import repvsr_deploy.trt.engine, repvsr_deploy.runtime.bicubic_backend
        from repvsr_deploy.runtime import open_session
        session = open_session({str(path)!r})
        hr = session.step(np.random.default_rng(0).random((3, 24, 40), dtype=np.float32))
        assert hr.shape == (1, 3, 96, 160), hr.shape
        assert "torch" not in sys.modules
        try:
            repvsr_deploy.fuse
        except ImportError as exc:
            print("fuse:", exc)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "fuse: torch is not installed here" in result.stdout
