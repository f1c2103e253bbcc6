"""The roster: who is on call at an instant, hand-overs in Europe/Amsterdam across both DST changes,
overrides and absences, iCalendar rotations, and validation that names the file, the path and the fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from notifications import roster as rosters
from notifications.roster import RosterError, local_instant, parse_duration
from tests.pager_fixtures import NUMBERS, ROSTER

AMS = ZoneInfo("Europe/Amsterdam")


def load(text: str | None = None, base: Path | None = None) -> rosters.Roster:
    return rosters.parse(
        yaml.safe_load(text or ROSTER.format(**NUMBERS)), source="roster.yaml", base_dir=base
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_the_issue_example_roster_is_accepted_as_written() -> None:
    example = """
timezone: Europe/Amsterdam
people:
  - {id: jansen, name: "Dr. A. Jansen", phone: "+31600000001", email: a.jansen@ggd.example}
  - {id: pietersen, name: "Dr. B. Pietersen", phone: "+31600000002"}
roles:
  forensic:
    rotation: {handover: "08:00", length_days: 7, start: "2026-11-30", members: [jansen]}
    backup: [pietersen]
    escalation:
      - {notify: on_call, channels: [sms, email], wait: 5m, repeat: 1}
      - {notify: backup, channels: [sms], wait: 5m}
