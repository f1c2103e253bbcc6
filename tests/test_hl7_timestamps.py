"""HL7 DTM/TS/DT values: precision, offsets, default zone, partial dates, and precise refusals."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from adapters.hl7.timestamps import parse_date, parse_datetime

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("written", "moment"),
    [
        ("20261123143000+0100", datetime(2026, 11, 23, 14, 30, tzinfo=timezone(timedelta(hours=1)))),
        ("202611231430-0500", datetime(2026, 11, 23, 14, 30, tzinfo=timezone(timedelta(hours=-5)))),
        ("198808181126+0215", datetime(1988, 8, 18, 11, 26, tzinfo=timezone(timedelta(hours=2, minutes=15)))),
        ("20261123143000.25", datetime(2026, 11, 23, 14, 30, 0, 250000, tzinfo=AMS)),
        ("2026112314", datetime(2026, 11, 23, 14, tzinfo=AMS)),
        ("20261123", datetime(2026, 11, 23, tzinfo=AMS)),
        ("202607", datetime(2026, 7, 1, tzinfo=AMS)),
        ("2026", datetime(2026, 1, 1, tzinfo=AMS)),
    ],
)
def test_dtm_values_at_every_precision(written, moment):
    assert parse_datetime(written) == moment


def test_naive_summer_time_gets_the_amsterdam_summer_offset():
    assert parse_datetime("20260715120000").utcoffset() == timedelta(hours=2)
    assert parse_datetime("20260115120000").utcoffset() == timedelta(hours=1)


def test_default_zone_is_a_parameter():
    assert parse_datetime("20260715120000", default_zone="UTC").utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "written", ["2026-11-23", "20261323", "20260230", "2026112", "20261123.5", "202611231430+2500", "abc", ""]
)
def test_malformed_values_raise_value_error(written):
    with pytest.raises(ValueError):
        parse_datetime(written)


def test_birth_date_is_the_written_calendar_date_whatever_the_offset():
    assert parse_date("200001010030+1400") == date(2000, 1, 1)
    assert parse_date("20240715") == date(2024, 7, 15)
