"""Fit a graph's learnable parameters to a target recording by gradient descent.

:func:`fit` renders the graph from note events (or controls), compares it
with the target through the multi-scale spectral loss (or any loss passed
in), and runs Adam on the learnable parameters' normalised values, which are
clamped back into ``[0, 1]`` after each step (projected gradient descent), so
one learning rate suits every parameter whatever its unit. The learning rate
follows a cosine schedule from ``lr`` down to ``lr * lr_decay``. The
parameters with the lowest loss seen are kept.

With ``out_dir`` the fit writes, each atomically (temporary file, then
rename): ``fit_state.pt`` (a checkpoint every ``checkpoint_every`` steps and
on interruption, from which a later call with the same ``out_dir`` resumes),
``loss_curve.png`` and ``fitted_preset.json``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Union

import torch
from tqdm.auto import tqdm

from ..core.checks import check_audio, check_positive, check_sample_rate
from ..io import load_audio
from ..losses import MultiScaleSpectralLoss
from .errors import GraphError
from ..io import write_atomic
from .graph import Graph
from .notes import notes_to_controls
from .presets import save_preset

STATE_FILE = "fit_state.pt"
PRESET_FILE = "fitted_preset.json"
LOSS_CURVE_FILE = "loss_curve.png"


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        losses: the loss at every step (evaluated before that step's update).
        parameters: fitted physical values of the learnable parameters by
            ``"node.parameter"`` (the graph holds them too).
        initial_parameters: their values before the fit.
        best_step: step of the lowest loss (``steps`` for the final values).
        best_loss: that loss.
        audio: the render at the fitted values, ``[B, T]`` (detached).
        resumed_from: the step a resumed fit started at (0 for a fresh fit).
        preset_path, loss_curve_path, state_path: files written in ``out_dir``.
    """

    losses: List[float]
    parameters: Dict[str, object]
    initial_parameters: Dict[str, object]
    best_step: int
    best_loss: float
    audio: torch.Tensor
    resumed_from: int = 0
    preset_path: Optional[str] = None
    loss_curve_path: Optional[str] = None
    state_path: Optional[str] = None


