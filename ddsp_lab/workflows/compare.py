"""``ddsp-lab compare``: structured synthesis against neural waveform models, on the same data and budget.

Each model (by default the DDSP voice, WaveNet and SampleRNN, all of the same
size preset) is trained by :func:`~ddsp_lab.workflows.train.train` on the
same prepared dataset for the same wall-clock budget (or step count), then
resynthesises the same spread of validation examples from their pitch and
loudness, scored by :func:`~ddsp_lab.workflows.evaluate.evaluate`: the
voices render in one pass, the baselines generate sample by sample. The
report gives, per model: parameters, training steps, time and throughput,
rendering speed, and the DDSP paper's resynthesis metrics.

Training settings differ only where a model cannot share them: the
autoregressive baselines train on short crops (:data:`CROP_SECONDS`), since
a teacher-forced step over 16 x 4 s of audio costs them minutes on a CPU;
everything else (data, validation examples, seed, optimiser) is common.

Interrupted comparisons resume: finished training runs are reused (their
recorded training time counts against the budget) and evaluation reruns.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from ..io import load_audio, write_text_atomic
from ..models import Config
from ..plotting import save_spectrograms
from .evaluate import evaluate
from .train import TRAIN_LOG, load_run, train

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_MODELS = ("ddsp", "wavenet", "samplernn")
MODELS = ("ddsp", "fm", "wavenet", "samplernn")
# Training crop length of the autoregressive baselines, in seconds (the voices train on whole examples).
CROP_SECONDS = {"wavenet": 0.5, "samplernn": 1.0}
TABLE_NAME, JSON_NAME, PLOT_NAME = "comparison.md", "comparison.json", "spectrograms.png"


def parse_budget(text: str) -> float:
    """``"20m"``, ``"90s"``, ``"1.5h"`` or a plain number of seconds -> seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"budget must be a positive duration like 20m, 90s or 1.5h, got {text!r}")
    return float(match.group(1)) * {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2)]


def _trained_seconds(run_dir: str) -> float:
    """Training time recorded in a run's log: each row averages ``seconds_per_step`` over its steps."""
    path = os.path.join(run_dir, TRAIN_LOG)
    if not os.path.isfile(path):
        return 0.0
    total, previous = 0.0, 0
    with open(path, newline="") as stream:
        for row in csv.DictReader(stream):
            step = int(row["step"])
            total += float(row["seconds_per_step"]) * (step - previous)
            previous = step
    return total


def _config(model: str, size: str, seed: int, example_seconds: float) -> Config:
    config = Config.preset(model, size)
    config.training.seed = seed
    # Validation during training would spend the budget on generation; the comparison evaluates at the end.
    config.training.validation_interval = 0
    if model in CROP_SECONDS and CROP_SECONDS[model] < example_seconds:
        config.training.example_seconds = CROP_SECONDS[model]
    return config


def _parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


@dataclasses.dataclass
class CompareReport:
    """What :func:`compare` measured: one row per model (see :meth:`format_table`)."""

    dataset_dir: str
    budget_seconds: Optional[float]
    steps: Optional[int]
    rows: List[Dict[str, Any]]
    machine: str
    json_path: Optional[str] = None
    table_path: Optional[str] = None
    plot_path: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {key: value for key, value in dataclasses.asdict(self).items() if not key.endswith("_path")}

    def format_table(self) -> str:
        """Markdown table of the comparison."""
        budget = (f"{self.budget_seconds / 60:g} min of training each" if self.budget_seconds is not None
                  else f"{self.steps} steps each")
        lines = [
            f"# Comparison on `{self.dataset_dir}`: {budget}",
            "",
            f"Machine: {self.machine}. Metrics on the same {self.rows[0]['eval_examples'] if self.rows else 0} "
            "validation examples for every model (output f0 tracked with CREPE "
            f"{self.rows[0]['crepe_model'] if self.rows else ''}).",
            "",
            "| model | parameters | steps | training time (s) | training audio (s/s) | rendering time / audio time "
            "| samples/s rendered | spectral distance | loudness L1 (dB) | f0 L1 (semitones) | f0 outliers |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            cells = [row["model"], f"{row['parameters']:,}", str(row["steps"]), f"{row['training_seconds']:.0f}",
                     f"{row['training_audio_per_second']:.2f}", _format(row["render_real_time_factor"]),
                     _format(row["samples_per_second"], "{:,.0f}"), _format(row["spectral_distance"]),
                     _format(row["loudness_l1_db"]), _format(row["f0_l1_semitones"]),
                     _format(row["f0_outlier_ratio"])]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Training audio: seconds of audio per step (batch x crop) times steps per second. Rendering: the "
            "voices in one pass, the baselines sample by sample with cached activations.",
        ]
        return "\n".join(lines) + "\n"


def _format(value, pattern: str = "{:.4g}") -> str:
    return "n/a" if value is None else pattern.format(value)


