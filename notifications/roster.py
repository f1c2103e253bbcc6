"""The on-call roster: people, roles, rotations (YAML or iCalendar), backups, team leads, escalation
policies, overrides and absences — loaded, validated, and asked "who is on call for this role at t?".

Times are computed in the roster's zone (Europe/Amsterdam): a hand-over at 08:00 is at 08:00 local time on
both sides of a DST change. A hand-over time that does not exist that day (02:30 on the last Sunday of
March) happens at the first instant after it (03:00); one that happens twice (02:30 on the last Sunday of
October) happens at the first of the two.

Every problem is reported with the file, the path inside it and what is wrong (`RosterError`), all at once,
so an integrator fixes the file in one go instead of one error per start. Person ids are the usernames of
the people's accounts (identity links a login to a roster person by it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from consent.models import Party

COORDINATOR = "coordinator"
# Every party a case can page, plus the coordinator who gets the alerts: each must have a roster entry.
REQUIRED_ROLES: tuple[str, ...] = (*(p.value for p in Party), COORDINATOR)
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_HANDOVER = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ChannelName(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    WEBHOOK = "webhook"
    FHIR = "fhir"


class Target(StrEnum):
    """Whom a step notifies within a role."""

    ON_CALL = "on_call"
    BACKUP = "backup"
    TEAM_LEAD = "team_lead"


class AckMode(StrEnum):
    ANY = "any"  # one person's acknowledgement answers the page
    ALL = "all"  # every role a step names must acknowledge (forensic doctor and kinder-forensisch)


def parse_duration(value: Any) -> timedelta:
    """`30s`, `5m`, `1h`, `1h30m`; a bare number is seconds. Raises ValueError naming the format."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    text = str(value).strip()
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (write 30s, 5m, 1h or 1h30m)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(Strict):
    id: str = Field(min_length=1, max_length=200, description="the username of the person's account")
    name: str = ""
    phone: str | None = None
    email: str | None = None
    webhook: str | None = Field(default=None, description="URL that receives Standard Webhooks")
    fhir: str | None = Field(default=None, description="Practitioner or PractitionerRole reference")

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = value.replace(" ", "").replace("-", "")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", cleaned):
            raise ValueError(f"{value!r} is not an international number (+31612345678)")
        return cleaned

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    def address(self, channel: ChannelName) -> str | None:
        return {
            ChannelName.SMS: self.phone,
            ChannelName.EMAIL: self.email,
            ChannelName.WEBHOOK: self.webhook,
            ChannelName.FHIR: self.fhir,
        }[channel]


class Rotation(Strict):
    handover: str = Field(default="08:00", description="HH:MM local time")
    length_days: int = Field(default=7, ge=1, le=366)
    start: date | None = None
    members: list[str] = Field(default_factory=list)
    calendar: str | None = Field(default=None, description="an .ics file instead of members (relative path)")

    @field_validator("handover")
    @classmethod
    def _handover(cls, value: str) -> str:
        if not _HANDOVER.match(value):
            raise ValueError(f"{value!r} is not a time of day (HH:MM, 00:00-23:59)")
        return value

    @property
    def handover_time(self) -> time:
        hours, minutes = self.handover.split(":")
        return time(int(hours), int(minutes))


