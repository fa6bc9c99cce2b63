"""The ``ddsp-lab`` command: argument parsing only; the work lives in ``workflows``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _demo(args: argparse.Namespace) -> int:
    from .workflows.demo import run_demo

    written = run_demo(args.out, sample_rate=args.sample_rate, seconds=args.seconds)
    print(f"Wrote {len(written)} files to {args.out}:")
    for path in written:
        print(f"  {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ddsp-lab`` (one sub-command per workflow)."""
    parser = argparse.ArgumentParser(prog="ddsp-lab", description="Differentiable DSP synthesis toolkit.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser("demo", help="render a showcase of the unit generators to WAV and PNG")
    demo.add_argument("--out", default="demo_output", help="output folder (default: %(default)s)")
    demo.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    demo.add_argument("--seconds", type=float, default=2.0, help="length of each sound (default: %(default)s)")
    demo.set_defaults(handler=_demo)
    return parser


def _version() -> str:
    from . import __version__

    return f"ddsp-lab {__version__}"


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``ddsp-lab`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"ddsp-lab {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
