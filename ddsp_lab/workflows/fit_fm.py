"""``ddsp-lab fit-fm``: a DX7 patch that sounds like a recorded note, written as ``.syx``.

The fit itself is :func:`ddsp_lab.fitting.fit.fit_patch`; this workflow reads
the note, runs the fit against the bundled factory voices and writes:

* ``patch.syx``: the fitted voice as a single-voice sysex message (loadable
  by DX7 emulators such as Dexed);
* ``patch.json``: the same voice as readable JSON, with the note, velocity
  and key-up time it was fitted for;
* ``fitted.wav``: ``patch.syx`` read back and rendered by ddsp_lab's DX7
  engine at the target's note, length and sample rate;
* ``target.wav``: the target as fitted (mono);
* ``report.png``: target and fitted spectrograms, amplitude envelopes
  (with the nearest preset's), and the descent's loss curve;
* ``metrics.json``: multi-scale spectral distance, log-spectral distance and
  envelope error of the fit and of the nearest preset, the judged distance
  after every stage, and the time taken.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, Optional, Union

import torch

from ..dx7 import read_syx, render_voice, write_voice
from ..fitting import factory_voices, frame_rms_db
from ..fitting.fit import FitResult, FitSettings, fit_patch
from ..io import load_audio, save_audio, write_text_atomic

PathLike = Union[str, "os.PathLike[str]"]


@dataclasses.dataclass
class FitFiles:
    """The files :func:`fit_fm` wrote (paths) and the fit itself."""

    result: FitResult
    files: Dict[str, str]


def fit_fm(
    target_path: PathLike,
    out_dir: PathLike,
    note: Optional[int] = None,
    algorithm: Optional[int] = None,
    quick: bool = False,
    crepe_model: str = "tiny",
    progress: bool = True,
) -> FitFiles:
    """Fit a DX7 patch to the note in ``target_path`` and write the results to ``out_dir``.

    Args:
        target_path: one note in any format and sample rate libsndfile reads
            (several channels are mixed down).
        out_dir: output folder (created).
        note: MIDI note the target plays (0..127); ``None`` detects it.
        algorithm: restrict the fit to one DX7 algorithm (1..32).
        quick: about a minute instead of up to four (:meth:`FitSettings.quick`).
        crepe_model: CREPE model of the pitch detection (``"tiny"`` or ``"full"``).
        progress: print a line after every stage.

    Returns:
        :class:`FitFiles` with the :class:`~ddsp_lab.fitting.fit.FitResult`
        and the written paths by name (``"syx"``, ``"json"``, ``"fitted"``,
        ``"target"``, ``"report"``, ``"metrics"``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: silence, a note shorter than 0.1 s, no pitch without
            ``note`` (pass ``note`` then), bad arguments.
    """
    target_path = os.fspath(target_path)
    if not os.path.isfile(target_path):
        raise FileNotFoundError(f"target file not found: {target_path}")
    if note is not None and (isinstance(note, bool) or not isinstance(note, int) or not 0 <= note <= 127):
        raise ValueError(f"note must be a MIDI note 0..127, got {note!r}")
    audio, rate = load_audio(target_path)
    settings = FitSettings.quick() if quick else FitSettings()
    result = fit_patch(audio, rate, note=note, algorithm=algorithm, settings=settings, presets=factory_voices(),
                       crepe_model=crepe_model, progress=print if progress else None)

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    files = {name: os.path.join(out_dir, filename) for name, filename in (
        ("syx", "patch.syx"), ("json", "patch.json"), ("fitted", "fitted.wav"), ("target", "target.wav"),
        ("report", "report.png"), ("metrics", "metrics.json"))}
    write_voice(files["syx"], result.voice)
    # fitted.wav is what the written bytes play, not the in-memory voice.
    written = read_syx(files["syx"])[0]
    fitted = render_voice(written, note=result.note, velocity=result.velocity, gate_s=result.gate_s,
                          duration_s=result.target.shape[-1] / rate, sample_rate=rate)[:, : result.target.shape[-1]]
    save_audio(files["fitted"], fitted, rate)
    save_audio(files["target"], result.target, rate)
    write_text_atomic(files["json"], json.dumps({
        "voice": written.to_dict(), "note": result.note, "velocity": result.velocity, "gate_s": result.gate_s,
        "sample_rate": rate,
    }, indent=2) + "\n")
    write_text_atomic(files["metrics"], json.dumps({
        **result.metrics,
        "seconds": result.seconds,
        "note": result.note,
        "measured_f0_hz": result.analysis.measured_f0_hz,
        "algorithm": written.algorithm,
        "nearest_preset": result.preset_name,
        "stages": [dataclasses.asdict(stage) for stage in result.stages],
        "settings": dataclasses.asdict(settings),
    }, indent=2) + "\n")
    save_fit_report(files["report"], result)
    return FitFiles(result=result, files=files)


def save_fit_report(path: PathLike, result: FitResult) -> str:
    """PNG: target and fitted spectrograms, amplitude envelopes, loss curve. Returns ``path``."""
    from ..plotting import _pyplot, log_spectrogram

    plt = _pyplot()
    rate = result.sample_rate
    fig = plt.figure(figsize=(10, 8))
    grid = fig.add_gridspec(3, 2)
    for column, (signal, title) in enumerate(((result.target, "target"), (result.fitted, "fitted patch"))):
        ax = fig.add_subplot(grid[0:2, column])
        db = log_spectrogram(signal[0], rate)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma",
                  extent=[0, db.shape[1] * 256 / rate, 0, rate / 2], vmin=-100, vmax=-10)
        ax.set_ylim(0, min(rate / 2, 10000))
        ax.set_title(f"{title} (note {result.note})", fontsize=10)
        ax.set_xlabel("seconds")
        ax.set_ylabel("Hz")
    ax = fig.add_subplot(grid[2, 0])
    hop, window = max(1, round(0.005 * rate)), max(1, round(0.02 * rate))
    curves = [(result.target, "target"), (result.fitted, "fitted")]
    if result.preset is not None:
        curves.append((result.preset, f"nearest preset ({result.preset_name.split('/', 1)[-1].strip()})"))
    for signal, label in curves:
        envelope = frame_rms_db(signal, hop, window)[0]
        ax.plot(torch.arange(envelope.shape[0]).numpy() * hop / rate, envelope.numpy(), label=label, linewidth=1)
    ax.set_ylim(bottom=float(frame_rms_db(result.target, hop, window).max()) - 70)
    ax.set_xlabel("seconds")
    ax.set_ylabel("RMS (dB)")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[2, 1])
    if result.loss_curve:
        steps, losses = zip(*result.loss_curve)
        ax.plot(steps, losses, linewidth=1)
    ax.set_xlabel("descent step")
    ax.set_ylabel("fit loss")
    ax.set_title(f"spectral distance {result.metrics['spectral_distance']:.3f}"
                 + (f" (nearest preset {result.metrics['preset_spectral_distance']:.3f})"
                    if "preset_spectral_distance" in result.metrics else ""), fontsize=9)
    fig.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