"""
    data = yaml.safe_load(example)
    for role in ("veilig_thuis", "police", "csg", "coordinator"):  # every party needs an entry
        data["roles"][role] = data["roles"]["forensic"]
    roster = rosters.parse(data, source="r.yaml")
    assert roster.on_call("forensic", utc("2026-12-01T12:00:00+01:00")) == ["jansen"]
    assert roster.role("forensic").escalation[0].wait == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("2026-03-29T07:59:59+02:00", "2026-03-29T08:00:00+02:00"),  # last Sunday of March: CEST from 02:00
        ("2026-10-25T07:59:59+01:00", "2026-10-25T08:00:00+01:00"),  # last Sunday of October: CET from 03:00
    ],
)
def test_the_daily_hand_over_is_at_eight_local_time_on_both_dst_sundays(before: str, after: str) -> None:
    roster = load()
    first, second = roster.on_call("forensic", utc(before)), roster.on_call("forensic", utc(after))
    assert first != second and {first[0], second[0]} == {"jansen", "pietersen"}


def test_a_hand_over_in_the_spring_gap_is_at_three_and_in_the_autumn_repeat_at_the_first_two_thirty() -> None:
    from datetime import date, time

    spring = local_instant(date(2026, 3, 29), time(2, 30), AMS)
    assert spring == utc("2026-03-29T03:00:00+02:00")
    autumn = local_instant(date(2026, 10, 25), time(2, 30), AMS)
    assert autumn == utc("2026-10-25T02:30:00+02:00")  # the first 02:30 (still CEST)
    text = ROSTER.format(**NUMBERS).replace(
        'handover: "08:00", length_days: 1', 'handover: "02:30", length_days: 1'
    )
    roster = load(text)
    assert roster.on_call("forensic", utc("2026-03-29T02:59:59+02:00")) != roster.on_call(
        "forensic", utc("2026-03-29T03:00:00+02:00")
    )
    assert roster.on_call("forensic", utc("2026-10-25T02:29:59+02:00")) != roster.on_call(
        "forensic", utc("2026-10-25T02:30:00+02:00")
    )
    # …and the second 02:30 (CET) is the same shift as the first.
    assert roster.on_call("forensic", utc("2026-10-25T02:30:00+02:00")) == roster.on_call(
        "forensic", utc("2026-10-25T02:30:00+01:00")
    )


def test_an_override_in_force_wins_and_an_absent_member_is_skipped() -> None:
    text = ROSTER.format(**NUMBERS) + (
        "overrides:\n  - {role: forensic, person: bakker, start: 2026-12-24T18:00, end: 2026-12-25T08:00}\n"
        "absences:\n  - {person: jansen, start: 2026-12-01T00:00, end: 2026-12-31T00:00}\n"
    )
    roster = load(text)
    assert roster.on_call("forensic", utc("2026-12-24T20:00:00+01:00")) == ["bakker"]
    assert roster.on_call("forensic", utc("2026-12-25T08:00:00+01:00")) == ["pietersen"]
    # jansen is away all month: each of his days goes to the next member of the rotation
    days = {roster.on_call("forensic", utc(f"2026-12-{d:02d}T12:00:00+01:00"))[0] for d in range(2, 20)}
    assert days == {"pietersen"}


def test_a_calendar_rotation_with_weekly_recurrence_names_who_is_on_call(tmp_path: Path) -> None:
    (tmp_path / "forensic.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:a@test\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=Europe/Amsterdam:20260302T080000\r\nDTEND;TZID=Europe/Amsterdam:20260309T080000\r\n"
        "RRULE:FREQ=WEEKLY;INTERVAL=2\r\nSUMMARY:jansen\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:b@test\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=Europe/Amsterdam:20260309T080000\r\nDTEND;TZID=Europe/Amsterdam:20260316T080000\r\n"
        "RRULE:FREQ=WEEKLY;INTERVAL=2\r\nSUMMARY:Dienst\r\nATTENDEE:mailto:PIETERSEN@ggd.test\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    text = ROSTER.format(**NUMBERS).replace(
        'rotation: {handover: "08:00", length_days: 1, start: "2026-03-01", members: [jansen, pietersen]}',
        "rotation: {calendar: forensic.ics}",
    )
    roster = load(text, base=tmp_path)
    # Across the March DST change, the hand-over stays at 08:00 local time.
    assert roster.on_call("forensic", utc("2026-03-30T07:59:00+02:00")) == ["pietersen"]  # by ATTENDEE
    assert roster.on_call("forensic", utc("2026-03-30T08:00:00+02:00")) == ["jansen"]  # by SUMMARY


def test_every_problem_is_named_with_file_path_and_what_is_wrong() -> None:
    text = ROSTER.format(**NUMBERS)
    data = yaml.safe_load(text)
    del data["roles"]["police"]
    data["roles"]["forensic"]["backup"] = ["nobody"]
    data["people"][2].pop("phone")  # bakker: backup, paged by sms only
    data["roles"]["forensic"]["escalation"][1]["notify"] = "backup"
    with pytest.raises(RosterError) as caught:
        rosters.parse(data, source="roster.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert (
        "roster.yaml: roles.police: missing: every party and the coordinator need a roster entry" in messages
    )
    assert "roster.yaml: roles.forensic.backup[0]: 'nobody' is not one of the people" in messages
    data["roles"]["forensic"]["backup"] = ["bakker"]
    data["roles"]["police"] = data["roles"]["csg"]
    with pytest.raises(RosterError) as caught:
        rosters.parse(data, source="roster.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "roster.yaml: roles.forensic.escalation[1]: 'bakker' can be notified here but has no address for sms"
    ]
    data["roles"]["forensic"]["escalation"][0]["wait"] = "5 minutes"
    with pytest.raises(RosterError) as caught:
        rosters.parse(data, source="roster.yaml")
    assert str(caught.value.problems[0]).startswith(
        "roster.yaml: roles.forensic.escalation[0].wait: '5 minutes'"
    )


def test_durations_are_written_as_seconds_minutes_hours() -> None:
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("5x")


def test_oncall_command_shows_the_on_call_people_and_check_fails_with_named_problems(tmp_path: Path) -> None:
    from gateway.cli import app

    good = tmp_path / "roster.yaml"
    good.write_text(ROSTER.format(**NUMBERS))
    env = {
        "SPOEDPLEIN_ROSTER_FILE": str(good),
        "SPOEDPLEIN_SMS_URL": "http://127.0.0.1:9",
        "SPOEDPLEIN_SMS_TOKEN": "t",
        "SPOEDPLEIN_SMTP_URL": "smtp://u:p@localhost:587",
        "SPOEDPLEIN_DATA_DIR": str(tmp_path),
    }
    runner = CliRunner()
    result = runner.invoke(app, ["oncall", "--at", "2026-03-29T08:00", "--role", "forensic"], env=env)
    assert result.exit_code == 0, result.output
    assert "on call at 2026-03-29T08:00+02:00" in result.output and "forensic:" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        ROSTER.format(**NUMBERS).replace("channels: [sms, email], wait: 5m}", "channels: [pager], wait: 5m}")
    )
    result = runner.invoke(app, ["oncall", "--check"], env={**env, "SPOEDPLEIN_ROSTER_FILE": str(bad)})
    assert result.exit_code == 2
    missing = runner.invoke(app, ["oncall", "--check"], env={**env, "SPOEDPLEIN_SMS_URL": ""})
    assert missing.exit_code == 2
