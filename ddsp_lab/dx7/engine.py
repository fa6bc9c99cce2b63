"""DX7 voice rendering, matching Dexed's msfa engine ("modern" core).

Two stages:

1. **Control stage** (:func:`~ddsp_lab.dx7.controls.voice_controls`): once
   per 64-sample block, each operator's envelope level, its linear gain after
   amplitude modulation, keyboard scaling, velocity and output level, and its
   phase increment after detune, transpose, pitch EG and LFO pitch
   modulation. See :class:`~ddsp_lab.dx7.controls.VoiceControls`.
2. **Audio stage** (:func:`render_controls`): the six sine operators per
   sample, OP6 first, each modulator's output added to its targets' phase in
   the same sample; gains ramp linearly inside each block
   (``g_prev + (j + 1) * dg``); the feedback operator's phase is offset by the
   mean of its last two outputs times ``2**(feedback - 8)``; an operator whose
   gain is negligible at both ends of a block is skipped (its targets then get
   no modulation, as in the engine); the carriers are summed without
   normalisation and the sum is scaled by ``1/16`` (a full-scale carrier
   peaks at 0.125).

Both stages use the engine's integer arithmetic (Q24 log levels, Q24 phase
with its 1024-point interpolated sine table), so a render reproduces
Dexed's raw output (``v / 2**28`` before its 16-bit quantisation and DC
blocker) sample for sample; see ``docs/dx7_fidelity.md`` for the measured
agreement. Not modelled: the "Mark I" core (log-sine/exp ROM operators and the
multi-operator feedback loops of algorithms 4 and 6), Dexed's output
quantisation and DC blocker, pitch bend, mod wheel and other controllers,
portamento, polyphony.

Aliasing: operators are plain sines at the sample rate, as in the engine; an
operator or FM sideband above Nyquist folds back, as it does in Dexed.

The per-block and per-sample loops are compiled with numba (cached on disk
after the first call).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from .controls import VoiceControls, voice_controls
from .tables import BLOCK_SIZE, LEVEL_THRESHOLD, PHASE_MASK, sine_table
from .voice import Voice

OUTPUT_SCALE = 2.0 ** -28  # engine integer sum -> float (>> 4, then 2**24 = 1.0)


@numba.njit(cache=True)
def _render_blocks(gains, increments, flags, feedback_shift, sin_table, num_samples):
    """Integer sum of the carriers, int64 ``[num_samples]`` (operators OP1 first in ``gains``/``flags``)."""
    num_blocks = gains.shape[0]
    out = np.zeros(num_blocks * 64, np.int64)
    buses = np.zeros((3, 64), np.int64)
    has_contents = np.zeros(3, np.bool_)
    phase = np.zeros(6, np.int64)
    last_gain = np.zeros(6, np.int64)
    fb_older = 0
    fb_last = 0
    for b in range(num_blocks):
        has_contents[0] = True
        has_contents[1] = False
        has_contents[2] = False
        for i in range(64):
            buses[0, i] = 0
        for k in range(5, -1, -1):  # OP6 first: modulators before their targets
            flag = flags[k]
            add = (flag & 0x04) != 0
            in_bus = (flag >> 4) & 3
            out_bus = flag & 3
            gain1 = last_gain[k]
            gain2 = gains[b, k]
            last_gain[k] = gain2
            increment = increments[b, k]
            if gain1 >= LEVEL_THRESHOLD or gain2 >= LEVEL_THRESHOLD:
                if not has_contents[out_bus]:
                    add = False
                step = (gain2 - gain1 + 32) >> 6
                gain = gain1
                p = phase[k]
                if in_bus == 0 or not has_contents[in_bus]:
                    if (flag & 0xC0) == 0xC0 and feedback_shift < 16:
                        for i in range(64):
                            gain += step
                            offset = (fb_older + fb_last) >> (feedback_shift + 1)
                            fb_older = fb_last
                            x = p + offset
                            index = (x >> 13) & 2046
                            s = sin_table[index + 1] + ((sin_table[index] * (x & 0x3FFF)) >> 14)
                            fb_last = (s * gain) >> 24
                            if add:
                                buses[out_bus, i] += fb_last
                            else:
                                buses[out_bus, i] = fb_last
                            p += increment
                    else:
                        for i in range(64):
                            gain += step
                            index = (p >> 13) & 2046
                            s = sin_table[index + 1] + ((sin_table[index] * (p & 0x3FFF)) >> 14)
                            y = (s * gain) >> 24
                            if add:
                                buses[out_bus, i] += y
                            else:
                                buses[out_bus, i] = y
                            p += increment
                else:
                    for i in range(64):
                        gain += step
                        x = p + buses[in_bus, i]
                        index = (x >> 13) & 2046
                        s = sin_table[index + 1] + ((sin_table[index] * (x & 0x3FFF)) >> 14)
                        y = (s * gain) >> 24
                        if add:
                            buses[out_bus, i] += y
                        else:
                            buses[out_bus, i] = y
                        p += increment
                has_contents[out_bus] = True
            elif not add:
                has_contents[out_bus] = False
            phase[k] = (phase[k] + (increment << 6)) & PHASE_MASK
        start = b * 64
        for i in range(64):
            out[start + i] = buses[0, i]
    return out[:num_samples]


def render_controls(controls: VoiceControls) -> torch.Tensor:
    """Audio stage: render the six operators from per-block controls.

    Args:
        controls: from :func:`~ddsp_lab.dx7.controls.voice_controls`.

    Returns:
        float32 ``[1, num_samples]``; a full-scale carrier peaks at 0.125 and
        carriers add up without normalisation.
    """
    if not isinstance(controls, VoiceControls):
        raise TypeError(f"controls must be VoiceControls, got {type(controls).__name__}")
    flags = np.array(controls.algorithm.flags[::-1], dtype=np.int64)  # OP1 first
    total = _render_blocks(
        np.ascontiguousarray(controls.gain_q24, dtype=np.int64),
        np.ascontiguousarray(controls.phase_increment, dtype=np.int64),
        flags,
        controls.feedback_shift,
        sine_table(),
        controls.num_samples,
    )
    audio = (total.astype(np.float64) * OUTPUT_SCALE).astype(np.float32)
    return torch.from_numpy(audio)[None, :]


def render_voice(
    voice: Voice,
    note: int = 60,
    velocity: int = 100,
    gate_s: float = 1.0,
    duration_s: float = 2.0,
    sample_rate: int = 44100,
) -> torch.Tensor:
    """Render one note of a DX7 voice as Dexed's engine plays it.

    The note starts at sample 0 (fresh voice: phases, feedback history and LFO
    at zero) and the key goes up at the first 64-sample block starting at or
    after ``gate_s``. The output is the engine's raw mix scaled to float:
    a full-scale carrier peaks at 0.125, a voice with several loud carriers
    can reach about 0.75; nothing is normalised, clipped or DC-filtered.

    Args:
        voice: a :class:`~ddsp_lab.dx7.voice.Voice` (e.g. from
            :func:`~ddsp_lab.dx7.sysex.read_syx`).
        note: MIDI note 0..127 (60 = middle C); the voice's transpose is
            added.
        velocity: MIDI velocity 1..127.
        gate_s: seconds from note-on to note-off, >= 0; a gate at or beyond
            ``duration_s`` holds the key for the whole render.
        duration_s: seconds rendered, > 0.
        sample_rate: Hz, an integer in 8000..192000.

    Returns:
        float32 tensor ``[1, round(duration_s * sample_rate)]`` on the CPU.

    Raises:
        TypeError: ``voice`` is not a Voice, or an argument has the wrong type.
        ValueError: note, velocity, times or sample rate out of range, or a
            voice value no DX7 byte can hold.
    """
    return render_controls(voice_controls(voice, note, velocity, gate_s, duration_s, sample_rate))


__all__ = ["BLOCK_SIZE", "VoiceControls", "render_controls", "render_voice", "voice_controls"]