class Step(Strict):
    notify: list[str] = Field(min_length=1, description="on_call, backup, team_lead or <role>.<which>")
    channels: list[ChannelName] = Field(min_length=1)
    wait: Duration = timedelta(minutes=5)
    repeat: int = Field(default=0, ge=0, le=20)

    @field_validator("notify", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("notify")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for item in value:
            which = item.rsplit(".", 1)[-1]
            if which not in {t.value for t in Target}:
                raise ValueError(f"{item!r}: notify on_call, backup, team_lead, or <role>.on_call etc.")
        return value


class Role(Strict):
    name: str = ""
    rotation: Rotation | None = None
    backup: list[str] = Field(default_factory=list)
    team_lead: str | None = None
    acknowledge: AckMode = AckMode.ANY
    escalation: list[Step] = Field(min_length=1)


class Override(Strict):
    role: str
    person: str
    start: datetime
    end: datetime
    reason: str = ""


class Absence(Strict):
    person: str
    start: datetime
    end: datetime
    reason: str = ""


class Defaults(Strict):
    arrival: Duration = Field(default=timedelta(minutes=30), description="'OK 4821' without a time")


class RosterDocument(Strict):
    """The YAML file as written (docs/paging.md): `timezone`, `people`, `roles`, `overrides`, `absences`."""

    timezone: str = "Europe/Amsterdam"
    people: list[Person]
    roles: dict[str, Role]
    overrides: list[Override] = Field(default_factory=list)
    absences: list[Absence] = Field(default_factory=list)
    defaults: Defaults = Field(default_factory=Defaults)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (Europe/Amsterdam)") from None
        return value


@dataclass(frozen=True)
class RosterProblem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class RosterError(Exception):
    """The roster cannot be used; `problems` names each one (file, path, what is wrong)."""

    def __init__(self, problems: Sequence[RosterProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class CalendarShift:
    start: datetime
    end: datetime
    people: tuple[str, ...]


@dataclass
class Roster:
    """A validated roster. `on_call`, `backup` and `team_lead` answer for a role at an instant."""

    document: RosterDocument
    source: str
    calendars: dict[str, list[CalendarShift]] = field(default_factory=dict)
    is_sample: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.document.timezone)

    @property
    def people(self) -> dict[str, Person]:
        return {p.id: p for p in self.document.people}

    def person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)

    def role(self, name: str) -> Role:
        return self.document.roles[name]

    def person_by_phone(self, number: str) -> Person | None:
        cleaned = number.replace(" ", "")
        if cleaned.startswith("00"):
            cleaned = "+" + cleaned[2:]
        return next((p for p in self.document.people if p.phone == cleaned), None)

    # --- who is on call -----------------------------------------------------------------------------

    def scheduled(self, role: str, at: datetime) -> list[str]:
        """Who the rotation or calendar puts on call (before overrides and absences)."""
        rotation = self.role(role).rotation
        if rotation is None:
            return []
        if rotation.calendar is not None:
            return [
                person
                for shift in self.calendars.get(role, [])
                if shift.start <= at < shift.end
                for person in shift.people
            ]
        if not rotation.members:
            return []
        index = shift_index(rotation, self.zone, at)
        count = len(rotation.members)
        # An absent member is skipped: the next member of the rotation who is there takes the shift.
        for step in range(count):
            person = rotation.members[(index + step) % count]
            if not self.absent(person, at):
                return [person]
        return []

    def on_call(
        self,
        role: str,
        at: datetime,
        *,
        overrides: Sequence[Override] = (),
        absences: Sequence[Absence] = (),
    ) -> list[str]:
        """Who is on call for `role` at `at`: an override in force wins; an absent person is skipped."""
        in_force = [
            o.person
            for o in (*self.document.overrides, *overrides)
            if o.role == role and o.start <= at < o.end and not self._absent(o.person, at, absences)
        ]
        if in_force:
            return list(dict.fromkeys(in_force))
        return [p for p in self.scheduled(role, at) if not self._absent(p, at, absences)]

    def backups(self, role: str, at: datetime, *, absences: Sequence[Absence] = ()) -> list[str]:
        return [p for p in self.role(role).backup if not self._absent(p, at, absences)]

    def team_lead(self, role: str, at: datetime, *, absences: Sequence[Absence] = ()) -> list[str]:
        lead = self.role(role).team_lead
        return [lead] if lead and not self._absent(lead, at, absences) else []

    def targets(
        self,
        role: str,
        target: str,
        at: datetime,
        *,
        overrides: Sequence[Override] = (),
        absences: Sequence[Absence] = (),
    ) -> tuple[str, list[str]]:
        """(role, people) a step's `notify` entry names: `on_call` of the page's role, or `x.on_call`."""
        target_role, _, which = target.rpartition(".")
        target_role = target_role or role
        if which == Target.ON_CALL:
            return target_role, self.on_call(target_role, at, overrides=overrides, absences=absences)
        if which == Target.BACKUP:
            return target_role, self.backups(target_role, at, absences=absences)
        return target_role, self.team_lead(target_role, at, absences=absences)

    def absent(self, person: str, at: datetime) -> bool:
        return self._absent(person, at, ())

    def _absent(self, person: str, at: datetime, extra: Sequence[Absence]) -> bool:
        return any(a.person == person and a.start <= at < a.end for a in (*self.document.absences, *extra))


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `zone`: a time skipped by DST becomes the first
    instant after it, a time that occurs twice becomes the first of the two."""
    first = datetime.combine(day, at, tzinfo=zone).replace(fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == first.replace(tzinfo=None):
        return utc
    # In a gap: fold=1 gives an instant before it, fold=0 one after it; find where the wall clock
    # first reaches `at` (the transition itself) to the second.
    low = first.replace(fold=1).astimezone(UTC)
    high = utc
    wall = first.replace(tzinfo=None)
    while (high - low) > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


def shift_start(rotation: Rotation, zone: ZoneInfo, index: int) -> datetime:
    start = rotation.start or date(2026, 1, 1)
    return local_instant(start + timedelta(days=index * rotation.length_days), rotation.handover_time, zone)


def shift_index(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int:
    """The rotation shift `at` falls in (negative before the rotation's start: the cycle runs backwards)."""
    first = shift_start(rotation, zone, 0)
    length = timedelta(days=rotation.length_days)
    index = int((at - first) // length)
    # Local days are 23 or 25 hours around DST: the estimate can be one off either way.
    while shift_start(rotation, zone, index) > at:
        index -= 1
    while shift_start(rotation, zone, index + 1) <= at:
        index += 1
    return index


# --- loading ------------------------------------------------------------------------------------------


def load_calendar(path: Path, people: dict[str, Person], zone: ZoneInfo) -> list[CalendarShift]:
    """Shifts from an .ics file, recurrences expanded (a year back, two ahead): who is named by each event.

    An event names its person by SUMMARY (the person id), by an `X-SPOEDPLEIN-PERSON` property, or by an
    ATTENDEE whose mailto: is a person's e-mail. An event that names nobody known is a problem."""
    import icalendar
    import recurring_ical_events

    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    now = datetime.now(UTC)
    by_email = {p.email.lower(): p.id for p in people.values() if p.email}
    shifts = []
    for event in recurring_ical_events.of(calendar).between(
        now - timedelta(days=366), now + timedelta(days=731)
    ):
        named: list[str] = []
        for key in ("X-SPOEDPLEIN-PERSON", "SUMMARY"):
            value = str(event.get(key, "")).strip()
            if value in people:
                named.append(value)
                break
        attendees = event.get("ATTENDEE", [])
        for attendee in attendees if isinstance(attendees, list) else [attendees]:
            email = str(attendee).lower().removeprefix("mailto:")
            if email in by_email:
                named.append(by_email[email])
        if not named:
            raise ValueError(f"event {str(event.get('SUMMARY', ''))!r} names no person of the roster")
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        shifts.append(
            CalendarShift(
                start=_aware(start, zone), end=_aware(end, zone), people=tuple(dict.fromkeys(named))
            )
        )
    return sorted(shifts, key=lambda s: s.start)


def _aware(value: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):  # an all-day event: from midnight local time
        return local_instant(value, time(0, 0), zone)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return value.astimezone(UTC)


def _with_zone(data: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Override and absence times written without an offset are local times in the roster's zone."""
    for key in ("overrides", "absences"):
        for item in data.get(key) or []:
            if not isinstance(item, dict):
                continue
            for end in ("start", "end"):
                value = item.get(end)
                if isinstance(value, datetime) and value.tzinfo is None:
                    item[end] = value.replace(tzinfo=zone)
                elif isinstance(value, str):
                    try:
                        parsed = datetime.fromisoformat(value)
                    except ValueError:
                        continue
                    item[end] = parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return data


def parse(data: Any, *, source: str, base_dir: Path | None = None, is_sample: bool = False) -> Roster:
    """Validate a parsed YAML document into a `Roster`, or raise `RosterError` naming every problem."""
    if not isinstance(data, dict):
        raise RosterError(
            [RosterProblem(source, "", "the roster must be a mapping (timezone, people, roles)")]
        )
    zone_name = data.get("timezone", "Europe/Amsterdam")
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Europe/Amsterdam")  # the validator below reports it
    try:
        document = RosterDocument.model_validate(_with_zone(dict(data), zone))
    except ValidationError as exc:
        raise RosterError(
            [
                RosterProblem(source, _path(e["loc"]), e["msg"].removeprefix("Value error, "))
                for e in exc.errors()
            ]
        ) from None
    problems = check(document, source)
    calendars: dict[str, list[CalendarShift]] = {}
    people = {p.id: p for p in document.people}
    for name, role in document.roles.items():
        if role.rotation is None or role.rotation.calendar is None:
            continue
        path = Path(role.rotation.calendar)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        where = f"roles.{name}.rotation.calendar"
        try:
            calendars[name] = load_calendar(path, people, zone)
        except FileNotFoundError:
            problems.append(RosterProblem(source, where, f"no such file: {path}"))
        except ValueError as exc:
            problems.append(RosterProblem(source, where, f"{path.name}: {exc}"))
    if problems:
        raise RosterError(problems)
    return Roster(document=document, source=source, calendars=calendars, is_sample=is_sample)


def check(document: RosterDocument, source: str) -> list[RosterProblem]:
    """What pydantic cannot see: references between people and roles, and who cannot be reached."""
    problems: list[RosterProblem] = []
    people = {p.id: p for p in document.people}

    def problem(path: str, message: str) -> None:
        problems.append(RosterProblem(source, path, message))

    seen: set[str] = set()
    for i, person in enumerate(document.people):
        if person.id in seen:
            problem(f"people[{i}].id", f"{person.id!r} appears twice")
        seen.add(person.id)
    for required in REQUIRED_ROLES:
        if required not in document.roles:
            problem(f"roles.{required}", "missing: every party and the coordinator need a roster entry")
    for name, role in document.roles.items():
        where = f"roles.{name}"
        if role.rotation is None:
            problem(f"{where}.rotation", "missing: who is on call?")
        elif role.rotation.calendar is None:
            if not role.rotation.members:
                problem(f"{where}.rotation.members", "empty: name the people of the rotation (or a calendar)")
            if role.rotation.start is None:
                problem(f"{where}.rotation.start", "missing: the date the rotation starts (YYYY-MM-DD)")
        referenced: list[tuple[str, str]] = []
        if role.rotation is not None:
            referenced += [(f"{where}.rotation.members[{i}]", p) for i, p in enumerate(role.rotation.members)]
        referenced += [(f"{where}.backup[{i}]", p) for i, p in enumerate(role.backup)]
        if role.team_lead:
            referenced.append((f"{where}.team_lead", role.team_lead))
        for path, person_id in referenced:
            if person_id not in people:
                problem(path, f"{person_id!r} is not one of the people")
        for s, step in enumerate(role.escalation):
            for t, target in enumerate(step.notify):
                target_role, _, which = target.rpartition(".")
                target_role = target_role or name
                if target_role not in document.roles:
                    problem(f"{where}.escalation[{s}].notify[{t}]", f"no role {target_role!r}")
                    continue
                other = document.roles[target_role]
                if which == Target.BACKUP and not other.backup:
                    problem(f"{where}.escalation[{s}].notify[{t}]", f"role {target_role!r} has no backup")
                if which == Target.TEAM_LEAD and not other.team_lead:
                    problem(f"{where}.escalation[{s}].notify[{t}]", f"role {target_role!r} has no team_lead")
                for person_id in _people_of(other, which):
                    reachable = people.get(person_id)
                    if reachable is None:
                        continue
                    if not any(reachable.address(c) for c in step.channels):
                        channels = ", ".join(c.value for c in step.channels)
                        problem(
                            f"{where}.escalation[{s}]",
                            f"{person_id!r} can be notified here but has no address for {channels}",
                        )
    changes: list[tuple[str, Sequence[Override | Absence]]] = [
        ("overrides", document.overrides),
        ("absences", document.absences),
    ]
    for kind, items in changes:
        for i, item in enumerate(items):
            if item.person not in people:
                problem(f"{kind}[{i}].person", f"{item.person!r} is not one of the people")
            if item.end <= item.start:
                problem(f"{kind}[{i}].end", "must be after start")
            if isinstance(item, Override) and item.role not in document.roles:
                problem(f"{kind}[{i}].role", f"no role {item.role!r}")
    return problems


def _people_of(role: Role, which: str) -> list[str]:
    if which == Target.ON_CALL:
        return list(role.rotation.members) if role.rotation else []
    if which == Target.BACKUP:
        return list(role.backup)
    return [role.team_lead] if role.team_lead else []


SAMPLE_ROSTER = Path(__file__).with_name("sample_roster.yaml")


def load(path: Path | None) -> Roster:
    """The roster file (or the shipped sample when `path` is None); `RosterError` if it cannot be used."""
    target = path or SAMPLE_ROSTER
    source = str(target)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RosterError([RosterProblem(source, "", "no such file")]) from None
    except OSError as exc:
        raise RosterError([RosterProblem(source, "", f"cannot be read ({exc.strerror})")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise RosterError(
            [RosterProblem(source, where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
        ) from None
    return parse(data, source=source, base_dir=target.parent, is_sample=path is None)
