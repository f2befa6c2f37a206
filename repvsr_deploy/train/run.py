"""`train_model`: everything `repvsr-train` does, for a Python program. A run reads its data set's
index, resolves its settings (given > the resumed run's > the paper's recipe), trains, and leaves
beside its checkpoint `NAME.best.pth` (the best validation's weights) and `NAME.logs/`."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..atomic import exclusive, require_space, writable_directory
from ..errors import ReportedError, parameter
from . import distributed
from .choices import DATASETS, DEGRADATIONS, PRECISIONS
from .logbook import summary_writer
from .loop import LoopSettings, Progress, Run, RunFiles, train
from .recipes import Recipe, recipe_for

DEFAULT_MODEL = "repvsr"


@dataclass(frozen=True)
class TrainOptions:
    """What to train on and how; None: the resumed run's setting, else the recipe's default."""

    out: Path  # the checkpoint (resumed from with `resume`)
    data: tuple[Path, ...] = ()
    model: str | None = None  # a registry name; None: the resumed or init checkpoint's, else repvsr
    dataset: str = "auto"  # auto | reds | vimeo90k | lmdb | folders
    lr_frames: Path | None = None  # precomputed LR frames, named as the HR ones
    demo_data: bool = False  # the demo's synthetic clips instead of `data`
    resume: bool = False
    overwrite: bool = False  # a new run over an earlier run's checkpoint and logs
    init: Path | None = None  # start from these weights at iteration 0
    iterations: int | None = None
    batch: int | None = None  # clips per iteration and process
    clip_frames: int | None = None
    patch: int | None = None  # LR side
    degradation: str | None = None  # bd | bi | mix (default bd)
    lr: float | None = None
    precision: str | None = None  # fp32 | bf16 | fp16 (default fp32)
    clip_grad: float | None = None
    compile: bool = False
    workers: int | None = None
    val: Path | None = None  # a Vid4-style folder instead of the data set's own validation clips
    val_every: int | None = None  # default 1000
    val_clips: int | None = None
    val_frames: int | None = None
    save_every: int = 1000
    log_every: int = 10
    max_frames: int | None = None
    device: str = "auto"
    seed: int | None = None


@dataclass
class TrainResult:
    """What a run left: its checkpoint, the best validation's weights (None without validation),
    its log folder, the iteration reached of `iterations`, and the settings it ran with."""

    checkpoint: Path
    best: Path | None
    logs: Path
    iteration: int
    iterations: int
    settings: dict = field(default_factory=dict)


def run_files(out: Path) -> RunFiles:
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return RunFiles(out, out.with_name(f"{stem}.best{out.suffix or '.pth'}"), out.with_name(f"{stem}.logs"))


def train_model(
    options: TrainOptions,
    say: Callable[[str], None] = lambda line: None,
    report: Callable[[Progress], None] = lambda p: None,
    start: Callable[[int, int], None] = lambda first, total: None,
) -> TrainResult:
    """Train a model as `repvsr-train` does (under torchrun too).

    Args:
        options: What to train, on what, how long, and where it goes (`TrainOptions`).
        say: Called with each line describing the run (rank 0).
        report: Called after each iteration with its `Progress`.
        start: Called with (first iteration, last iteration) before the first.

    Returns:
        A `TrainResult`: the checkpoint, the best validation's weights, the logs, the iteration reached."""
    _check(options)
    device = _device(options.device)
    processes = distributed.join(device)
    if device == "cuda":
        device = f"cuda:{processes.local_rank}"
        torch.cuda.set_device(processes.local_rank)
    try:
        return _train(options, device, processes, say, report, start)
    finally:
        distributed.leave(processes)


def _check(options: TrainOptions) -> None:
    if bool(options.data) == options.demo_data:
        raise ReportedError(f"give {parameter('data')} or {parameter('demo_data')}")
    if options.resume and options.init:
        raise ReportedError("resume continues the checkpoint; init starts from another one: give one")
    if options.resume and options.overwrite:
        raise ReportedError("resume continues the earlier run; overwrite starts a new one over it: give one")
    if options.seed is not None and options.seed < 0:
        raise ReportedError(f"seed {options.seed}: seeds are 0 or more")
    for name, value, choices in (
        ("precision", options.precision, PRECISIONS),
        ("degradation", options.degradation, DEGRADATIONS),
        ("dataset", options.dataset, DATASETS),
    ):
        if value not in (None, *choices):
            raise ReportedError(f"{name} '{value}': one of {', '.join(choices)}")


def _device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ReportedError("device cuda: torch sees no CUDA GPU here (a CPU build of torch, or no driver)")
    return device


