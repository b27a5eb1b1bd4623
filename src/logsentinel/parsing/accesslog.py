"""nginx and Apache access logs in the combined (or common) format.

``$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
"$http_referer" "$http_user_agent"``, optionally followed by a request time:

- a decimal number, ``rt=``/``request_time=`` or ``$request_time`` (nginx): seconds;
- a bare integer (Apache ``%D``): microseconds.

Attributes: ``status``, ``method``, ``path`` (without the query), ``query``, ``protocol``,
``bytes``, ``remote_addr``, ``user``, ``referer``, ``user_agent``, ``request_time_ms`` and,
for the latency detectors' default attribute, ``latency_ms`` (the same value). Level: >= 500
error, 4xx warn, else info.

The template is mined from ``<status class> <method> <path>`` (``server-error GET /api/x``),
not from the whole line, so user agents and addresses do not multiply templates. The status
enters as its class because numbers are masked, and first, so Drain never merges classes.
"""

from __future__ import annotations

import re

from pydantic import JsonValue

from logsentinel.parsing.attributes import clean_text
from logsentinel.parsing.levels import level_from_status
from logsentinel.parsing.parsed import ParsedMessage
from logsentinel.parsing.timestamps import parse_common_log_time

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_ACCESS_LINE = re.compile(
    r"(?P<remote>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]{1,40})\] "
    rf"{_QUOTED} (?P<status>\d{{3}}) (?P<bytes>\d+|-)"
    rf"(?: {_QUOTED} {_QUOTED})?(?P<rest>.*)",
    re.DOTALL,
)
_REQUEST = re.compile(r"(?P<method>[A-Z]{2,12}) (?P<target>\S+)(?: (?P<protocol>[A-Z]+/[\d.]+))?")
_SECONDS = re.compile(r"(?:^|\s)(?:rt=|request_time=)?(\d+\.\d+)(?=\s|$)")
_MICROSECONDS = re.compile(r"(?:^|\s)(\d+)(?=\s|$)")
_SNIFF_WINDOW = 512
MAX_USER_AGENT = 1024
_STATUS_CLASSES = {
    1: "informational",
    2: "success",
    3: "redirect",
    4: "client-error",
    5: "server-error",
}


def looks_like_access_log(line: str) -> bool:
    """Cheap test before the regex: the ``] "`` between time and request is near the start."""
    return '] "' in line[:_SNIFF_WINDOW]


def _request_time_ms(rest: str) -> float | None:
    if not rest or len(rest) > 256:
        return None
    seconds = _SECONDS.search(rest)
    if seconds is not None:
        return round(float(seconds.group(1)) * 1000.0, 3)
    microseconds = _MICROSECONDS.search(rest)
    if microseconds is not None:
        return round(int(microseconds.group(1)) / 1000.0, 3)
    return None


def parse_access_log(line: str, clean: bool) -> ParsedMessage | None:
    """An access log line's request and response, or None when the line is not one."""
    match = _ACCESS_LINE.match(line)
    if match is None:
        return None
    remote, _ident, user, time_text, request, status_text, bytes_text, referer, agent, rest = (
        match.groups()
    )
    status = int(status_text)
    attributes: dict[str, JsonValue] = {"status": status, "remote_addr": remote}
    request_line = _REQUEST.fullmatch(request)
    status_class = _STATUS_CLASSES.get(status // 100, "status")
    if request_line is not None:
        method, target, protocol = request_line.groups()
        path, _, query = target.partition("?")
        attributes["method"] = method
        attributes["path"] = path
        if query:
            attributes["query"] = query
        if protocol:
            attributes["protocol"] = protocol
        template = f"{status_class} {method} {path}"
    else:
        attributes["request"] = request
        template = f"{status_class} {request[:64]}"
    attributes["bytes"] = 0 if bytes_text == "-" else int(bytes_text)
    if user != "-":
        attributes["user"] = user
    if referer and referer != "-":
        attributes["referer"] = referer
    if agent and agent != "-":
        attributes["user_agent"] = agent[:MAX_USER_AGENT]
    request_time = _request_time_ms(rest.strip())
    if request_time is not None:
        attributes["request_time_ms"] = request_time
        attributes["latency_ms"] = request_time
    if clean:
        for key, value in attributes.items():
            if isinstance(value, str):
                attributes[key] = clean_text(value)
        line = clean_text(line)
        template = clean_text(template)
    return ParsedMessage(
        message=line,
        format="access",
        level=level_from_status(status),
        timestamp=parse_common_log_time(time_text),
        attributes=attributes,
        template_source=template,
    )
