"""How many presentations per second `detect()` evaluates in one process, against baselines from the same run.

Presentations come from a synthetic ED shift at Dutch prevalence (mostly ordinary visits, as in real
life), from the labelled vignette set (mostly positives, the slow path), from the same shift with a
90-word triage note each (text matching is the cost that grows with length), and from the CDS Hooks
benchmark's prefetch (8 Conditions, 40 Observations: the synchronous path, whose p99 budget is
50 ms). Baselines, measured on the same presentations in the same run: a trivial pass that touches
what every rule needs (texts and age), and pydantic `model_copy()` of each presentation. Median of
five rounds each; the clock is `time.process_time` (CPU time of this process), so other processes on a
busy machine slow the figures less than wall time would. Target: ≥ 5,000 presentations/s.

    .venv/bin/python bench/detect.py [--visits 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detection.configuration import default_config
from detection.engine import detect
from detection.models import Note, Presentation
from tests.vignettes.generator import ed_shift, to_presentation, vignette_set


def median_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def trivial_pass(presentations: list[Presentation]) -> int:
    total = 0
    for p in presentations:
        total += len(p.texts()) + (p.age_at_arrival_days or 0)
    return total


def copies(presentations: list[Presentation]) -> None:
    for p in presentations:
        p.model_copy()


def detect_all(presentations: list[Presentation]) -> int:
    return sum(len(detect(p)) for p in presentations)


def report(name: str, presentations: list[Presentation]) -> None:
    n = len(presentations)
    detect_s = median_of(5, lambda: detect_all(presentations))
    trivial_s = median_of(5, lambda: trivial_pass(presentations))
    copy_s = median_of(5, lambda: copies(presentations))
    flagged = sum(1 for p in presentations if detect(p))
    print(f"{name}: {n} presentations, {flagged} with findings")
    print(f"  detect()          {n / detect_s:12,.0f} presentations/s  ({1e6 * detect_s / n:7.1f} µs each)")
    print(
        f"  trivial pass      {n / trivial_s:12,.0f} presentations/s  → detect {detect_s / trivial_s:6.1f}×"
    )
    print(f"  model_copy()      {n / copy_s:12,.0f} presentations/s  → detect {detect_s / copy_s:6.1f}×")
    print(f"  target 5,000/s: {'met' if n / detect_s >= 5000 else 'NOT met'}")


# A long, ordinary triage note (about 90 words), added to each shift presentation for the third run:
# real notes are longer than a chief complaint, and text matching is the cost that grows with length.
TRIAGE_NOTE = (
    "Patiënt meldt zich op de SEH met klachten sinds gisteravond. Anamnese: geen koorts, geen braken, "
    "eetlust wisselend. Medicatie: paracetamol zo nodig. Allergieën: geen bekend. Lichamelijk onderzoek: "
    "alert, goed aanspreekbaar, huid normaal van kleur, geen blauwe plekken, buik soepel, geen drukpijn. "
    "Vitale parameters stabiel, saturatie 98% zonder zuurstof. Triage ManchesterTriage geel. Beleid: "
    "laboratorium, urineonderzoek, herbeoordeling na uitslagen; patiënt en begeleider zijn geïnformeerd "
    "over de wachttijd. Follow-up via huisarts indien klachten aanhouden. Seen and discussed with the "
    "attending physician, plan agreed, no further concerns raised by the family at this time."
)


def with_note(p: Presentation) -> Presentation:
    return p.model_copy(update={"notes": [*p.notes, Note(text=TRIAGE_NOTE, source_field="OBX[1]-5")]})


def cds_prefetch_presentation() -> Presentation:
    """The CDS Hooks benchmark's prefetch (8 Conditions, 40 Observations) as the signals service maps it."""
    from adapters.fhir.cds.analysis import to_presentation as prefetch_to_presentation
    from adapters.fhir.cds.catalog import SERVICES
    from tests import cds_helpers

    service = next(s for s in SERVICES.values() if s.kind.value == "signals")
    data = cds_helpers.prefetch(n_conditions=8, n_observations=40)
    return prefetch_to_presentation(data, service, "Europe/Amsterdam")


def report_cds(presentation: Presentation, rounds: int = 2000) -> None:
    per_call = median_of(5, lambda: [detect(presentation) for _ in range(rounds)]) / rounds
    print("CDS Hooks prefetch (8 Conditions, 40 Observations), detect() alone:")
    print(f"  {1e6 * per_call:7.1f} µs per call (CPU); the hook's p99 budget is 50,000 µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=20_000)
    args = parser.parse_args()
    start = time.perf_counter()
    default_config()
    elapsed_ms = 1000 * (time.perf_counter() - start)
    print(f"configuration loaded and compiled in {elapsed_ms:.0f} ms (once per process)")
    report("ED shift at Dutch prevalence", [to_presentation(v) for v in ed_shift(args.visits, seed=7)])
    report("labelled vignette set", [to_presentation(v) for v in vignette_set()])
    shift = [with_note(to_presentation(v)) for v in ed_shift(args.visits // 4, seed=8)]
    report("ED shift with a 90-word triage note each", shift)
    report_cds(cds_prefetch_presentation())


if __name__ == "__main__":
    main()
