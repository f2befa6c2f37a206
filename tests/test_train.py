"""repvsr-train at the papers' scale: REDS, Vimeo-90K and BasicSR LMDB trees (made here, small),
clips made in loader workers, exact resume, stops that save, torchrun, logs, bad input."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import BIN, run_cli
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from repvsr_deploy.data.degrade import degrade
from repvsr_deploy.data.mixed_degradation import DOWNSCALES, degrade_mixed, h264
from repvsr_deploy.data.training_sets import REDS4, open_training_data
from repvsr_deploy.train.clips import ClipDataset, SampleNumbers
from repvsr_deploy.train.validation import detailed_window

TINY = ("--patch", 8, "--clip-frames", 2, "--batch", 2, "--val-frames", 2, "--workers", 0)


def textured(height: int, width: int, seed: int, top: int = 200) -> np.ndarray:
    """A frame with detail at every scale (smoothed noise), levels in [0, top]."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height // 4 + 1, width // 4 + 1, 3))
    big = np.kron(noise, np.ones((4, 4, 1)))[:height, :width]
    return (top * (0.6 * big + 0.4 * rng.random((height, width, 3)))).astype(np.uint8)


def write_frames(folder: Path, names: list[str], height: int, width: int, seed: int, top: int = 200) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for index, name in enumerate(names):
        frame = textured(height, width, seed * 1000 + index, top)
        Image.fromarray(frame).save(folder / name)
        frames.append(frame)
    return frames


