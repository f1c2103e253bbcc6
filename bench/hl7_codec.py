"""HL7 codec benchmark: read_header, build_ack and parse+map per message, against hl7apy in the same run.

For each sample message it prints microseconds per message for
  read_header   (fast MSH reader: decode, split, checks)           target well under 50 us
  build_ack     (AA ACK bytes from the header)                     target <= 30 us
  parse+map     (read_header + parse + to_presentation)            target <= 500 us for a typical ADT
  hl7apy        (hl7apy.parser.parse_message of the same text: the baseline)
and the ratios hl7apy / ours. Timings are the best of 3 rounds of ~0.2 s each; single process.

    .venv/bin/python bench/hl7_codec.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hl7apy.parser import parse_message  # noqa: E402

from adapters.hl7.ack import build_ack  # noqa: E402
from adapters.hl7.msh import read_header  # noqa: E402
from adapters.hl7.to_presentation import to_presentation  # noqa: E402
from tests.hl7_samples import CORPUS_DIR, adt_a04_nl  # noqa: E402

ROUND_SECONDS = 0.2


def per_call_us(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        calls = 0
        start = time.perf_counter()
        deadline = start + ROUND_SECONDS
        while True:
            for _ in range(20):
                fn()
            calls += 20
            now = time.perf_counter()
            if now >= deadline:
                break
        best = min(best, (now - start) / calls * 1e6)
    return best


def parse_and_map(raw: bytes) -> object:
    return to_presentation(read_header(raw, default_charset="8859/1"))


def samples() -> list[tuple[str, bytes]]:
    return [
        ("NL ADT^A04 (typical, 8859/1)", adt_a04_nl().encode("latin-1")),
        ("ADT04-251 (small)", (CORPUS_DIR / "ADT04-251.hl7").read_bytes()),
        ("ADT-A01-01 (8.5 kB, 24 seg)", (CORPUS_DIR / "ADT-A01-01.hl7").read_bytes()),
        ("LAB-ORU-1 (ORU^R01)", (CORPUS_DIR / "LAB-ORU-1.hl7").read_bytes()),
    ]


def main() -> None:
    header_row = f"{'message':30} {'read_header':>12} {'build_ack':>10} {'parse+map':>10} {'hl7apy':>10}"
    print(header_row + f" {'hl7apy/read_header':>19} {'hl7apy/parse+map':>17}")
    for name, raw in samples():
        header = read_header(raw, default_charset="8859/1")
        read_us = per_call_us(partial(read_header, raw, default_charset="8859/1"))
        ack_us = per_call_us(partial(build_ack, header))
        map_us = per_call_us(partial(parse_and_map, raw))
        apy_us = per_call_us(partial(parse_message, header.text))
        print(
            f"{name:30} {read_us:10.1f}us {ack_us:8.1f}us {map_us:8.1f}us {apy_us:8.0f}us"
            f" {apy_us / read_us:18.0f}x {apy_us / map_us:16.1f}x"
        )


if __name__ == "__main__":
    main()
