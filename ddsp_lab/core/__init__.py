"""Pure tensor functions: the functional layer under the unit generators.

Nothing here holds state or parameters; every function documents its shapes
and units. The unit generators in :mod:`ddsp_lab.units` are thin modules over
these.
"""

from .conversions import (
    amplitude_to_db,
    db_to_amplitude,
    exp_sigmoid,
    hz_to_midi,
    midi_to_hz,
    power_to_db,
    safe_log,
    unit_to_range,
)
from .convolution import fft_convolve, frequency_response_to_fir, time_varying_convolve, time_varying_fir
from .fm import carson_bandwidth_hz, dx7_feedback_amount, dx7_feedback_setting, fm_render, self_feedback_operator
from .iir import biquad_coefficients, linear_recurrence, state_variable_filter, time_varying_biquad
from .phase import accumulate_phase, frame_start_phases, wrap_phase
from .resample import resample, resampled_length
from .sinusoids import nyquist_gate, sinusoid_bank
from .spectral import frame_signal, overlap_add, stft, stft_adjoint
from .upsample import upsample_hann, upsample_linear
from .weighting import a_weighting_db, rfft_a_weighting_db, rfft_a_weighting_power

__all__ = [
    "amplitude_to_db", "db_to_amplitude", "exp_sigmoid", "hz_to_midi", "midi_to_hz", "power_to_db",
    "safe_log", "unit_to_range",
    "fft_convolve", "frequency_response_to_fir", "time_varying_convolve", "time_varying_fir",
    "carson_bandwidth_hz", "dx7_feedback_amount", "dx7_feedback_setting", "fm_render", "self_feedback_operator",
    "biquad_coefficients", "linear_recurrence", "state_variable_filter", "time_varying_biquad",
    "accumulate_phase", "frame_start_phases", "wrap_phase",
    "resample", "resampled_length",
    "nyquist_gate", "sinusoid_bank",
    "frame_signal", "overlap_add", "stft", "stft_adjoint",
    "upsample_hann", "upsample_linear",
    "a_weighting_db", "rfft_a_weighting_db", "rfft_a_weighting_power",
]
