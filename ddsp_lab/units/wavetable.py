"""Band-limited wavetable oscillator with mip-mapped tables and table crossfade.

A wavetable is one cycle of a waveform stored as ``table_size`` samples.
Reading it faster raises the pitch, and harmonic ``k`` of the table then
sounds at ``k * f0``: above Nyquist it aliases. The classic cure is a
mip-map: a copy of every table per octave with the harmonics removed that
would alias at that octave's pitches. Here the copies are made in the
frequency domain (``rfft``, zero the harmonics, ``irfft``), which is linear,
so gradients reach learnable tables through every level.

Level ``m`` keeps harmonics ``1 .. K_m`` with ``K_0 = (table_size - 1) // 2``
(everything below the table's own Nyquist) and ``K_m = K_0 // 2**m``, down
to a last level with no harmonics. The DC offset of a table cannot alias
and is kept at every level. Level ``m`` is alias-free while
``f0 < nyquist / K_m =: f_m``. For ``f0`` between ``f_(m-1)`` and ``f_m``
(with ``f_(-1) = f_0 / 2``) the output blends level ``m`` into level
``m + 1``, linearly in ``log f0``, so the blend is continuous in pitch and
never uses a level that would alias. The price is the usual one of octave
mip-maps: harmonics in the top octave below Nyquist are attenuated (never
more than the octave: everything below about ``nyquist / 2`` is kept whole).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import torch
from torch import nn

from ..core.checks import (
    check_controls,
    check_hop_length,
    check_nonnegative,
    check_same_frames,
    check_sample_rate,
    check_tensor,
)
from ..core.conversions import exp_sigmoid
from ..core.phase import TWO_PI, accumulate_phase
from ..core.upsample import upsample_linear
from .base import Processor

DEFAULT_TABLE_SIZE = 2048
MIN_TABLE_SIZE = 4


def mip_harmonic_limits(table_size: int) -> list:
    """Highest harmonic kept at every mip level, ``[K_0, K_1, ..., 0]``.

    ``K_0 = (table_size - 1) // 2`` and ``K_m = K_0 // 2**m``; the last level
    keeps no harmonics (DC only).
    """
    limits = [(table_size - 1) // 2]
    while limits[-1] > 0:
        limits.append(limits[-1] // 2)
    return limits


def build_mipmap(tables: torch.Tensor, harmonic_limits) -> torch.Tensor:
    """Band-limited copies of single-cycle tables, one per mip level.

    Args:
        tables: ``[n_tables, table_size]`` one cycle each.
        harmonic_limits: highest harmonic kept per level (``[L]`` ints), see
            :func:`mip_harmonic_limits`.

    Returns:
        ``[n_tables, L, table_size]``; differentiable with respect to ``tables``.
    """
    table_size = tables.shape[-1]
    spectrum = torch.fft.rfft(tables, dim=-1)
    bins = torch.arange(spectrum.shape[-1], device=tables.device)
    limits = torch.as_tensor(list(harmonic_limits), device=tables.device)
    keep = (bins[None, :] <= limits[:, None]).to(tables.dtype)
    return torch.fft.irfft(spectrum.unsqueeze(1) * keep, n=table_size, dim=-1)


def mip_level_coordinate(frequency_hz: torch.Tensor, sample_rate: float, harmonic_limits) -> torch.Tensor:
    """Fractional mip level for each frequency: blend ``floor`` and ``floor + 1``.

    On ``[f_(m-1), f_m)`` (``f_m = nyquist / K_m``, ``f_(-1) = f_0 / 2``) the
    coordinate rises linearly in ``log f`` from ``m`` to ``m + 1``; below
    ``f_(-1)`` it is 0 and from the last finite threshold on it is the silent
    level. Both blended levels are alias-free at that frequency.

    Args:
        frequency_hz: any shape, Hz, ``>= 0``.
        sample_rate: Hz.
        harmonic_limits: ``[K_0, ..., 0]`` from :func:`mip_harmonic_limits`.

    Returns:
        Level coordinate in ``[0, L - 1]``, same shape and dtype.
    """
    nyquist = sample_rate / 2.0
    positive = [k for k in harmonic_limits if k > 0]
    last_level = len(harmonic_limits) - 1
    edges = [nyquist / (2.0 * positive[0])] + [nyquist / k for k in positive]
    log_edges = torch.tensor([math.log(e) for e in edges], device=frequency_hz.device, dtype=frequency_hz.dtype)
    # Clamped so log stays finite (and its gradient zero) at f0 = 0.
    log_f = torch.log(torch.clamp(frequency_hz, min=edges[0] * 0.5))
    interval = torch.searchsorted(log_edges, log_f.detach().contiguous(), right=True)
    lower = torch.clamp(interval - 1, min=0, max=len(edges) - 2)
    start, end = log_edges[lower], log_edges[lower + 1]
    coordinate = lower.to(log_f.dtype) + (log_f - start) / (end - start)
    coordinate = torch.where(interval == 0, torch.zeros_like(coordinate), coordinate)
    return torch.where(interval >= len(edges), torch.full_like(coordinate, float(last_level)), coordinate)


def _default_tables(n_tables: int, table_size: int) -> torch.Tensor:
    cycle = torch.arange(table_size, dtype=torch.float64) * (TWO_PI / table_size)
    return torch.sin(cycle).to(torch.float32).expand(n_tables, table_size).clone()


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class Wavetable(Processor):
    """Mip-mapped, band-limited wavetable oscillator with table crossfading.

    Each sample reads the tables at the running phase (accumulated in
    float64 from the linearly upsampled ``f0_hz`` and wrapped), with linear
    interpolation between table samples and between the two mip levels
    chosen for the instantaneous frequency (module docstring), so no harmonic
    of a table aliases; what remains is the error of linear interpolation,
    whose images sit about ``(k / table_size)**2`` below each harmonic ``k``
    in use. With several tables, ``position`` in ``[0, 1]`` crossfades
    linearly between neighbours: 0 plays table 0, 1 the last table, and
    ``i / (n_tables - 1)`` table ``i``. Differentiable with respect to
    ``f0_hz``, ``amplitude``, ``position`` and (when learnable) the tables.

    Args:
        sample_rate: audio sample rate in Hz (any).
        hop_length: audio samples per control frame.
        wavetables: ``[n_tables, table_size]`` (or ``[table_size]``) single
            cycles, sample ``i`` at phase ``2*pi*i/table_size``; typically in
            ``[-1, 1]``. Default: every table is one cycle of a sine.
        n_tables: number of tables when ``wavetables`` is not given (default
            1); must match ``wavetables`` when it is.
        table_size: samples per table (>= 4, default 2048) when
            ``wavetables`` is not given; must match ``wavetables`` when it is.
            Larger tables make the linear interpolation more accurate.
        learnable: store the tables as an ``nn.Parameter`` to fit them by
            gradient descent (otherwise a buffer that follows ``.to()``).
        scale_fn: maps raw amplitudes to positive values in
            :meth:`get_controls` (default ``exp_sigmoid``; ``None`` passes them).

    Shapes:
        ``get_signal(f0_hz [B, F, 1], amplitude [B, F, 1], position [B, F, 1],
        initial_phase [B, 1]) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        wavetables: Optional[torch.Tensor] = None,
        n_tables: Optional[int] = None,
        table_size: Optional[int] = None,
        learnable: bool = False,
        scale_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = exp_sigmoid,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        if wavetables is None:
            n_tables = _check_count(1 if n_tables is None else n_tables, "n_tables", 1)
            table_size = DEFAULT_TABLE_SIZE if table_size is None else table_size
            table_size = _check_count(table_size, "table_size", MIN_TABLE_SIZE)
            tables = _default_tables(n_tables, table_size)
        else:
            check_tensor(wavetables, "wavetables", ndim=(1, 2))
            shape = tuple(wavetables.shape)
            tables = wavetables.detach().clone()
            if tables.dim() == 1:
                tables = tables.unsqueeze(0)
            if n_tables is not None and n_tables != tables.shape[0]:
                raise ValueError(f"n_tables={n_tables} disagrees with wavetables of shape {shape}")
            if table_size is not None and table_size != tables.shape[1]:
                raise ValueError(f"table_size={table_size} disagrees with wavetables of shape {shape}")
            if tables.shape[0] < 1 or tables.shape[1] < MIN_TABLE_SIZE:
                raise ValueError(
                    f"wavetables must be [n_tables >= 1, table_size >= {MIN_TABLE_SIZE}], got shape {shape}"
                )
        if learnable:
            self.wavetables = nn.Parameter(tables)
        else:
            self.register_buffer("wavetables", tables)
        self.learnable = learnable
        self.scale_fn = scale_fn
        self.harmonic_limits = mip_harmonic_limits(tables.shape[1])

    @property
    def n_tables(self) -> int:
        """Number of single-cycle tables."""
        return self.wavetables.shape[0]

    @property
    def table_size(self) -> int:
        """Samples per table."""
        return self.wavetables.shape[1]

    def mipmap(self, dtype=None) -> torch.Tensor:
        """The band-limited table copies, ``[n_tables, levels, table_size]``."""
        tables = self.wavetables if dtype is None else self.wavetables.to(dtype)
        return build_mipmap(tables, self.harmonic_limits)

    def get_controls(
        self,
        f0_hz: torch.Tensor,
        amplitude: torch.Tensor,
        position: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Map raw network outputs to physical controls.

        Args:
            f0_hz: ``[B, F, 1]`` fundamental in Hz (passed through unchanged).
            amplitude: ``[B, F, 1]`` unbounded; becomes positive via ``scale_fn``.
            position: optional ``[B, F, 1]`` unbounded; ``sigmoid`` maps it
                onto ``(0, 1)``.

        Returns:
            ``{"f0_hz", "amplitude"}`` plus ``"position"`` when given.
        """
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(amplitude, "amplitude", channels=1)
        if self.scale_fn is not None:
            amplitude = self.scale_fn(amplitude)
        controls = {"f0_hz": f0_hz, "amplitude": amplitude}
        if position is not None:
            check_controls(position, "position", channels=1)
            controls["position"] = torch.sigmoid(position)
        return controls

    def get_signal(
        self,
        f0_hz: torch.Tensor,
        amplitude: torch.Tensor,
        position: Optional[torch.Tensor] = None,
        initial_phase: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Render the wavetable oscillator.

        Args:
            f0_hz: ``[B, F, 1]`` playback frequency in Hz, ``>= 0`` (one table
                cycle per period).
            amplitude: ``[B, F, 1]`` linear gain applied to the table values.
            position: optional ``[B, F, 1]`` table crossfade in ``[0, 1]``
                (default 0: the first table).
            initial_phase: optional ``[B, 1]`` phase at sample 0 in radians
                (``2*pi`` is one table cycle).

        Returns:
            ``[B, F * hop_length]`` audio.
        """
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(amplitude, "amplitude", channels=1)
        check_same_frames(f0_hz=f0_hz, amplitude=amplitude)
        check_nonnegative(f0_hz, "f0_hz")
        if position is not None:
            check_controls(position, "position", channels=1)
            check_same_frames(f0_hz=f0_hz, position=position)
            if bool((position < 0).any()) or bool((position > 1).any()):
                raise ValueError(
                    f"position must lie in [0, 1], got values in [{float(position.min()):.6g}, {float(position.max()):.6g}]"
                )
        if initial_phase is not None:
            check_tensor(initial_phase, "initial_phase", ndim=2, last_dim=1)
            if initial_phase.shape[0] != f0_hz.shape[0]:
                raise ValueError(
                    f"initial_phase must be [batch, 1] with batch {f0_hz.shape[0]}, got shape {tuple(initial_phase.shape)}"
                )
        frequency = upsample_linear(f0_hz, self.hop_length)[..., 0]
        gain = upsample_linear(amplitude, self.hop_length)[..., 0]
        phase = accumulate_phase(frequency, self.sample_rate, initial_phase)

        mip = self.mipmap(f0_hz.dtype)
        n_tables, n_levels, table_size = mip.shape
        flat = mip.reshape(-1)

        # Position within a table: integer sample and interpolation fraction.
        # remainder guards against phase / 2pi rounding up to exactly 1.
        read = torch.remainder(phase * (table_size / TWO_PI), float(table_size))
        index0 = torch.clamp(torch.floor(read.detach()).long(), max=table_size - 1)
        index1 = torch.remainder(index0 + 1, table_size)
        frac = read - index0.to(read.dtype)

        level = mip_level_coordinate(frequency, self.sample_rate, self.harmonic_limits)
        level0 = torch.clamp(torch.floor(level.detach()).long(), max=n_levels - 1)
        level1 = torch.clamp(level0 + 1, max=n_levels - 1)
        level_frac = level - level0.to(level.dtype)

        if n_tables > 1 and position is not None:
            table_coordinate = upsample_linear(position, self.hop_length)[..., 0] * (n_tables - 1)
            table0 = torch.clamp(torch.floor(table_coordinate.detach()).long(), max=n_tables - 2)
            table_frac = table_coordinate - table0.to(table_coordinate.dtype)
            tables = ((table0, 1.0 - table_frac), (table0 + 1, table_frac))
        else:
            tables = ((torch.zeros_like(index0), None),)

        def read_level(table: torch.Tensor, lvl: torch.Tensor) -> torch.Tensor:
            base = (table * n_levels + lvl) * table_size
            a = flat[base + index0]
            b = flat[base + index1]
            return a + (b - a) * frac

        out = None
        for table, weight in tables:
            low = read_level(table, level0)
            high = read_level(table, level1)
            value = low + (high - low) * level_frac
            if weight is not None:
                value = value * weight
            out = value if out is None else out + value
        return gain * out
