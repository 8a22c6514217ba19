"""Helpers shared by the benchmarks: argument parsing and table printing."""

from __future__ import annotations

import argparse
import platform
import time

from lutnas.cli.output import table
from lutnas.devices.fingerprint import cpu_model


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# host: {cpu_model()} | {platform.platform()} | {time.strftime('%Y-%m-%d %H:%M:%S')}")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--protocol", default="default", help="quick, default or thorough")
    return p


__all__ = ["header", "parser", "table"]


def protocol_override(text: str) -> tuple[str, float]:
    """``KEY=VALUE`` of a protocol parameter, as an argparse ``type`` (bad input: one usage line)."""
    key, _, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not key.strip() or number is None:
        raise argparse.ArgumentTypeError(f"expected KEY=NUMBER, e.g. ci_rel=0.01; got {text!r}")
    return key.strip(), number