def bicubic_lr(frame: np.ndarray) -> np.ndarray:
    hr = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    return (degrade(hr, "bi")[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def make_reds(root: Path, clips=("000", "001", "002", "011", "015", "020"), frames=3, size=(48, 64)) -> Path:
    """train_sharp/NNN/NNNNNNNN.png and train_sharp_bicubic/X4; REDS4's frames at level 255 somewhere,
    the others never above 200."""
    for number, clip in enumerate(clips):
        names = [f"{i:08d}.png" for i in range(frames)]
        top = 255 if clip in REDS4 else 200
        hr = write_frames(root / "train_sharp" / clip, names, *size, seed=number, top=top)
        (root / "train_sharp_bicubic" / "X4" / clip).mkdir(parents=True)
        for name, frame in zip(names, hr):
            Image.fromarray(bicubic_lr(frame)).save(root / "train_sharp_bicubic" / "X4" / clip / name)
    return root


def make_vimeo(root: Path, train=("00001/0001", "00001/0002"), test=("00002/0001",)) -> Path:
    for number, entry in enumerate((*train, *test)):
        write_frames(root / "sequences" / entry, [f"im{i}.png" for i in range(1, 8)], 32, 48, seed=number)
    (root / "sep_trainlist.txt").write_text("\n".join(train) + "\n")
    (root / "sep_testlist.txt").write_text("\n".join(test) + "\n")
    return root


def make_lmdb(root: Path, clips=("000", "001", "011"), frames=3, size=(48, 64)) -> Path:
    """As BasicSR's create_lmdb writes REDS: PNG bytes under `clip/frame`, meta_info.txt a line a frame."""
    import io

    import lmdb

    root.mkdir(parents=True)
    env = lmdb.open(str(root), map_size=2**26)
    lines = []
    with env.begin(write=True) as txn:
        for number, clip in enumerate(clips):
            for index in range(frames):
                buffer = io.BytesIO()
                Image.fromarray(textured(*size, number * 1000 + index)).save(buffer, format="PNG", compress_level=1)
                key = f"{clip}/{index:08d}"
                txn.put(key.encode("ascii"), buffer.getvalue())
                lines.append(f"{key}.png ({size[0]},{size[1]},3) 1")
    env.close()
    (root / "meta_info.txt").write_text("\n".join(lines) + "\n")
    return root


def make_folders(root: Path) -> Path:
    from footage import make_clip

    write_frames(root / "frames", [f"{i:04d}.png" for i in range(3)], 40, 48, seed=7)
    make_clip(root / "video.mp4", frames=4, width=48, height=40, options={"crf": "0"})
    return root


def one_line(result, *fragments: str) -> None:
    """A bad input's report: exit 1, one line on standard error, no traceback, naming `fragments`."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines and all(f in lines[-1] for f in fragments), result.stderr


@pytest.mark.parametrize("layout", ["reds", "vimeo90k", "lmdb", "folders"])
def test_each_layout_trains_validates_and_logs(tmp_path, layout):
    make = {"reds": make_reds, "vimeo90k": make_vimeo, "lmdb": make_lmdb, "folders": make_folders}[layout]
    data = make(tmp_path / "data")
    validation = ("--val", data) if layout == "folders" else ()
    result = run_cli(
        "repvsr-train", data, *TINY, "--iterations", 2, "--val-every", 2, "--log-every", 1, *validation,
        "-o", tmp_path / "run.pth",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"data: {'folders' if layout == 'folders' else layout}" in result.stderr
    held_out = {"reds": "REDS4: 4 clips", "vimeo90k": "Vimeo-90K-T: 1 clips", "lmdb": "REDS4: 2 clips"}
    assert held_out.get(layout, f"{data}: 2 clips") in result.stderr
    state = torch.load(tmp_path / "run.pth", weights_only=True)["training"]
    assert state["iteration"] == 2 and state["samples"] == 4 and state["settings"]["dataset"] == layout
    with open(tmp_path / "run.logs" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["iteration"] for r in rows] == ["1", "2", "2"] and float(rows[-1]["val_psnr"]) > 5
    sr, flow, loss = (float(rows[0][k]) for k in ("sr_loss", "flow_loss", "loss"))  # RepVSR's Eq. 8-10
    assert sr > 0 and flow > 0 and loss == pytest.approx(sr + flow, rel=1e-4)
    assert (tmp_path / "run.best.pth").is_file() and (tmp_path / "run.logs" / "curves.png").is_file()
    crops = list((tmp_path / "run.logs" / "val" / "00000002").glob("*.png"))
    assert crops and all(Image.open(c).size[0] > 3 * Image.open(c).size[1] for c in crops)  # three panels
    events = EventAccumulator(str(tmp_path / "run.logs"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert events.Scalars("val/psnr")[0].value == pytest.approx(float(rows[-1]["val_psnr"]), abs=1e-4)
    assert len(events.Tags()["images"]) == len(crops)


def test_reds4_is_validation_only(tmp_path):
    data = open_training_data([make_reds(tmp_path / "REDS")])
    assert sorted(s.name for s in data.validation) == sorted(REDS4)
    assert {s.name for s in data.train} == {"000", "001", "002", "011", "015", "020"} - set(REDS4)
    dataset = ClipDataset(data.train, 2, 8, "bd", seed=3)
    assert max(int(dataset[n][1].max()) for n in range(200)) <= 200  # REDS4's frames reach 255


def test_lr_read_from_the_official_folder_is_the_loader_s(tmp_path):
    """With --degradation bi, REDS's train_sharp_bicubic/X4 frames are the LR clips, cropped where the
    HR clips are cropped (x4), flipped with them."""
    root = make_reds(tmp_path / "REDS", clips=("001", "002"))
    data = open_training_data([root], official_lr=True)
    assert data.lr_source.endswith("X4")
    dataset = ClipDataset(data.train, 2, 4, "bi", seed=0)
    for sample in range(12):
        lr, hr = (t.permute(0, 2, 3, 1).numpy() for t in dataset[sample])
        assert _found(lr, hr, root), f"sample {sample}: its LR is no crop of an official LR frame"


def _found(lr: np.ndarray, hr: np.ndarray, root: Path) -> bool:
    """Whether a clip (LR, HR) is a crop of consecutive official LR frames and the same frames' HR,
    under some combination of the flips."""
    p = lr.shape[1]
    for clip in ("001", "002"):
        official = [np.asarray(Image.open(f)) for f in sorted((root / "train_sharp_bicubic/X4" / clip).iterdir())]
        sharp = [np.asarray(Image.open(f)) for f in sorted((root / "train_sharp" / clip).iterdir())]
        for start in range(len(official) - len(lr) + 1):
            for y in range(official[0].shape[0] - p + 1):
                for x in range(official[0].shape[1] - p + 1):
                    low = np.stack([f[y : y + p, x : x + p] for f in official[start : start + len(lr)]])
                    high = np.stack(
                        [f[4 * y : 4 * y + 4 * p, 4 * x : 4 * x + 4 * p] for f in sharp[start : start + len(lr)]]
                    )
                    for flips in np.ndindex(2, 2, 2):
                        a, b = low, high
                        for axis, flip in zip((2, 1, 0), flips):
                            a, b = (np.flip(a, axis), np.flip(b, axis)) if flip else (a, b)
                        if np.array_equal(a, lr) and np.array_equal(b, hr):
                            return True
    return False


def test_clips_follow_from_the_sample_number_alone():
    """Sample n is the same clip whichever process or worker makes it; the sampler hands rank r of a
    run its own sample numbers, iteration after iteration."""
    from repvsr_deploy.data.training_sets import ArraySequence

    clips = [ArraySequence(str(i), np.stack([textured(48, 48, 10 * i + t) for t in range(4)])) for i in range(3)]
    one, other = ClipDataset(clips, 3, 8, "bd", seed=5), ClipDataset(list(clips), 3, 8, "bd", seed=5)
    assert all(torch.equal(one[n][0], other[n][0]) and torch.equal(one[n][1], other[n][1]) for n in (0, 7, 123))
    assert not torch.equal(one[1][1], one[2][1])
    numbers = SampleNumbers(first=40, batch=2, rank=1, world=3)
    taken = [n for _, n in zip(range(6), numbers)]
    assert taken == [42, 43, 48, 49, 54, 55]


def test_the_mix_of_degradations_is_reproducible_and_uses_each_kind():
    hr = torch.from_numpy(textured(64, 64, 1)).permute(2, 0, 1)[None].repeat(3, 1, 1, 1).float() / 255
    a, b = degrade_mixed(hr, np.random.default_rng(9)), degrade_mixed(hr, np.random.default_rng(9))
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    outputs = {degrade_mixed(hr, np.random.default_rng(s)).tobytes() for s in range(40)}
    assert len(outputs) > len(DOWNSCALES)  # downscales, noise and compression vary the LR frames
    frames = (np.random.default_rng(0).random((4, 16, 24, 3)) * 255).astype(np.uint8)
    compressed = h264(frames, 30)
    assert compressed.shape == frames.shape and np.array_equal(compressed, h264(frames, 30))
    assert not np.array_equal(compressed, frames)
    odd = frames[:, :15, :23]  # an odd --patch: padded to even sides for 4:2:0, cropped back
    error = {name: np.abs(h264(f, 20).astype(int) - f).mean() for name, f in (("odd", odd), ("even", frames))}
    assert h264(odd, 30).shape == odd.shape and error["odd"] < 1.2 * error["even"]  # the frame, not its padding


def test_lr_frames_in_an_lmdb_are_found_by_the_names_of_hr_frame_files(tmp_path):
    from repvsr_deploy.data.frame_stores import LmdbStore

    store = LmdbStore(make_lmdb(tmp_path / "lr.lmdb", clips=("000",), frames=1))
    assert np.array_equal(store.read("000/00000000.png"), store.read("000/00000000"))


def test_a_frozen_flow_network_neither_moves_nor_gathers_adam_moments():
    """KSNet's recipe freezes its flow network for its first iterations, as BasicVSR sets
    requires_grad off: Adam keeps no state for it until it thaws."""
    from dataclasses import replace

    from repvsr_deploy.models import build_model
    from repvsr_deploy.train.distributed import Processes
    from repvsr_deploy.train.loop import LoopSettings, Trainer, parameter_groups
    from repvsr_deploy.train.recipes import KSNET

    torch.manual_seed(0)
    model = build_model("ksnet-uni")
    trainer = Trainer(model, replace(KSNET, flow_frozen_iterations=1), LoopSettings(2, 1), "cpu", Processes(0, 1, 0))
    main, flow = parameter_groups(model)
    assert flow
    lr, gt = (torch.randint(0, 256, (1, 3, 3, s, s), dtype=torch.uint8) for s in (16, 64))
    before = [p.detach().clone() for p in flow]
    trainer.step(0, lr, gt)
    assert all(torch.equal(a, b) for a, b in zip(before, flow)) and not any(p in trainer.optimizer.state for p in flow)
    assert all(p in trainer.optimizer.state for p in main if p.grad is not None)
    trainer.step(1, lr, gt)
    assert any(not torch.equal(a, b) for a, b in zip(before, flow)) and all(p in trainer.optimizer.state for p in flow)


def test_the_most_detailed_window_is_where_the_texture_is():
    frame = np.full((160, 240, 3), 90, np.uint8)
    frame[64:128, 160:224] = textured(64, 64, 3)
    y, x, side = detailed_window(frame, side=64)
    assert (y, x, side) == (64, 160, 64)


def _train_process(*args, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "repvsr-train"), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_a_run_killed_and_resumed_equals_the_run_straight_through(tmp_path):
    """12 iterations straight; 6 saved, the process SIGKILLed, then --resume (no other setting given)
    to 12: the same weights, bit for bit, on the CPU with a loader worker."""
    data = make_folders(tmp_path / "data")
    settings = ("--patch", 8, "--clip-frames", 3, "--batch", 4, "--degradation", "mix", "--seed", 4, "--workers", 1)
    settings += ("--max-frames", 3)  # the video's 4th frame left out: --resume must leave it out too
    common = (data, *settings, "--iterations", 12, "--val-every", 0)
    straight = _train_process(*common, "--save-every", 12, "-o", tmp_path / "straight.pth")
    assert straight.wait(timeout=240) == 0, straight.stderr.read()
    cut = _train_process(*common, "--save-every", 6, "-o", tmp_path / "cut.pth")
    deadline = time.monotonic() + 240
    while not (tmp_path / "cut.pth").exists() and cut.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    cut.kill()
    cut.wait()
    assert torch.load(tmp_path / "cut.pth", weights_only=True)["training"]["iteration"] == 6
    resumed = run_cli("repvsr-train", data, "--resume", "-o", tmp_path / "cut.pth")
    assert resumed.returncode == 0 and "after 12 iterations" in resumed.stdout, resumed.stderr
    a, b = _weights(tmp_path / "straight.pth"), _weights(tmp_path / "cut.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with open(tmp_path / "cut.logs" / "metrics.csv", newline="") as file:
        iterations = [int(r["iteration"]) for r in csv.DictReader(file)]
    assert iterations == [6, 10, 12]  # a row at each save and each --log-every (10)


def test_ctrl_c_saves_the_iteration_it_reached(tmp_path):
    """As a terminal sends it, to the whole process group: the loader's worker as well."""
    signum = signal.SIGINT
    data = make_folders(tmp_path / "data")
    run = _train_process(
        data, *TINY[:-1], 1, "--iterations", 5000, "--val-every", 0, "--log-every", 2, "--save-every", 1000,
        "-o", tmp_path / "run.pth", start_new_session=True,
    )  # fmt: skip
    csv_path = tmp_path / "run.logs" / "metrics.csv"
    deadline = time.monotonic() + 120
    while (not csv_path.exists() or csv_path.read_text().count("\n") < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(run.pid, signum)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 128 + signum, stderr
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(
        rf"repvsr-train: error: stopped by {signal.Signals(signum).name} at iteration (\d+) of 5000: saved "
        rf"{re.escape(str(tmp_path / 'run.pth'))} \(--resume continues it\)",
        last,
    )
    assert match, stderr
    assert torch.load(tmp_path / "run.pth", weights_only=True)["training"]["iteration"] == int(match[1]) >= 2


MEASURED = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, status)
"""


def test_memory_follows_the_clips_not_the_data_set(tmp_path):
    """A tree of 1920x1080 frames holding 3.1 GB decoded (hard links to one PNG) trains with two
    loader workers, every process (the largest measured) under 2 GB of peak RSS."""
    frame = tmp_path / "frame.png"
    Image.fromarray(np.tile(textured(270, 480, 0), (4, 4, 1))).save(frame, compress_level=1)
    for clip in range(5):
        folder = tmp_path / "data" / f"{clip:03d}"
        folder.mkdir(parents=True)
        for index in range(100):
            os.link(frame, folder / f"{index:08d}.png")
    decoded = 500 * 1920 * 1080 * 3
    assert decoded > 3e9
    command = [str(BIN / "repvsr-train"), str(tmp_path / "data"), "--patch", "16", "--clip-frames", "3",
               "--batch", "2", "--workers", "2", "--iterations", "3", "--val-every", "0", "-o", str(tmp_path / "r.pth")]  # fmt: skip
    result = subprocess.run([sys.executable, "-c", MEASURED, *command], capture_output=True, text=True, timeout=300)
    peak, status = map(int, result.stdout.split())
    assert status == 0, result.stderr
    assert peak < 2 * 2**30, f"a process peaked at {peak / 2**30:.2f} GiB"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_under_torchrun_train_save_from_rank_0_and_resume(tmp_path):
    """Two processes of one machine train; then two machines (two torchrun agents, each in a folder
    of its own, -o relative) resume it, where only the first machine holds the checkpoint."""
    data = make_folders(tmp_path / "data")
    first_machine, second_machine = tmp_path / "a", tmp_path / "b"
    first_machine.mkdir(), second_machine.mkdir()
    out = first_machine / "run.pth"
    torchrun = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", str(BIN / "repvsr-train")]
    common = [str(data), "--patch", "8", "--clip-frames", "2", "--batch", "2", "--workers", "1", "--val-every", "0",
              "--log-every", "1", "-o", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(
        [*torchrun, *common, "--iterations", "3"], capture_output=True, text=True, timeout=300, env=env
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "global batch 4 (2 clips x 2 processes)" in first.stderr
    assert first.stdout.count("after 3 iterations") == 1  # rank 0 reports
    state = torch.load(out, weights_only=True)["training"]
    assert state["samples"] == 12 and len(state["random"]) == 2 and state["settings"]["processes"] == 2
    assert sorted(p.name for p in first_machine.iterdir()) == ["run.logs", "run.pth"]  # rank 0 alone wrote
    rendezvous = ["--nnodes", "2", "--nproc_per_node", "1", "--rdzv-backend", "c10d",
                  "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--rdzv-id", "resume"]  # fmt: skip
    agents = [
        subprocess.Popen(
            [
                str(BIN / "torchrun"),
                *rendezvous,
                str(BIN / "repvsr-train"),
                str(data),
                "--resume",
                "--iterations",
                "5",
                "--log-every",
                "1",
                "-o",
                "run.pth",
            ],
            cwd=machine,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for machine in (first_machine, second_machine)
    ]
    for agent in agents:
        _, stderr = agent.communicate(timeout=300)
        assert agent.returncode == 0, stderr[-3000:]
    # rank 0, on whichever machine the rendezvous put it, wrote iteration 5
    saved = [
        torch.load(m / "run.pth", weights_only=True)["training"]
        for m in (first_machine, second_machine)
        if (m / "run.pth").exists()
    ]
    last = max(saved, key=lambda state: state["iteration"])
    assert sorted(s["iteration"] for s in saved) in ([5], [3, 5]) and last["samples"] == 20


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains(tmp_path, precision):
    data = make_folders(tmp_path / "data")
    result = run_cli(
        "repvsr-train", data, *TINY, "--iterations", 2, "--val-every", 0, "--precision", precision,
        "-o", tmp_path / "run.pth",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    state = torch.load(tmp_path / "run.pth", weights_only=True)["training"]
    assert state["settings"]["precision"] == precision and bool(state["scaler"]) == (precision == "fp16")


def _nothing_written(folder: Path) -> None:
    assert not list(folder.glob("run*")), list(folder.iterdir())


def test_bad_trees_are_one_line_naming_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line(run_cli("repvsr-train", tmp_path / "empty", *TINY, "-o", tmp_path / "run.pth"), str(tmp_path / "empty"))
    clip = tmp_path / "mislaid" / "000"
    write_frames(clip, ["a.png", "b.png"], 32, 32, 0)
    one_line(run_cli("repvsr-train", clip, *TINY, "-o", tmp_path / "run.pth"), str(clip), "give")
    vimeo = make_vimeo(tmp_path / "vimeo")
    (vimeo / "sep_trainlist.txt").write_text("00001/0001\n00009/0009\n")
    one_line(
        run_cli("repvsr-train", vimeo, *TINY, "-o", tmp_path / "run.pth"),
        "sep_trainlist.txt, line 2",
        "00009/0009",
    )
    corrupt = tmp_path / "corrupt.lmdb"
    corrupt.mkdir()
    (corrupt / "data.mdb").write_bytes(os.urandom(8192))
    (corrupt / "meta_info.txt").write_text("000/00000000.png (48,64,3) 1\n000/00000001.png (48,64,3) 1\n")
    one_line(run_cli("repvsr-train", corrupt, *TINY, "-o", tmp_path / "run.pth"), str(corrupt / "data.mdb"))
    _nothing_written(tmp_path)


def test_a_new_run_does_not_replace_an_earlier_one(tmp_path):
    data = make_folders(tmp_path / "data")
    args = ("repvsr-train", data, *TINY, "--iterations", 1, "--val-every", 0, "-o", tmp_path / "run.pth")
    assert run_cli(*args).returncode == 0
    before = (tmp_path / "run.pth").read_bytes()
    one_line(run_cli(*args), f"{tmp_path / 'run.pth'}: an earlier run's; --resume continues it, --overwrite")
    assert (tmp_path / "run.pth").read_bytes() == before and (tmp_path / "run.logs" / "metrics.csv").is_file()
    (tmp_path / "empty").mkdir()
    mistaken = run_cli("repvsr-train", tmp_path / "empty", *TINY, "--overwrite", "-o", tmp_path / "run.pth")
    one_line(mistaken, str(tmp_path / "empty"))  # a new run that cannot start leaves the earlier one
    assert (tmp_path / "run.pth").read_bytes() == before and (tmp_path / "run.logs" / "metrics.csv").is_file()
    both = run_cli(*args, "--resume", "--overwrite")
    assert both.returncode == 2 and "give one" in both.stderr
    again = run_cli(*args[:-2], "--iterations", 2, "--overwrite", "-o", tmp_path / "run.pth")
    assert again.returncode == 0, again.stderr
    assert torch.load(tmp_path / "run.pth", weights_only=True)["training"]["iteration"] == 2


def test_a_resumed_run_validates_as_the_run_did(tmp_path):
    data = make_folders(tmp_path / "data")
    first = run_cli(
        "repvsr-train", data, *TINY, "--iterations", 2, "--val", data, "--val-every", 1, "-o", tmp_path / "run.pth"
    )
    assert first.returncode == 0, first.stderr
    resumed = run_cli("repvsr-train", data, "--resume", "--iterations", 4, "-o", tmp_path / "run.pth")
    assert resumed.returncode == 0 and f"validation: {data}: 2 clips" in resumed.stderr, resumed.stderr
    with open(tmp_path / "run.logs" / "metrics.csv", newline="") as file:
        validated = [int(r["iteration"]) for r in csv.DictReader(file) if r["val_psnr"]]
    assert validated == [1, 2, 3, 4]


def test_sigterm_and_sighup_ask_for_a_stop_as_ctrl_c_does():
    from repvsr_deploy.train.stopping import StopRequests

    for signum in (signal.SIGTERM, signal.SIGHUP):
        with StopRequests() as stops:
            os.kill(os.getpid(), signum)
            deadline = time.monotonic() + 5
            while not stops.asked and time.monotonic() < deadline:
                time.sleep(0.01)
        assert stops.signum == signum


def test_a_frame_of_the_wrong_size_is_named_from_a_loader_worker(tmp_path):
    data = tmp_path / "data"
    write_frames(data / "clip", ["0.png", "1.png"], 32, 32, 0)
    Image.fromarray(textured(36, 32, 1)).save(data / "clip" / "1.png")
    result = run_cli("repvsr-train", data, *TINY[:-1], 1, "--iterations", 2, "-o", tmp_path / "run.pth")
    one_line(result, f"{data / 'clip' / '1.png'}: a frame of 32x36 in a sequence of 32x32 frames")
    _nothing_written(tmp_path)


def test_a_model_whose_output_lags_is_measured_against_the_frames_it_gives():
    """EDVR centred on frame t - 2 gives that frame's HR at step t: the loss pairs them so."""
    from repvsr_deploy.train.recipes import KSNET, compute_loss

    gt = torch.rand(2, 5, 3, 16, 16)
    lagging = torch.cat([torch.zeros_like(gt[:, :2]), gt[:, :-2]], dim=1)  # step t gives frame t - 2
    loss, _ = compute_loss(KSNET, lambda lr: lagging, gt[..., ::4, ::4], gt, delay=2)
    assert float(loss) == pytest.approx(1e-3)  # Charbonnier's floor: every pair exact
    assert float(compute_loss(KSNET, lambda lr: lagging, gt[..., ::4, ::4], gt)[0]) > 0.1


def test_each_model_registers_the_recipe_it_trains_with():
    """RepVSR's for the frame-recurrent models it re-parameterises or compares with (FRVSR, TecoGAN),
    KSNet's for the others, as the papers train them: on the model, not in a list of names."""
    from repvsr_deploy.models import model_names
    from repvsr_deploy.train.recipes import recipe_for

    recipes = {name: recipe_for(name).name for name in model_names()}
    assert {name for name, recipe in recipes.items() if recipe == "repvsr"} == {"repvsr", "frvsr", "tecogan"}
    assert set(recipes.values()) == {"repvsr", "ksnet"}