def _train(options, device, processes, say, report, start) -> TrainResult:
    from ..models import build_model

    files = run_files(options.out)
    writable_directory(files.checkpoint.parent)  # before any training, not at the first save
    packed, resumed = _shared_starting_point(options, processes)
    resumed = resumed or {}
    stored = _stored_settings(resumed.get("settings", {}), options.out)
    torch.manual_seed(_setting(options, stored, "seed", 0))  # a new model's weights: the same on every rank
    model = _rebuilt(packed) if packed else build_model(options.model or DEFAULT_MODEL)
    with exclusive(files.checkpoint) if processes.leader else contextlib.nullcontext():
        earlier = _earlier_outputs(files, options.overwrite) if processes.leader and not options.resume else []
        if processes.leader:
            # room for its checkpoints (weights and Adam's two moments), before training
            require_space(files.checkpoint, 2 * 3 * 4 * sum(p.numel() for p in model.parameters()))
        run = _prepare(options, stored, resumed, model, processes, device, files)
        for path in earlier:  # --overwrite: the earlier run goes once the new one is known to start
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if processes.leader:
            for line in run.header + _changes(stored, run.recorded):
                say(line)
        start(resumed.get("iteration", 0), run.settings.iterations)
        reached = train(run, report)
    best = files.best if files.best.is_file() else None
    return TrainResult(files.checkpoint, best, files.logs, reached, run.settings.iterations, run.recorded)


def _earlier_outputs(files: RunFiles, overwrite: bool) -> list[Path]:
    """An earlier run's outputs where a new run writes: refused unless `overwrite` (then the new
    run removes them once its data and settings are known good)."""
    earlier = [p for p in (files.checkpoint, files.best, files.logs) if p.exists()]
    if earlier and not overwrite:
        raise ReportedError(
            f"{earlier[0]}: an earlier run's; {parameter('resume')} continues it, {parameter('overwrite')} starts a new run over it"
        )
    return earlier


def _prepare(options, stored, resumed, model, processes, device, files) -> Run:
    """The run `options` ask for: its data, recipe, settings, clips and validation (on every rank,
    so that a bad validation folder fails every process, not rank 0 alone)."""
    summary_writer()
    data = _training_data(options, stored)
    recipe = _recipe(options, stored, resumed, model, data)
    recorded = _record(options, stored, model, data, recipe, processes)
    dataset = _clip_dataset(data, recorded, model)
    recorded["windows"] = len(dataset)
    settings = _loop_settings(options, resumed, recipe, recorded)
    validation = _validation(options, data, recorded, recipe)
    header = _header(files, data, dataset, recipe, settings, recorded, processes, device, validation)
    return Run(model, dataset, recipe, settings, device, files, processes, resumed, validation, recorded, header)


def _shared_starting_point(options: TrainOptions, processes: distributed.Processes):
    """`_starting_point`, read by the first rank whose machine holds the file and handed to the
    others (under torchrun's rendezvous, which machine gets rank 0 can change between starts)."""
    path = options.out if options.resume else options.init
    if path is None:
        return None, None
    holders = distributed.gather(processes, Path(path).is_file())
    if not any(holders):
        if options.resume:
            raise ReportedError(f"{parameter('resume')} continues {path}, which does not exist yet")
        raise ReportedError(f"{parameter('init')} {path} does not exist")
    reader = holders.index(True)
    read = None
    if processes.rank == reader:
        try:
            read = ("read", _starting_point(options, Path(path)))
        except ReportedError as exc:
            read = ("error", str(exc))
    outcome, value = distributed.from_rank(processes, read, reader)
    if outcome == "error":  # on every rank: one line each, not a broken collective
        raise ReportedError(value)
    return value


def _starting_point(options: TrainOptions, path: Path):
    """(model, training state) to start from: the checkpoint to resume (its model as (name,
    config, weights)) or the weights of `init`."""
    from ..models import load_checkpoint
    from ..models.checkpoint import load_training_state

    model = load_checkpoint(path, expect_model=options.model)  # None: whichever it holds
    if model.fused:
        raise ReportedError(f"{path}: holds a fused (deploy-form) model, which does not train")
    packed = (model.name, model.config, model.state_dict())
    if not options.resume:
        return packed, None
    state = load_training_state(path)
    if not state.get("optimizer"):
        raise ReportedError(f"{parameter('resume')}: {path} holds weights but no training state")
    return packed, state


def _rebuilt(packed):
    from ..models import build_model

    name, config, weights = packed
    model = build_model(name, **config)
    model.load_state_dict(weights)
    return model.train()


