"""The rule families, one module each, in the order their findings are reported."""

from __future__ import annotations

from collections.abc import Callable

from detection.configuration import DetectionConfig
from detection.facts import Facts
from detection.models import Finding
from detection.rules import aht, br, bu, code, cons, ea, fx, par, scr, si, strangulation

Evaluate = Callable[[Facts, DetectionConfig], list[Finding]]

FAMILIES: tuple[tuple[str, Evaluate], ...] = tuple(
    (module.FAMILY, module.evaluate)
    for module in (strangulation, aht, si, br, fx, bu, cons, scr, par, ea, code)
)
