"""Timbre transfer and streaming speed, as multiples of real time.

Three measurements, each against real time (the audio's own duration), the
only baseline that matters for a renderer:

* **transfer**: :func:`~ddsp_lab.workflows.transfer.transfer` on the bundled
  trumpet melody tiled to about 32 s, split into its stages: pitch tracking
  (CREPE), loudness, rendering (shifts, masking and the voice), in one pass
  and streamed in 1 s blocks with carried state.
* **pitch tracking**: CREPE tiny and full on the 5.3 s melody (full CREPE
  costs about 10 s per second of audio on a CPU, so it is not run on the
  long input).
* **streaming**: the exported TorchScript voice
  (:class:`~ddsp_lab.models.streaming.StreamingDDSPVoice`) called block by
  block with 64, 256 and 1024-sample blocks on one thread: seconds per
  block over the block's duration (the real-time factor, below 1 keeps up).

The voice is the bundled violin model when it is installed, else an
untrained tiny DDSP voice of the same architecture (speed does not depend on
the weights); the full-size DDSP architecture is measured for streaming too.

    python benchmarks/bench_transfer.py                 # writes benchmarks/results/transfer_cpu.json
    python benchmarks/bench_transfer.py --quick         # smoke test: short input, tiny CREPE only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ddsp_lab.features import compute_f0  # noqa: E402
from ddsp_lab.io import load_audio, write_text_atomic  # noqa: E402
from ddsp_lab.models import Config, build_model  # noqa: E402
from ddsp_lab.models.streaming import StreamingDDSPVoice  # noqa: E402
from ddsp_lab.pretrained import TRUMPET_MELODY, bundled_model_path  # noqa: E402
from ddsp_lab.workflows.train import load_trained_model  # noqa: E402
from ddsp_lab.workflows.transfer import transfer  # noqa: E402

RATE, HOP = 16000, 64
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "transfer_cpu.json")


def _voice(size: str):
    """The bundled violin voice (tiny) when installed, else an untrained voice of that size."""
    if size == "tiny":
        try:
            return load_trained_model(bundled_model_path("violin")), "bundled violin (tiny)"
        except FileNotFoundError:
            pass
    config = Config.preset("ddsp", size)
    config.model.sample_rate, config.model.hop_length = RATE, HOP
    torch.manual_seed(0)
    return build_model(config.model).eval(), f"untrained DDSP {size}"


def _melody(repeats: int):
    audio, rate = load_audio(TRUMPET_MELODY)
    return audio.repeat(1, repeats), rate


def bench_transfer(voice, repeats: int, rounds: int):
    audio, rate = _melody(repeats)
    seconds = audio.shape[-1] / rate
    rows = []
    for label, block in (("one pass", 3600.0), ("streamed, 1 s blocks", 1.0)):
        runs = [transfer(voice, audio, sample_rate=rate, crepe_model="tiny", device="cpu", progress=False,
                         block_seconds=block).seconds for _ in range(rounds)]
        render = min(run["render"] for run in runs)
        loudness = min(run["loudness"] for run in runs)
        rows.append({"mode": label, "audio_s": seconds, "render_s": render, "loudness_s": loudness,
                     "times_real_time_excluding_pitch": seconds / (render + loudness)})
    return rows


def bench_pitch(quick: bool):
    audio, rate = _melody(1)
    seconds = audio.shape[-1] / rate
    rows = []
    for model in ("tiny",) if quick else ("tiny", "full"):
        compute_f0(audio[:, : rate // 2], rate, hop_length=HOP, model=model, device="cpu")  # load the weights
        start = time.perf_counter()
        compute_f0(audio, rate, hop_length=HOP, model=model, device="cpu")
        elapsed = time.perf_counter() - start
        rows.append({"crepe": model, "audio_s": seconds, "seconds": elapsed,
                     "seconds_per_audio_second": elapsed / seconds})
    return rows


def bench_streaming(voice, label: str, blocks, calls: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.script(StreamingDDSPVoice(voice).eval())
    rows = []
    for block in blocks:
        frames = block // HOP
        f0 = torch.full((1, frames), 440.0)
        loudness = torch.full((1, frames), -30.0)
        state = module.initial_state(1)
        times = []
        with torch.no_grad():
            for _ in range(20):
                _, state = module(f0, loudness, state)
            for _ in range(calls):
                start = time.perf_counter()
                _, state = module(f0, loudness, state)
                times.append(time.perf_counter() - start)
        per_block = statistics.median(times)
        rows.append({"voice": label, "block_samples": block, "ms_per_block": 1e3 * per_block,
                     "real_time_factor": per_block / (block / RATE)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: short input, few calls, tiny CREPE")
    parser.add_argument("--out", default=RESULTS, help="JSON results (default: %(default)s)")
    args = parser.parse_args(argv)

    tiny, tiny_label = _voice("tiny")
    results = {"machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads"}
    results["transfer"] = bench_transfer(tiny, repeats=1 if args.quick else 6, rounds=1 if args.quick else 3)
    results["transfer_voice"] = tiny_label
    results["pitch"] = bench_pitch(args.quick)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    blocks = (256,) if args.quick else (64, 256, 1024)
    calls = 20 if args.quick else 400
    results["streaming"] = bench_streaming(tiny, tiny_label, blocks, calls)
    if not args.quick:
        full, full_label = _voice("full")
        results["streaming"] += bench_streaming(full, full_label, blocks, calls)
    torch.set_num_threads(threads)

    print(f"transfer ({tiny_label}, trumpet melody, {results['machine']}):")
    for row in results["transfer"]:
        print(f"  {row['mode']:<22} {row['audio_s']:.1f} s audio: render {row['render_s']:.3f} s + loudness "
              f"{row['loudness_s']:.3f} s = {row['times_real_time_excluding_pitch']:.0f}x real time (pitch excluded)")
    for row in results["pitch"]:
        print(f"  CREPE {row['crepe']:<5} {row['seconds']:.2f} s for {row['audio_s']:.1f} s audio = "
              f"{row['seconds_per_audio_second']:.2f} s per audio second")
    print("streaming, one thread:")
    for row in results["streaming"]:
        print(f"  {row['voice']:<28} {row['block_samples']:>5}-sample blocks: {row['ms_per_block']:.3f} ms per block, "
              f"real-time factor {row['real_time_factor']:.3f}")
    if not args.quick:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_text_atomic(args.out, json.dumps(results, indent=2) + "\n")
        print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