def _stored_settings(stored: dict, path: Path) -> dict:
    """The resumed run's settings, each of the kind a run writes (the file is the user's)."""

    def positive(v) -> bool:
        return isinstance(v, float) and 0 < v < float("inf")

    def count(low: int):
        return lambda v: isinstance(v, int) and v >= low

    rules = {
        "batch": count(1),
        "clip_frames": count(2),
        "patch": count(1),
        "seed": count(0),
        "windows": count(1),
        "processes": count(1),
        "max_frames": lambda v: v is None or count(2)(v),
        "val": lambda v: v is None or isinstance(v, str),
        "val_every": count(0),
        "val_clips": lambda v: v is None or count(1)(v),
        "val_frames": lambda v: v is None or count(2)(v),
        "degradation": lambda v: v in DEGRADATIONS,
        "precision": lambda v: v in PRECISIONS,
        "dataset": lambda v: v in (*DATASETS, "demo"),
        "lr_frames": lambda v: v is None or isinstance(v, str),
        "lr": positive,
        "clip_grad": lambda v: v is None or positive(v),
    }
    for name, fits in rules.items():
        if name in stored and (isinstance(stored[name], bool) or not fits(stored[name])):
            raise ReportedError(f"{path}: its training settings' '{name}' is {stored[name]!r}")
    return stored


def _setting(options: TrainOptions, stored: dict, name: str, default):
    """The given value, else the resumed run's, else `default`."""
    given = getattr(options, name)
    if given is not None:
        return given
    return stored.get(name, default)


def _training_data(options: TrainOptions, stored: dict):
    """The data set's index; a resumed run reads its data as it did (layout, LR frames, frames a
    sequence) unless told otherwise."""
    from ..data.training_sets import open_training_data

    if options.demo_data:
        return _demo_data(_setting(options, stored, "patch", 64), _setting(options, stored, "seed", 0))
    dataset = options.dataset if options.dataset != "auto" else stored.get("dataset", "auto")
    lr_frames = options.lr_frames or stored.get("lr_frames")
    return open_training_data(
        list(options.data),
        dataset,
        Path(lr_frames) if lr_frames else None,
        _setting(options, stored, "degradation", "bd") == "bi",
        _setting(options, stored, "max_frames", None),
    )


def _demo_data(patch: int, seed: int):
    from ..data.synthetic import TRAIN_PHOTOS, photo_clips
    from ..data.training_sets import ArraySequence, TrainingData

    clips = photo_clips(TRAIN_PHOTOS, 8, 12, (4 * patch + 64, 4 * patch + 64), seed)
    names = [f"{name}-{i}" for name in TRAIN_PHOTOS for i in range(8)]
    return TrainingData("demo", [ArraySequence(n, c) for n, c in zip(names, clips)], [], "", "")


def _recipe(options, stored, resumed, model, data) -> Recipe:
    recipe = recipe_for(model.name, data.family)
    if resumed and resumed.get("recipe") not in (None, recipe.name):
        raise ReportedError(
            f"{parameter('resume')}: {options.out} was trained with the {resumed['recipe']} recipe, not {recipe.name}"
        )
    base_lr = _setting(options, stored, "lr", None)
    return replace(recipe, lr=base_lr) if base_lr else recipe


def _record(options, stored, model, data, recipe, processes) -> dict:
    """The run's settings as its checkpoints record them (what --resume takes back)."""
    degradation = _setting(options, stored, "degradation", "bd")
    if data.lr_source and degradation == "mix":
        raise ReportedError(f"LR frames are read from {data.lr_source}; the mix of degradations makes its own")
    return {
        "model": model.name,
        "dataset": data.kind,
        "lr_frames": data.lr_source or None,
        "max_frames": _setting(options, stored, "max_frames", None),
        "batch": _setting(options, stored, "batch", recipe.batch),
        "clip_frames": _setting(options, stored, "clip_frames", recipe.clip_frames),
        "patch": _setting(options, stored, "patch", recipe.patch),
        "degradation": degradation,
        "precision": _setting(options, stored, "precision", "fp32"),
        "seed": _setting(options, stored, "seed", 0),
        "lr": recipe.lr,
        "clip_grad": _setting(options, stored, "clip_grad", None),
        "processes": processes.world,
        "val": str(options.val) if options.val is not None else stored.get("val"),
        "val_every": _setting(options, stored, "val_every", 1000),
        "val_clips": _setting(options, stored, "val_clips", None),
        "val_frames": _setting(options, stored, "val_frames", None),
    }


def _changes(stored: dict, recorded: dict) -> list[str]:
    """What makes a resumed run differ from the run it continues, said before it starts."""
    notes = []
    if stored.get("windows") not in (None, recorded["windows"]):
        notes.append(
            f"note: the data hold {recorded['windows']:,} clip windows, the run had {stored['windows']:,}: "
            "its clips from here on are not those of the run it continues"
        )
    if stored.get("processes") not in (None, recorded["processes"]):
        notes.append(
            f"note: {recorded['processes']} processes, the run had {stored['processes']}: the global batch "
            "and the clips of each iteration differ from the run it continues"
        )
    return notes