def compare(
    dataset_dir: PathLike,
    out_dir: PathLike,
    models: Sequence[str] = DEFAULT_MODELS,
    size: str = "tiny",
    budget_seconds: Optional[float] = None,
    steps: Optional[int] = None,
    eval_examples: int = 4,
    crepe_model: str = "tiny",
    device=None,
    seed: int = 0,
    progress: bool = True,
) -> CompareReport:
    """Train several models on one dataset for the same budget and compare their resynthesis.

    Args:
        dataset_dir: a folder written by ``ddsp-lab prepare`` with a
            validation split.
        out_dir: output folder: ``runs/<model>`` (the training runs),
            ``eval/<model>`` (metrics), ``audio/<model>`` (the scored examples
            and their targets), ``comparison.md``, ``comparison.json`` and
            ``spectrograms.png`` (the first example, target and every model).
        models: names from :data:`MODELS`.
        size: size preset of every model (``"tiny"`` or ``"small"``; the
            baselines have no ``"full"``).
        budget_seconds: wall-clock training time per model (time already
            recorded in a resumed run counts); give this or ``steps``.
        steps: training steps per model instead of a time budget.
        eval_examples: validation examples scored, evenly spread over the split.
        crepe_model: CREPE model tracking the outputs' pitch (``"tiny"`` or ``"full"``).
        device: where training and evaluation run (default CUDA when available).
        seed: training seed of every model.
        progress: progress bars.

    Returns:
        A :class:`CompareReport`.
    """
    unknown = [name for name in models if name not in MODELS]
    if not models or unknown:
        raise ValueError(f"models must be a non-empty selection of {MODELS}, got {list(models)}")
    if (budget_seconds is None) == (steps is None):
        raise ValueError("give exactly one of budget_seconds and steps")
    if budget_seconds is not None and not budget_seconds > 0:
        raise ValueError(f"budget_seconds must be > 0, got {budget_seconds!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    dataset_dir = os.path.abspath(os.fspath(dataset_dir))
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)

    dataset_example_seconds = _example_seconds(dataset_dir)
    rows = []
    for name in models:
        run_dir = os.path.join(out_dir, "runs", name)
        config = _config(name, size, seed, dataset_example_seconds)
        if budget_seconds is not None:
            remaining = budget_seconds - _trained_seconds(run_dir)
            if remaining > 0:
                config.training.steps = 10 ** 9
                train(dataset_dir, run_dir, config, device=device, progress=progress, max_seconds=remaining)
        else:
            config.training.steps = steps
            train(dataset_dir, run_dir, config, device=device, progress=progress)
        _, payload, saved, model = load_run(run_dir)
        report = evaluate(run_dir, dataset_dir, crepe_model=crepe_model, device=device, progress=progress,
                          out_dir=os.path.join(out_dir, "eval", name), max_examples=eval_examples,
                          audio_dir=os.path.join(out_dir, "audio", name))
        seconds = _trained_seconds(run_dir)
        step_count = int(payload["step"])
        example_seconds = saved.training.example_seconds or dataset_example_seconds
        rtf = report.aggregate["render_real_time_factor"]
        rows.append({
            "model": name,
            "parameters": _parameters(model),
            "steps": step_count,
            "training_seconds": seconds,
            "batch_size": saved.training.batch_size,
            "example_seconds": example_seconds,
            "training_audio_per_second": step_count * saved.training.batch_size * example_seconds / seconds
            if seconds else 0.0,
            "render_real_time_factor": rtf,
            "samples_per_second": saved.model.sample_rate / rtf if rtf else None,
            "eval_examples": report.aggregate["examples"],
            "crepe_model": crepe_model,
            **{key: report.aggregate[key] for key in ("spectral_distance", "loudness_l1_db", "f0_l1_semitones",
                                                      "f0_outlier_ratio")},
            "example_indices": [example["index"] for example in report.examples],
        })

    machine = f"{os.cpu_count()} CPU cores, torch {torch.__version__}" + (
        f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() and str(device or "cuda").startswith("cuda")
        else ", no GPU used")
    result = CompareReport(dataset_dir=dataset_dir, budget_seconds=budget_seconds, steps=steps, rows=rows,
                           machine=machine)
    result.json_path = write_text_atomic(os.path.join(out_dir, JSON_NAME),
                                         json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    result.table_path = write_text_atomic(os.path.join(out_dir, TABLE_NAME), result.format_table())
    result.plot_path = _plot_first_example(out_dir, rows)
    return result


def _example_seconds(dataset_dir: str) -> float:
    from ..data import PreparedDataset

    dataset = PreparedDataset(dataset_dir, "train")
    return dataset.example_frames * dataset.hop_length / dataset.sample_rate


def _plot_first_example(out_dir: str, rows: List[Dict[str, Any]]) -> Optional[str]:
    """Spectrograms of the first scored example: the target, then every model's output."""
    if not rows or not rows[0]["example_indices"]:
        return None
    index = rows[0]["example_indices"][0]
    first = rows[0]["model"]
    target, rate = load_audio(os.path.join(out_dir, "audio", first, f"example_{index}_target.wav"))
    signals, titles = [target[0]], [f"validation example {index}: target"]
    for row in rows:
        audio, _ = load_audio(os.path.join(out_dir, "audio", row["model"], f"example_{index}_model.wav"))
        signals.append(audio[0])
        titles.append(f"{row['model']} ({row['steps']} steps)")
    return save_spectrograms(os.path.join(out_dir, PLOT_NAME), signals, rate, titles)
