"""`[[channel]]` tables of the rules file: where messages go and whom each level reaches.

Secrets never sit in the file or the database: a channel names the environment variable that
holds its password or signing secret (`password_env`, `secret_env`). Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmpool.rule_parts import is_int, named_table

TYPES = ("smtp", "webhook", "command")
STYLES = ("generic", "wecom", "dingtalk", "feishu", "slack")
LEVELS = ("low", "mid", "high")
# Whom each level reaches unless a channel says otherwise.
DEFAULT_TO = {"low": ("owner",), "mid": ("owner", "manager"),
              "high": ("owner", "manager", "admins")}
_KEYS = {
    "smtp": {"host", "port", "security", "user", "password_env", "from", "cafile", "timeout"},
    "webhook": {"url", "style", "secret_env", "timeout"},
    "command": {"argv", "timeout"},
}
_COMMON = {"name", "type", "to"}


@dataclass(frozen=True)
class Channel:
    """One channel: its kind, its settings, and whom each level reaches."""

    name: str
    type: str
    settings: dict = field(default_factory=dict)
    to: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_TO))

    def recipients(self, level: str) -> tuple[str, ...]:
        return self.to.get(level, ())


def parse_channel(data: object, index: int, problems: list[str]) -> Channel | None:
    before = len(problems)
    table = named_table(data, "channel", index, problems, noun="channel")
    if table is None:
        return None
    where, name = table
    assert isinstance(data, dict)
    kind = data.get("type")
    if kind not in TYPES:
        problems.append(f"{where}.type: must be one of {', '.join(TYPES)}, not {kind!r}")
        return None
    known = _COMMON | _KEYS[kind]
    for key in data:
        if key not in known:
            problems.append(f"{where}.{key}: unknown key for a {kind} channel (known:"
                            f" {', '.join(sorted(known))})")
    settings = {k: v for k, v in data.items() if k in _KEYS[kind]}
    _check_settings(kind, settings, where, problems)
    to = _parse_to(data.get("to"), where, problems)
    if len(problems) > before:
        return None
    return Channel(name, kind, settings, to)


def _text(settings: dict, key: str, where: str, problems: list[str], required: bool = False
          ) -> None:
    value = settings.get(key)
    if value is None:
        if required:
            problems.append(f"{where}.{key}: required")
    elif not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key}: must be text")


def _check_settings(kind: str, settings: dict, where: str, problems: list[str]) -> None:
    if "timeout" in settings:
        timeout = settings["timeout"]
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) \
                or not 0 < timeout <= 600:
            problems.append(f"{where}.timeout: must be seconds from 1 to 600, not {timeout!r}")
    if kind == "smtp":
        _text(settings, "host", where, problems, required=True)
        _text(settings, "from", where, problems, required=True)
        _text(settings, "user", where, problems)
        _text(settings, "password_env", where, problems)
        port = settings.get("port", 25)
        if not is_int(port) or not 1 <= port <= 65535:
            problems.append(f"{where}.port: must be a port number from 1 to 65535, not {port!r}")
        security = settings.get("security", "none")
        if security not in ("none", "starttls", "ssl"):
            problems.append(f"{where}.security: must be none, starttls or ssl, not {security!r}")
        if "password_env" in settings and "user" not in settings:
            problems.append(f"{where}.password_env: goes with user")
        _text(settings, "cafile", where, problems)
        if "cafile" in settings and security == "none":
            problems.append(f"{where}.cafile: goes with security = starttls or ssl")
    elif kind == "webhook":
        _text(settings, "url", where, problems, required=True)
        url = settings.get("url")
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            problems.append(f"{where}.url: must start with http:// or https://")
        style = settings.get("style", "generic")
        if style not in STYLES:
            problems.append(f"{where}.style: must be one of {', '.join(STYLES)}, not {style!r}")
        _text(settings, "secret_env", where, problems)
        if "secret_env" in settings and style not in ("dingtalk", "feishu"):
            problems.append(f"{where}.secret_env: only dingtalk and feishu sign their messages")
    else:
        argv = settings.get("argv")
        if not isinstance(argv, list) or not argv or not all(
                isinstance(a, str) and a for a in argv):
            problems.append(f"{where}.argv: must be a non-empty list of words, the program"
                            " first")


def _parse_to(data: object, where: str, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if data is None:
        return dict(DEFAULT_TO)
    if not isinstance(data, dict):
        problems.append(f"{where}.to: must be a table of levels (to.low, to.mid, to.high)")
        return dict(DEFAULT_TO)
    to = dict(DEFAULT_TO)
    for level, whom in data.items():
        if level not in LEVELS:
            problems.append(f"{where}.to.{level}: not a level ({', '.join(LEVELS)})")
            continue
        if not isinstance(whom, list) or not all(isinstance(w, str) for w in whom):
            problems.append(f"{where}.to.{level}: must be a list such as"
                            ' ["owner", "manager", "admins", "user:NAME"]')
            continue
        for who in whom:
            if who not in ("owner", "manager", "admins") and not (
                    who.startswith("user:") and len(who) > 5):
                problems.append(f"{where}.to.{level}: {who!r} is not owner, manager, admins"
                                " or user:NAME")
        to[level] = tuple(whom)
    return to