def save_loss_curve(path, losses: List[float], best_step: Optional[int] = None, title: str = "fit") -> str:
    """Plot a loss curve (log scale) to a PNG, atomically; returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = os.fspath(path)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(range(len(losses)), losses, color="#1f5fa0", linewidth=1.2)
    if best_step is not None and 0 <= best_step < len(losses):
        ax.plot([best_step], [losses[best_step]], "o", color="firebrick", label=f"best: {losses[best_step]:.4g}")
        ax.legend(fontsize=8)
    if losses and min(losses) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        write_atomic(path, lambda temporary: fig.savefig(temporary, dpi=90, format="png"))
    finally:
        plt.close(fig)
    return path


def _snapshot(learnables) -> Dict[str, torch.Tensor]:
    return {name: p.normalized.detach().clone() for name, p in learnables.items()}


def _restore(learnables, values: Dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, parameter in learnables.items():
            parameter.normalized.copy_(values[name].to(parameter.normalized))


def fit(
    graph: Graph,
    target: Union[torch.Tensor, str, os.PathLike],
    sample_rate: Optional[int] = None,
    *,
    notes=None,
    controls: Optional[Mapping[str, torch.Tensor]] = None,
    steps: int = 300,
    lr: float = 0.02,
    lr_decay: float = 0.1,
    loss: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
    progress: bool = True,
    out_dir: Optional[Union[str, os.PathLike]] = None,
    resume: bool = True,
    checkpoint_every: int = 50,
) -> FitResult:
    """Fit the learnable parameters of ``graph`` to a target recording.

    Args:
        graph: the graph; its learnable parameters are updated in place.
        target: ``[T]`` or ``[B, T]`` audio, or the path of an audio file
            (loaded mono and resampled to the graph's rate).
        sample_rate: Hz of a tensor target; it must equal the graph's
            (resample the target, or load the preset at the target's rate).
        notes: note events that play the graph (see
            :func:`~ddsp_lab.graph.notes.notes_to_controls`).
        controls: further external controls (merged over the note controls).
        steps: optimisation steps.
        lr: Adam learning rate in normalised units (0.02 is 2 % of each
            parameter's range).
        lr_decay: final learning rate as a fraction of ``lr`` (cosine schedule;
            1 keeps it constant).
        loss: ``loss(pred [B, T], target [B, T]) -> scalar``; default
            :class:`~ddsp_lab.losses.MultiScaleSpectralLoss`.
        progress: show a progress bar.
        out_dir: folder for ``fit_state.pt``, ``loss_curve.png`` and
            ``fitted_preset.json`` (created if needed).
        resume: continue from ``out_dir/fit_state.pt`` when it exists.
        checkpoint_every: steps between checkpoints.

    Returns:
        A :class:`FitResult`.

    Raises:
        GraphError: no learnable parameters, a sample-rate or batch mismatch,
            a non-finite loss or gradient, or a checkpoint from another graph.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a Graph, got {type(graph).__name__}")
    for name, value in (("steps", steps), ("checkpoint_every", checkpoint_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    lr = check_positive(lr, "lr")
    lr_decay = check_positive(lr_decay, "lr_decay")
    if lr_decay > 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    learnables = dict(sorted(graph.learnable_parameters().items()))
    if not learnables:
        raise GraphError("the graph has no Learnable parameters to fit")
    dtype, device = graph._default_placement()
    if isinstance(target, (str, os.PathLike)):
        target, _ = load_audio(target, sample_rate=graph.sample_rate)
    else:
        if sample_rate is None:
            raise ValueError("sample_rate (Hz) is required with a tensor target")
        sample_rate = check_sample_rate(sample_rate)
        if sample_rate != graph.sample_rate:
            raise GraphError(
                f"the target is at {sample_rate} Hz but the graph renders at {graph.sample_rate} Hz; resample the "
                "target (ddsp_lab.core.resample) or load the preset at the target's rate"
            )
    target = check_audio(target, "target", allow_1d=True).detach().to(device=device, dtype=dtype)
    samples = target.shape[-1]
    frames = -(-samples // graph.hop_length)
    all_controls = {}
    if notes is not None:
        all_controls.update(notes_to_controls(notes, frames, graph.sample_rate, graph.hop_length, dtype, device))
    all_controls.update(dict(controls or {}))
    loss_fn = loss if loss is not None else MultiScaleSpectralLoss().to(device)

    def render() -> torch.Tensor:
        audio = graph(all_controls, num_frames=frames)[..., :samples]
        if audio.shape != target.shape:
            raise GraphError(
                f"the graph renders {tuple(audio.shape)} but the target is {tuple(target.shape)}; give one note "
                "(or control row) per target row"
            )
        return audio

    parameters = [p.normalized for p in learnables.values()]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    initial = {name: p.physical_value() for name, p in learnables.items()}
    losses: List[float] = []
    best_loss, best_step, best_values = math.inf, 0, _snapshot(learnables)
    start = 0
    state_path = preset_path = curve_path = None
    if out_dir is not None:
        out_dir = os.fspath(out_dir)
        os.makedirs(out_dir, exist_ok=True)
        state_path = os.path.join(out_dir, STATE_FILE)
        if resume and os.path.exists(state_path):
            state = torch.load(state_path, map_location=device, weights_only=False)
            if state.get("names") != list(learnables):
                raise GraphError(
                    f"{state_path} belongs to a fit of other parameters ({state.get('names')}); delete it or "
                    "choose another out_dir"
                )
            _restore(learnables, state["normalized"])
            optimizer.load_state_dict(state["optimizer"])
            losses = list(state["losses"])
            best_loss, best_step, best_values = state["best_loss"], state["best_step"], state["best_normalized"]
            initial = state["initial"]
            start = state["step"]

    def checkpoint(step: int) -> None:
        if state_path is None:
            return
        state = {
            "format": "ddsp_lab.graph.fit", "names": list(learnables), "step": step, "steps": steps,
            "losses": losses, "normalized": _snapshot(learnables), "optimizer": optimizer.state_dict(),
            "best_loss": best_loss, "best_step": best_step, "best_normalized": best_values, "initial": initial,
        }
        write_atomic(state_path, lambda temporary: torch.save(state, temporary))

    completed = start
    bar = tqdm(total=steps, initial=min(start, steps), disable=not progress, desc=f"fit {graph.name}", unit="step")
    try:
        for step in range(start, steps):
            scale = lr_decay + (1.0 - lr_decay) * 0.5 * (1.0 + math.cos(math.pi * step / steps))
            for group in optimizer.param_groups:
                group["lr"] = lr * scale
            optimizer.zero_grad()
            value = loss_fn(render(), target)
            if not torch.isfinite(value):
                raise GraphError(
                    f"the loss is {float(value)} at step {step}; check the target and the parameter ranges"
                )
            value.backward()
            bad = [name for name, p in learnables.items() if p.normalized.grad is not None
                   and not bool(torch.isfinite(p.normalized.grad).all())]
            if bad:
                raise GraphError(f"non-finite gradient at step {step} for {', '.join(bad)}")
            current = float(value.detach())
            losses.append(current)
            if current < best_loss:
                best_loss, best_step, best_values = current, step, _snapshot(learnables)
            optimizer.step()
            for parameter in learnables.values():
                parameter.project_()
            completed = step + 1
            bar.update(1)
            bar.set_postfix(loss=f"{current:.4g}", best=f"{best_loss:.4g}")
            if (step + 1) % checkpoint_every == 0:
                checkpoint(step + 1)
    except KeyboardInterrupt:
        del losses[completed:]
        checkpoint(completed)
        raise
    finally:
        bar.close()
    checkpoint(steps)
    with torch.no_grad():
        final_loss = float(loss_fn(render(), target))
        if final_loss < best_loss:
            best_loss, best_step, best_values = final_loss, steps, _snapshot(learnables)
        _restore(learnables, best_values)
        audio = render().detach()
    fitted = {name: p.physical_value() for name, p in learnables.items()}
    if out_dir is not None:
        preset_path = save_preset(graph, os.path.join(out_dir, PRESET_FILE))
        curve_path = save_loss_curve(os.path.join(out_dir, LOSS_CURVE_FILE), losses,
                                     best_step if best_step < len(losses) else None, title=f"fit of {graph.name}")
    return FitResult(
        losses=losses, parameters=fitted, initial_parameters=initial, best_step=best_step, best_loss=best_loss,
        audio=audio, resumed_from=start, preset_path=preset_path, loss_curve_path=curve_path, state_path=state_path,
    )
