"""Resynthesis metrics of a trained voice (``ddsp-lab eval RUN_DIR --data DATASET_DIR``).

Following the DDSP paper's protocol (Engel et al., 2020, table 2), every
example of a prepared dataset's split is resynthesised from its own f0 and
loudness, and the output is analysed again:

* loudness L1 (dB): both loudness curves are computed from the example's
  audio with :func:`~ddsp_lab.features.compute_loudness` and the dataset's
  hop, so that a perfect resynthesis scores 0 (the cached curves were
  computed on whole recordings and differ at the example's edges);
* f0 L1 (semitones) and f0 outlier ratio: the output's f0 is tracked with
  CREPE (``crepe_model``) and compared with the dataset's f0 (the f0 the
  model was asked to play) on the frames where the dataset's confidence is
  at least 0.85; an output frame is an outlier when it is more than a
  semitone off or CREPE is not confident on it (see
  :func:`~ddsp_lab.metrics.f0_outlier_ratio`);
* multi-scale spectral distance: the run's own training loss
  (:func:`~ddsp_lab.metrics.multiscale_spectral_distance` with the run's
  loss settings).

Per-example values and their means over the split are written to
``eval.json`` and ``eval.md`` (a markdown table), atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Dict, List, Optional, Union

import torch

from .. import metrics
from ..features import compute_f0, compute_loudness
from ..io import save_audio, write_text_atomic
from ..pretrained import BUNDLED_MODELS
from .train import load_run

PathLike = Union[str, os.PathLike]

JSON_NAME = "eval.json"
MARKDOWN_NAME = "eval.md"
METRIC_NAMES = ("loudness_l1_db", "f0_l1_semitones", "f0_outlier_ratio", "spectral_distance")
_METRIC_TITLES = {
    "loudness_l1_db": "loudness L1 (dB)",
    "f0_l1_semitones": "f0 L1 (semitones)",
    "f0_outlier_ratio": "f0 outlier ratio",
    "spectral_distance": "spectral distance",
}


@dataclasses.dataclass
class EvalReport:
    """What :func:`evaluate` measured.

    Attributes:
        checkpoint: the checkpoint evaluated.
        step: its training step.
        dataset_dir: the prepared dataset.
        split: ``"train"`` or ``"validation"``.
        crepe_model: the CREPE model that tracked the outputs' f0.
        reference_crepe_model: the one that tracked the dataset's f0.
        confidence_threshold: CREPE confidence a reference frame needs to count (0.85).
        outlier_tolerance_semitones: pitch error above which a frame is an outlier.
        examples: one dict per example: ``index``, ``source``,
            ``start_sample``, ``start_seconds``, ``confident_frames`` (reference
            frames with confidence >= the threshold) and the metrics of
            :data:`METRIC_NAMES` (f0 metrics ``None`` without confident frames).
        aggregate: mean of every metric over the examples that have it, and
            ``examples`` / ``examples_with_pitch`` counts.
        json_path, markdown_path: the files written.
    """

    checkpoint: str
    step: int
    dataset_dir: str
    split: str
    crepe_model: str
    reference_crepe_model: Optional[str]
    confidence_threshold: float
    outlier_tolerance_semitones: float
    examples: List[Dict[str, Any]]
    aggregate: Dict[str, Any]
    json_path: str = ""
    markdown_path: str = ""

    def to_dict(self) -> Dict[str, Any]:
        """Everything but the file paths, as JSON-ready values (NaN as ``None``)."""
        values = dataclasses.asdict(self)
        values.pop("json_path")
        values.pop("markdown_path")
        return values

    def format_table(self) -> str:
        """Markdown: the means, then one row per example."""
        lines = [
            f"# Resynthesis metrics: step {self.step}, {self.split} split",
            "",
            f"Checkpoint `{self.checkpoint}`, dataset `{self.dataset_dir}`; output f0 tracked with CREPE "
            f"{self.crepe_model} (reference: {self.reference_crepe_model}); f0 metrics on reference frames with "
            f"confidence >= {self.confidence_threshold:g}; outliers: error > "
            f"{self.outlier_tolerance_semitones:g} semitone(s) or unconfident output.",
            "",
            "| metric | mean |",
            "|---|---|",
        ]
        lines += [f"| {_METRIC_TITLES[name]} | {_format(self.aggregate[name])} |" for name in METRIC_NAMES]
        lines += [
            f"| examples | {self.aggregate['examples']} |",
            f"| examples with confident pitch | {self.aggregate['examples_with_pitch']} |",
            f"| rendering time / audio time | {_format(self.aggregate.get('render_real_time_factor'))} |",
            "",
            "| # | source | start (s) | " + " | ".join(_METRIC_TITLES[name] for name in METRIC_NAMES) + " |",
            "|---|---|---|" + "---|" * len(METRIC_NAMES),
        ]
        for example in self.examples:
            cells = [str(example["index"]), f"`{example['source']}`", f"{example['start_seconds']:.2f}"]
            cells += [_format(example[name]) for name in METRIC_NAMES]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def _format(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _number(value: torch.Tensor) -> Optional[float]:
    """A Python float, ``None`` for NaN (JSON has no NaN)."""
    value = float(value)
    return None if math.isnan(value) else value


def evaluate(
    run_dir_or_checkpoint: PathLike,
    dataset_dir: PathLike,
    split: str = "validation",
    crepe_model: str = "full",
    device=None,
    progress: bool = True,
    out_dir: Optional[PathLike] = None,
    max_examples: Optional[int] = None,
    audio_dir: Optional[PathLike] = None,
) -> EvalReport:
    """Resynthesise a split of a prepared dataset and measure it (see the module docstring).

    Args:
        run_dir_or_checkpoint: a run folder (its newest intact checkpoint), a
            checkpoint ``.pt`` written by :func:`~ddsp_lab.workflows.train.train`,
            or a bundled model's name (then ``out_dir`` is required).
        dataset_dir: a folder written by :func:`~ddsp_lab.data.prepare_dataset`
            with the run's sample rate and hop.
        split: ``"validation"`` (default) or ``"train"``.
        crepe_model: CREPE model that tracks the outputs' f0, ``"full"``
            (as in the paper) or ``"tiny"`` (about 40 times cheaper).
        device: where the model and CREPE run (``"cpu"``, ``"cuda"``, ...);
            default CUDA when available, else CPU.
        progress: show a progress bar (tqdm, on stderr).
        out_dir: folder for ``eval.json`` and ``eval.md`` (created if
            needed); default the run folder (the checkpoint's folder when a
            checkpoint is given).
        max_examples: score at most this many examples, evenly spaced over
            the split (``None``: all). The autoregressive baselines generate
            sample by sample, which makes a whole split slow on a CPU.
        audio_dir: also write every scored example there, as
            ``example_<index>_target.wav`` and ``example_<index>_model.wav``.

    Returns:
        An :class:`EvalReport`.

    Raises:
        FileNotFoundError: no run folder, checkpoint or dataset there.
        CheckpointError: the checkpoint is damaged.
        ValueError: an unknown split or CREPE model, a split without
            examples, or a dataset prepared with another sample rate or hop.
    """
    if crepe_model not in ("full", "tiny"):
        raise ValueError(f"crepe_model must be 'full' or 'tiny', got {crepe_model!r}")
    from ..data import PreparedDataset

    if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int)
                                     or max_examples < 1):
        raise ValueError(f"max_examples must be a positive integer or None, got {max_examples!r}")
    source = os.fspath(run_dir_or_checkpoint)
    if out_dir is None and not os.path.exists(source):
        if source in BUNDLED_MODELS:
            raise ValueError(f"out_dir is required to evaluate the bundled model {source!r}")
        raise FileNotFoundError(f"run folder or checkpoint not found: {os.path.abspath(source)}")
    dataset_dir = os.path.abspath(os.fspath(dataset_dir))
    if not os.path.isdir(dataset_dir):
        raise FileNotFoundError(f"dataset folder not found: {dataset_dir} (prepare one with ddsp-lab prepare)")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    checkpoint, payload, config, model = load_run(source, device)
    dataset = PreparedDataset(dataset_dir, split)
    sample_rate, hop_length = model.sample_rate, model.hop_length
    if (dataset.sample_rate, dataset.hop_length) != (sample_rate, hop_length):
        raise ValueError(
            f"{dataset_dir} was prepared at {dataset.sample_rate} Hz with hop {dataset.hop_length} but the model "
            f"runs at {sample_rate} Hz with hop {hop_length}; prepare the data with the run's settings"
        )
    loss = config.loss
    spectral_settings = dict(
        fft_sizes=loss.resolved_fft_sizes(sample_rate), overlap=loss.overlap, linear_weight=loss.linear_weight,
        log_weight=loss.log_weight, log_floor_db=loss.log_floor_db,
    )
    threshold = metrics.DEFAULT_CONFIDENCE_THRESHOLD
    tolerance = metrics.DEFAULT_OUTLIER_TOLERANCE_SEMITONES

    indices = list(range(len(dataset)))
    if max_examples is not None and max_examples < len(indices):
        indices = [number * len(dataset) // max_examples for number in range(max_examples)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(indices), desc=f"eval {split}", unit="example", dynamic_ncols=True)
    examples: List[Dict[str, Any]] = []
    devices = [device] if device.type == "cuda" else []
    render_seconds, rendered_samples = 0.0, 0
    try:
        for index in indices:
            item = {key: value.to(device) for key, value in dataset[index].items()}
            reference = item["audio"][None]
            # The synthesiser's noise (or the sampling) is seeded per example: a checkpoint always scores the same.
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(index)
                started = time.perf_counter()
                if config.model.autoregressive:
                    output = model.generate(item["f0_hz"][None], item["loudness_db"][None])
                else:
                    output = model(item["f0_hz"][None], item["loudness_db"][None],
                                   reference if model.z_size else None)
                render_seconds += time.perf_counter() - started
                rendered_samples += output.shape[-1]
            if audio_dir is not None:
                os.makedirs(audio_dir, exist_ok=True)
                save_audio(os.path.join(audio_dir, f"example_{index}_target.wav"), reference.cpu(), sample_rate)
                save_audio(os.path.join(audio_dir, f"example_{index}_model.wav"), output.cpu(), sample_rate)
            out_f0, out_confidence = compute_f0(output, sample_rate, hop_length=hop_length, model=crepe_model)
            ref_confidence = item["confidence"][None]
            where = dataset.describe(index)
            example = {
                "index": index,
                "source": where["source"],
                "start_sample": int(where["start_sample"]),
                "start_seconds": where["start_sample"] / sample_rate,
                "confident_frames": int((ref_confidence >= threshold).sum()),
                "loudness_l1_db": _number(metrics.loudness_l1_db(
                    compute_loudness(reference, sample_rate, hop_length=hop_length),
                    compute_loudness(output, sample_rate, hop_length=hop_length),
                )[0]),
                "f0_l1_semitones": _number(metrics.f0_l1_semitones(
                    item["f0_hz"][None], out_f0, ref_confidence, threshold)[0]),
                "f0_outlier_ratio": _number(metrics.f0_outlier_ratio(
                    item["f0_hz"][None], out_f0, ref_confidence, threshold, tolerance, out_confidence)[0]),
                "spectral_distance": _number(metrics.multiscale_spectral_distance(
                    reference, output, **spectral_settings)[0]),
            }
            examples.append(example)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    aggregate: Dict[str, Any] = {}
    for name in METRIC_NAMES:
        values = [example[name] for example in examples if example[name] is not None]
        aggregate[name] = sum(values) / len(values) if values else None
    aggregate["examples"] = len(examples)
    # Seconds of rendering per second of audio (below 1: faster than real time).
    aggregate["render_real_time_factor"] = render_seconds * sample_rate / rendered_samples if rendered_samples else None
    aggregate["examples_with_pitch"] = sum(1 for example in examples if example["confident_frames"])

    report = EvalReport(
        checkpoint=checkpoint, step=int(payload["step"]), dataset_dir=dataset_dir, split=split,
        crepe_model=crepe_model, reference_crepe_model=dataset.manifest.get("features", {}).get("crepe_model"),
        confidence_threshold=threshold, outlier_tolerance_semitones=tolerance, examples=examples,
        aggregate=aggregate,
    )
    if out_dir is None:
        out_dir = source if os.path.isdir(source) else os.path.dirname(os.path.abspath(source))
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    report.json_path = write_text_atomic(
        os.path.join(out_dir, JSON_NAME), json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    )
    report.markdown_path = write_text_atomic(os.path.join(out_dir, MARKDOWN_NAME), report.format_table())
    return report
