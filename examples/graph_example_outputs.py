"""Shared by the graph examples: write a rendered graph's audio, preset and pictures.

Not an example itself; the ``graph_*.py`` scripts next to it import it.
"""

from __future__ import annotations

import os
from typing import List, Sequence

import torch

from ddsp_lab.graph import Graph, plot_graph, save_preset, write_dot
from ddsp_lab.io import save_audio
from ddsp_lab.plotting import save_spectrograms


def write_outputs(out_dir: str, name: str, graph: Graph, signals: Sequence[torch.Tensor], titles: Sequence[str],
                  peak: float = 0.8) -> List[str]:
    """Write ``name.wav`` (the first signal, normalised to ``peak``), the preset,
    the summary, the DOT source, the graph diagram and a spectrogram sheet.

    Args:
        out_dir: folder (created).
        name: file stem.
        graph: the rendered graph.
        signals: ``[samples]`` signals; the first is written as audio.
        titles: one per signal, for the spectrograms.

    Returns:
        The paths written.
    """
    os.makedirs(out_dir, exist_ok=True)
    audio = signals[0].detach()
    audio = peak * audio / audio.abs().max().clamp(min=1e-9)
    paths = [os.path.join(out_dir, f"{name}.wav")]
    save_audio(paths[-1], audio, graph.sample_rate)
    paths.append(save_preset(graph, os.path.join(out_dir, f"{name}.json")))
    paths.append(os.path.join(out_dir, f"{name}_summary.txt"))
    with open(paths[-1], "w", encoding="utf-8") as stream:
        stream.write(graph.summary() + "\n")
    paths.append(write_dot(graph, os.path.join(out_dir, f"{name}.dot")))
    paths.append(plot_graph(graph, os.path.join(out_dir, f"{name}_graph.png")))
    paths.append(save_spectrograms(os.path.join(out_dir, f"{name}_spectrogram.png"),
                                   [s.detach() for s in signals], graph.sample_rate, list(titles)))
    return paths
