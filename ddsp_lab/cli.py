"""The ``ddsp-lab`` command: argument parsing only; the work lives in ``workflows``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


MODEL_HELP = "a run folder (its newest checkpoint), a checkpoint .pt, or a bundled model: violin"


def _demo(args: argparse.Namespace) -> int:
    from .workflows.demo import run_demo

    written = run_demo(args.out, sample_rate=args.sample_rate, seconds=args.seconds,
                       transfer_melody=not args.no_transfer, crepe_model=args.crepe_model)
    print(f"Wrote {len(written)} files to {args.out}:")
    for path in written:
        print(f"  {path}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from .data import prepare_dataset

    try:
        report = prepare_dataset(
            args.audio_dir, args.dataset_dir, sample_rate=args.sample_rate, hop_length=args.hop_length,
            example_seconds=args.example_seconds, hop_seconds=args.hop_seconds,
            validation_fraction=args.validation_fraction, validation_files=args.validation_files,
            seed=args.seed, crepe_model=args.crepe_model, device=args.device, min_rms_db=args.min_rms_db,
            normalize=args.normalize, mfcc_coefficients=None if args.mfcc == 0 else args.mfcc,
            overwrite=args.overwrite, progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        print(
            f"ddsp-lab prepare: interrupted; finished recordings are cached in {args.dataset_dir}, "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    print(report.format_table())
    print(f"Manifest: {report.manifest_path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .models import Config
    from .workflows.train import train

    # No --config/--model/--size: None, so a resumed run keeps its own settings.
    config = Config.load(args.config) if args.config else None
    if args.model or args.size:
        config = config if config is not None else Config()
        config.model.synth = args.model or config.model.synth
        config.model.size = args.size or config.model.size
    result = train(args.dataset_dir, args.out, config=config, device=args.device, max_steps=args.steps,
                   progress=not args.no_progress)
    if result.interrupted:
        print(f"Stopped at step {result.step}; checkpoint {result.checkpoint}. Run the same command to resume.")
        return 130
    print(f"Trained to step {result.step} in {result.run_dir} (checkpoint {result.checkpoint})")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .workflows.evaluate import evaluate

    report = evaluate(args.run_dir, args.data, split=args.split, crepe_model=args.crepe_model,
                      device=args.device, progress=not args.no_progress, out_dir=args.out,
                      max_examples=args.max_examples)
    print(report.format_table(), end="")
    print(f"Wrote {report.json_path} and {report.markdown_path}")
    return 0


def _shift(kind):
    """argparse type: 'auto' or a number of the given kind."""
    def parse(text: str):
        if text == "auto":
            return text
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected 'auto' or {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
    return parse


def _transfer(args: argparse.Namespace) -> int:
    import os

    from .workflows.transfer import transfer

    # Either "transfer MODEL INPUT" or "transfer --model MODEL INPUT".
    paths = [path for path in (args.model, args.input) if path is not None]
    if args.model_option is not None:
        paths.insert(0, args.model_option)
    if len(paths) != 2:
        raise ValueError("give the model and the input: ddsp-lab transfer MODEL INPUT (or --model MODEL INPUT)")
    model, melody = paths
    out = args.out or f"{os.path.splitext(os.path.basename(melody))[0]}_{os.path.basename(os.path.normpath(model))}.wav"
    result = transfer(model, melody, out_path=out, octave_shift=args.octave_shift,
                      loudness_shift_db=args.loudness_shift, mask_unvoiced=not args.no_mask,
                      confidence_threshold=args.confidence, crepe_model=args.crepe_model,
                      block_seconds=args.block_seconds, device=args.device, plot_path=args.plot,
                      progress=not args.no_progress, reference_f0_hz=args.reference_hz,
                      bridge_gaps_s=args.bridge_gaps)
    print(f"octave shift {result.octave_shift:+d} (reference {result.reference_f0_hz:.1f} Hz, "
          f"{result.reference_source}), loudness shift {result.loudness_shift_db:+.1f} dB, "
          f"{int(result.voiced.sum())}/{result.voiced.shape[-1]} voiced frames")
    duration = result.audio.shape[-1] / result.sample_rate
    timing = ", ".join(f"{stage} {value:.2f} s" for stage, value in result.seconds.items())
    print(f"{duration:.1f} s of audio; {timing}")
    print(f"Wrote {result.out_path}" + (f" and {result.plot_path}" if result.plot_path else ""))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .workflows.compare import compare, parse_budget

    if (args.budget is None) == (args.steps is None):
        raise ValueError("give either --budget (e.g. 20m) or --steps")
    report = compare(args.dataset_dir, args.out, models=args.models.split(","), size=args.size,
                     budget_seconds=parse_budget(args.budget) if args.budget is not None else None,
                     steps=args.steps, eval_examples=args.eval_examples, crepe_model=args.crepe_model,
                     device=args.device, progress=not args.no_progress)
    print(report.format_table(), end="")
    print(f"Wrote {report.table_path}, {report.json_path}" + (f" and {report.plot_path}" if report.plot_path else ""))
    return 0


def _fit_fm(args: argparse.Namespace) -> int:
    from .workflows.fit_fm import fit_fm

    written = fit_fm(args.target, args.out, note=args.note, algorithm=args.algorithm, quick=args.quick,
                     crepe_model=args.crepe_model, progress=not args.no_progress)
    metrics = written.result.metrics
    line = f"spectral distance {metrics['spectral_distance']:.3f}"
    if "preset_spectral_distance" in metrics:
        line += f" (nearest preset {written.result.preset_name}: {metrics['preset_spectral_distance']:.3f})"
    print(f"{line}; {written.result.seconds:.0f} s")
    print(f"Wrote {', '.join(sorted(written.files.values()))}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .workflows.export import export_streaming

    path, metadata = export_streaming(args.model, args.out)
    print(f"Wrote {path}: {metadata['sample_rate']} Hz, {metadata['hop_length']} samples per frame, "
          f"latency {metadata['latency_samples']} samples")
    return 0


def _render(args: argparse.Namespace) -> int:
    from .workflows.dx7_render import render_syx

    voice = int(args.voice) if args.voice.isdigit() else args.voice
    path = render_syx(
        args.bank, voice, note=args.note, velocity=args.velocity, gate_s=args.gate,
        duration_s=args.duration, sample_rate=args.sample_rate, out_path=args.output,
    )
    print(f"Wrote {path}")
    return 0


def _syx_list(args: argparse.Namespace) -> int:
    from .workflows.dx7_render import list_syx

    for line in list_syx(args.bank):
        print(line)
    return 0


def _graph_render(args: argparse.Namespace) -> int:
    from .workflows.graph_render import render_preset

    path = render_preset(
        args.preset, note=args.note, velocity=args.velocity, duration_s=args.duration,
        gate_s=args.gate, sample_rate=args.sample_rate, out_path=args.output,
    )
    print(f"Wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ddsp-lab`` (one sub-command per workflow)."""
    parser = argparse.ArgumentParser(prog="ddsp-lab", description="Differentiable DSP synthesis toolkit.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser("demo", help="render a showcase of the unit generators and a timbre transfer to WAV and PNG")
    demo.add_argument("--out", default="demo_output", help="output folder (default: %(default)s)")
    demo.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    demo.add_argument("--seconds", type=float, default=2.0, help="length of each sound (default: %(default)s)")
    demo.add_argument("--no-transfer", action="store_true",
                      help="skip the timbre transfer of the bundled trumpet melody to the bundled violin")
    demo.add_argument("--crepe-model", choices=("full", "tiny"), default="tiny",
                      help="CREPE model for the melody's pitch (default: %(default)s, seconds on a CPU)")
    demo.set_defaults(handler=_demo)

    prepare = commands.add_parser(
        "prepare",
        help="turn a folder of recordings into a training dataset (f0, loudness, examples, splits)",
        description="Scan AUDIO_DIR recursively, resample every readable recording, compute CREPE f0 with "
        "confidence, loudness and MFCCs once per recording, cut training examples and split by recording "
        "into DATASET_DIR. Rerunning resumes: finished recordings are not analysed again.",
    )
    prepare.add_argument("audio_dir", help="folder of recordings (any format and sample rate libsndfile reads)")
    prepare.add_argument("dataset_dir", help="output folder (created; dataset.json and files/)")
    prepare.add_argument("--sample-rate", type=int, default=16000, help="the model's rate in Hz (default: %(default)s)")
    prepare.add_argument("--hop-length", type=int, default=64, help="samples between frames (default: %(default)s)")
    prepare.add_argument("--example-seconds", type=float, default=4.0,
                         help="length of one example in seconds (default: %(default)s)")
    prepare.add_argument("--hop-seconds", type=float, default=None,
                         help="seconds between example starts; less than --example-seconds overlaps "
                              "(default: the example length, no overlap)")
    prepare.add_argument("--validation-fraction", type=float, default=0.1,
                         help="share of recordings held out for validation, 0 to <1 (default: %(default)s)")
    prepare.add_argument("--validation-files", action="append", default=None, metavar="PATTERN",
                         help="glob matched against relative paths, names and stems, e.g. '*bwv1002_mov8*'; "
                              "repeat for several; replaces --validation-fraction")
    prepare.add_argument("--seed", type=int, default=0, help="seed of the validation pick (default: %(default)s)")
    prepare.add_argument("--crepe-model", choices=("full", "tiny"), default="full",
                         help="CREPE capacity; tiny is about 20 times cheaper (default: %(default)s)")
    prepare.add_argument("--device", default=None,
                         help="where CREPE runs, e.g. cpu or cuda (default: cuda if available)")
    prepare.add_argument("--min-rms-db", type=float, default=-60.0,
                         help="silence threshold in dBFS RMS for recordings and examples (default: %(default)s)")
    prepare.add_argument("--normalize", action="store_true", help="peak-normalise every recording to 0 dBFS")
    prepare.add_argument("--mfcc", type=int, default=30, metavar="N",
                         help="MFCCs per frame to cache, 0 for none (default: %(default)s)")
    prepare.add_argument("--overwrite", action="store_true",
                         help="replace data prepared in DATASET_DIR with other feature settings")
    prepare.add_argument("--no-progress", action="store_true", help="no progress bar")
    prepare.set_defaults(handler=_prepare)

    train_cmd = commands.add_parser("train", help="train a DDSP, FM or graph voice on a prepared dataset")
    train_cmd.add_argument("dataset_dir", metavar="DATASET_DIR", help="a folder written by ddsp-lab prepare")
    train_cmd.add_argument("--out", required=True, metavar="RUN_DIR",
                           help="run folder: checkpoints, logs, validation audio; a run there is resumed")
    train_cmd.add_argument("--config", metavar="FILE",
                           help="JSON settings (docs/training.md); default: the defaults, or the run's own when resuming")
    train_cmd.add_argument("--model", choices=["ddsp", "fm", "wavenet", "samplernn"],
                           help="voice, or a neural baseline (default: the config's, ddsp)")
    train_cmd.add_argument("--size", choices=["tiny", "small", "full"], help="model size (default: the config's, small)")
    train_cmd.add_argument("--steps", type=int, metavar="N", help="train until N steps in all (default: training.steps)")
    train_cmd.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available, else CPU)")
    train_cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    train_cmd.set_defaults(handler=_train)

    eval_cmd = commands.add_parser("eval", help="resynthesis metrics of a trained voice on a prepared dataset")
    eval_cmd.add_argument("run_dir", metavar="RUN_DIR", help=MODEL_HELP)
    eval_cmd.add_argument("--data", required=True, metavar="DATASET_DIR", help="a folder written by ddsp-lab prepare")
    eval_cmd.add_argument("--split", choices=("validation", "train"), default="validation",
                          help="examples to resynthesise (default: %(default)s)")
    eval_cmd.add_argument("--crepe-model", choices=("full", "tiny"), default="full",
                          help="CREPE model that tracks the output's f0; tiny is much cheaper "
                               "(default: %(default)s, as in the DDSP paper)")
    eval_cmd.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available, else CPU)")
    eval_cmd.add_argument("--out", metavar="DIR", help="folder for eval.json and eval.md (default: RUN_DIR)")
    eval_cmd.add_argument("--max-examples", type=int, metavar="N",
                          help="score N examples evenly spaced over the split (default: all)")
    eval_cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    eval_cmd.set_defaults(handler=_eval)

    transfer_cmd = commands.add_parser("transfer", help="play the melody of a recording with a trained voice")
    transfer_cmd.add_argument("model", metavar="MODEL", nargs="?", help=MODEL_HELP)
    transfer_cmd.add_argument("input", metavar="INPUT", nargs="?",
                              help="audio file with the melody (any length, rate, channels)")
    transfer_cmd.add_argument("--model", dest="model_option", metavar="MODEL",
                              help="the model, as an option instead of the first argument")
    transfer_cmd.add_argument("-o", "--out", metavar="OUT",
                              help="output .wav or .flac (default: INPUT's name and the model's, as .wav, here)")
    transfer_cmd.add_argument("--octave-shift", type=_shift(int), default="auto", metavar="auto|N",
                              help="octaves to shift the pitch by, -8..8, or auto: towards the voice's "
                                   "reference pitch (default: %(default)s)")
    transfer_cmd.add_argument("--loudness-shift", type=_shift(float), default="auto", metavar="auto|DB",
                              help="dB added to the loudness, or auto: match the training data's mean "
                                   "loudness on voiced frames (default: %(default)s)")
    transfer_cmd.add_argument("--reference-hz", type=float, metavar="HZ",
                              help="pitch the automatic octave shift aims at (default: recorded in the "
                                   "checkpoint, else middle C)")
    transfer_cmd.add_argument("--no-mask", action="store_true",
                              help="keep the frames where CREPE is unsure (default: silence them)")
    transfer_cmd.add_argument("--bridge-gaps", type=float, default=0.05, metavar="S",
                              help="unvoiced runs up to S seconds between voiced frames count as voiced, "
                                   "f0 interpolated; 0 to keep CREPE's decision (default: %(default)s)")
    transfer_cmd.add_argument("--confidence", type=float, default=0.85, metavar="C",
                              help="CREPE confidence 0..1 from which a frame is voiced (default: %(default)s)")
    transfer_cmd.add_argument("--crepe-model", choices=("full", "tiny"), default="full",
                              help="CREPE model for the input's pitch; tiny is much cheaper (default: %(default)s)")
    transfer_cmd.add_argument("--block-seconds", type=float, default=30.0, metavar="S",
                              help="longest input rendered in one pass; longer ones are rendered in blocks "
                                   "(default: %(default)s)")
    transfer_cmd.add_argument("--plot", metavar="PNG", help="write a PNG comparing input and output")
    transfer_cmd.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available, else CPU)")
    transfer_cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    transfer_cmd.set_defaults(handler=_transfer)

    compare_cmd = commands.add_parser(
        "compare", help="train the DDSP voice and the neural baselines for the same budget and compare them")
    compare_cmd.add_argument("dataset_dir", metavar="DATASET_DIR", help="a folder written by ddsp-lab prepare")
    compare_cmd.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    compare_cmd.add_argument("--budget", metavar="TIME", help="training time per model, e.g. 20m, 90s, 1.5h")
    compare_cmd.add_argument("--steps", type=int, metavar="N", help="training steps per model instead of a time")
    compare_cmd.add_argument("--models", default="ddsp,wavenet,samplernn",
                             help="comma-separated from ddsp, fm, wavenet, samplernn (default: %(default)s)")
    compare_cmd.add_argument("--size", choices=("tiny", "small"), default="tiny",
                             help="size preset of every model (default: %(default)s)")
    compare_cmd.add_argument("--eval-examples", type=int, default=4, metavar="N",
                             help="validation examples scored per model (default: %(default)s)")
    compare_cmd.add_argument("--crepe-model", choices=("full", "tiny"), default="tiny",
                             help="CREPE model tracking the outputs' pitch (default: %(default)s)")
    compare_cmd.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available, else CPU)")
    compare_cmd.add_argument("--no-progress", action="store_true", help="no progress bars")
    compare_cmd.set_defaults(handler=_compare)

    fit_cmd = commands.add_parser("fit-fm", help="fit a DX7 patch to a recorded note and write it as .syx")
    fit_cmd.add_argument("target", metavar="TARGET", help="one note, any format and sample rate")
    fit_cmd.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    fit_cmd.add_argument("--note", type=int, metavar="N", help="MIDI note of the target (default: detected)")
    fit_cmd.add_argument("--algorithm", type=int, metavar="A", help="fit this DX7 algorithm only, 1..32")
    fit_cmd.add_argument("--quick", action="store_true", help="about a minute instead of up to four")
    fit_cmd.add_argument("--crepe-model", choices=("full", "tiny"), default="tiny",
                         help="CREPE model detecting the pitch (default: %(default)s)")
    fit_cmd.add_argument("--no-progress", action="store_true", help="no progress lines")
    fit_cmd.set_defaults(handler=_fit_fm)

    export_cmd = commands.add_parser("export", help="write a trained DDSP voice as TorchScript for block streaming")
    export_cmd.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    export_cmd.add_argument("-o", "--out", required=True, metavar="OUT", help="the TorchScript file, e.g. voice.ts")
    export_cmd.set_defaults(handler=_export)

    render = commands.add_parser("render", help="render one voice of a DX7 .syx bank or voice file to WAV")
    render.add_argument("bank", help="a .syx file: 32-voice bank (4104 bytes) or single voice (163 bytes)")
    render.add_argument("--voice", default="1", help="1-based voice number or voice name (default: %(default)s)")
    render.add_argument("--note", type=int, default=60, help="MIDI note 0-127 (default: %(default)s)")
    render.add_argument("--velocity", type=int, default=100, help="MIDI velocity 1-127 (default: %(default)s)")
    render.add_argument("--gate", type=float, default=1.0, help="seconds until note-off (default: %(default)s)")
    render.add_argument("--duration", type=float, default=2.0, help="seconds rendered (default: %(default)s)")
    render.add_argument("--sample-rate", type=int, default=44100, help="Hz (default: %(default)s)")
    render.add_argument("-o", "--output", default="out.wav", help="WAV or FLAC path (default: %(default)s)")
    render.set_defaults(handler=_render)

    syx = commands.add_parser("syx", help="inspect DX7 .syx files")
    syx_commands = syx.add_subparsers(dest="syx_command", metavar="SYX_COMMAND")
    syx_commands.required = True
    syx_list = syx_commands.add_parser("list", help="list the voices of a .syx file")
    syx_list.add_argument("bank", help="a .syx file")
    syx_list.set_defaults(handler=_syx_list)

    graph = commands.add_parser("graph", help="custom synth graphs")
    graph_commands = graph.add_subparsers(dest="graph_command", metavar="GRAPH_COMMAND")
    graph_commands.required = True
    graph_render = graph_commands.add_parser("render", help="play one note through a graph preset to WAV or FLAC")
    graph_render.add_argument("preset", help="a graph preset .json")
    graph_render.add_argument("--note", type=float, default=60, help="MIDI note (default: %(default)s)")
    graph_render.add_argument("--velocity", type=float, default=100, help="0-127 (default: %(default)s)")
    graph_render.add_argument("--gate", type=float, default=1.0, help="seconds until note-off (default: %(default)s)")
    graph_render.add_argument("--duration", type=float, default=2.0, help="seconds rendered (default: %(default)s)")
    graph_render.add_argument("--sample-rate", type=int, default=None, help="Hz (default: the preset's)")
    graph_render.add_argument("-o", "--output", default="out.wav", help="WAV or FLAC path (default: %(default)s)")
    graph_render.set_defaults(handler=_graph_render)
    return parser


def _version() -> str:
    from . import __version__

    return f"ddsp-lab {__version__}"


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``ddsp-lab`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, FloatingPointError) as error:
        print(f"ddsp-lab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ddsp-lab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
