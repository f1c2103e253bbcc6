"""HL7 v2 date and time values (DT, TS, DTM) to Python dates and aware datetimes.

DTM is `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`; a value without an offset is local time in the
configured zone (Europe/Amsterdam by default). Partial dates are allowed: missing month or day become 1
(`2024` -> 2024-01-01, `202407` -> 2024-07-01). Anything else raises ValueError with a short reason
(never the value itself, which may be patient data).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

_DTM = re.compile(
    r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?",
)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_datetime(value: str, *, default_zone: str | tzinfo = "Europe/Amsterdam") -> datetime:
    """An aware datetime for a DTM/TS value (first component only); ValueError when malformed."""
    match = _DTM.fullmatch(value.strip())
    if match is None:
        raise ValueError("not an HL7 date/time (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ])")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if fraction is not None and second is None:
        raise ValueError("fractional seconds without seconds")
    if hour is not None and day is None:
        raise ValueError("time without a full date")
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    tz: tzinfo
    if offset:
        hours, minutes = int(offset[1:3]), int(offset[3:5])
        if hours > 14 or minutes > 59:
            raise ValueError("time zone offset out of range")
        delta = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-delta if offset[0] == "-" else delta)
    else:
        tz = zone(default_zone) if isinstance(default_zone, str) else default_zone
    return datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        micro,
        tzinfo=tz,
    )


def parse_date(value: str) -> date:
    """The calendar date written in a DT/TS/DTM value (time and offset ignored); ValueError if malformed."""
    return parse_datetime(value, default_zone=UTC).date()