def _loop_settings(options, resumed, recipe, recorded) -> LoopSettings:
    iterations = options.iterations or resumed.get("iterations") or recipe.iterations
    if resumed and resumed["iteration"] >= iterations:
        raise ReportedError(
            f"{parameter('resume')}: {options.out} is at iteration {resumed['iteration']} of {iterations}; "
            f"give more {parameter('iterations')} to go on"
        )
    if options.compile and not hasattr(torch, "compile"):
        raise ReportedError("compile: this torch has no torch.compile")
    return LoopSettings(
        iterations=iterations,
        batch=recorded["batch"],
        precision=recorded["precision"],
        clip_grad=recorded["clip_grad"],
        compile=options.compile,
        workers=options.workers if options.workers is not None else default_workers(),
        val_every=recorded["val_every"],
        save_every=options.save_every,
        log_every=options.log_every,
    )


def default_workers() -> int:
    """Loader workers per process: the cores this node's processes leave, at most 8, at least 1."""
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    # the cores this process may run on (a scheduler's limit), where the system says
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(1, min(8, cores // per_node - 1))


def _clip_dataset(data, recorded: dict, model):
    from .clips import ClipDataset

    patch, clip_frames = recorded["patch"], recorded["clip_frames"]
    if clip_frames <= model.delay:
        raise ReportedError(f"clips of {clip_frames} frames: {model.name}'s output lags {model.delay}; give more")
    if patch < model.min_size or patch % model.size_multiple:
        multiple = f", a multiple of {model.size_multiple}" if model.size_multiple > 1 else ""
        raise ReportedError(
            f"patches of {patch} LR pixels: {model.name} takes sides of at least {model.min_size}{multiple}"
        )
    return ClipDataset(data.train, clip_frames, patch, recorded["degradation"], model.scale, recorded["seed"])


def _validation(options: TrainOptions, data, recorded: dict, recipe: Recipe):
    """The run's validation clips: --val's folder, else the data set's own (REDS4, Vimeo-90K-T),
    else the demo's held-out photographs; measured in the paper's convention."""
    from ..evaluate import Convention, demo_sequences, file_sequences
    from .validation import ValidationSet, from_training_sequences

    if not recorded["val_every"]:
        return None
    # mixed degradations are validated on the papers' BD
    degradation = "bd" if recorded["degradation"] == "mix" else recorded["degradation"]
    frames = recorded["val_frames"]
    if recorded["val"] is not None:
        folder = Path(recorded["val"])
        sequences = file_sequences(folder, degradation, frames)
        lr_folder = str(folder / "LR") if (folder / "LR").is_dir() else ""  # read where it holds a sequence's
        return ValidationSet(recorded["val"], sequences, Convention(recipe.channel), degradation, lr_folder)
    if data.validation:
        clips = recorded["val_clips"] or (100 if data.family == "vimeo90k" else None)
        sequences = from_training_sequences(data.validation, degradation, frames, clips)
        channel = "rgb" if data.validation_name == "REDS4" else recipe.channel
        name = data.validation_name
        if len(sequences) < len(data.validation):
            name += f" ({len(sequences)} of {len(data.validation):,}, evenly spaced)"
        return ValidationSet(name, sequences, Convention(channel), degradation, data.lr_source)
    if data.kind == "demo":
        return ValidationSet("the demo's held-out photographs", demo_sequences(degradation), Convention(), degradation)
    return None


def _header(files, data, dataset, recipe, settings, recorded, processes, device, validation) -> list[str]:
    """What the run is, in a few lines: said as it starts, kept in its log."""
    lr_from = f"read from {data.lr_source}" if data.lr_source else f"made on the fly ({recorded['degradation']})"
    flow = ""
    if recipe.flow_lr_factor != 1 or recipe.flow_frozen_iterations:
        flow = (
            f"; the flow network's {recipe.flow_lr_factor:g}x, frozen for its first "
            f"{recipe.flow_frozen_iterations:,} iterations"
        )
    schedule = f"halved every {recipe.step_every:,} iterations" if recipe.schedule == "halving" else "cosine"
    frames = sum(len(s) for s in dataset.sequences)
    return [
        f"data: {data.kind} ({len(dataset.sequences):,} sequences, {frames:,} frames, {len(dataset):,} clip "
        f"windows), {recorded['clip_frames']}-frame clips of {recorded['patch']}x{recorded['patch']} LR pixels, "
        f"LR {lr_from}",
        f"validation: {validation.describe() if validation else 'none'}",
        f"global batch {settings.batch * processes.world} ({settings.batch} clips x {processes.world} "
        f"process{'es' if processes.world > 1 else ''}); learning rate {recipe.lr:g} ({recipe.name} recipe, "
        f"{schedule}{flow})",
        f"{settings.precision} on {device}; {settings.workers} loader worker{'s' if settings.workers != 1 else ''} "
        f"per process; logs in {files.logs}",
    ]
