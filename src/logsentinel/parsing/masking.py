"""Masking the variable parts of a message before templating.

Only tokens that contain a digit or a ``/`` are looked at (one regex pass finds them; tokens end
at spaces, quotes, brackets, ``,``, ``;`` and ``|``). Each is then classified as a whole, and a
class never depends on how many digits a value has or which of them it happens to hold:

- ``<URL>``: ``scheme://...``;
- ``<UUID>``;
- ``<ADDR>``: ``host:port``, whatever the host: IPv4, ``[IPv6]``, ``localhost`` or a lower-case
  DNS name of two or more labels (``Handler.java:12`` and ``index:5`` are not addresses);
- ``<IP>``: an IPv4 or IPv6 address;
- ``<NUM>``: a decimal number, optionally with separators and a unit (``23ms``, ``1.5s``,
  ``99%``, ``12:30:45``), or a hex-ish id (five or more hex digits, at least one of them a
  decimal digit): ``12345678``, ``1a2b3c4d`` and ``4bf92f3577b34da6`` are all ``<NUM>``;
- ``<HEX>``: ``0x`` followed by hex digits;
- ``<PATH>``: two or more ``/`` segments;
- ``key=value``: the value is masked as a token of its own (``uid=0`` -> ``uid=<NUM>``);
- ``<ID>``: a token with a segment of five or more letters and digits that alternate at least
  three times (pod names such as ``checkout-7d9f8b6c5d-x2x9k``).

Any other token keeps its letters and loses its hex-ish segments and digit runs, a sign included
when nothing alphanumeric precedes it (``utf8`` -> ``utf<NUM>``, ``blk_-42`` and ``blk_42`` ->
``blk_<NUM>``, ``0000000f@2016/9/27`` and ``00000007@2016/9/27`` -> ``<NUM>@<NUM>/<NUM>/<NUM>``),
whatever the length. Trailing sentence punctuation stays outside the mask. Finally a list of two
or more items holding masks, separated by ``,`` or ``, ``, becomes one item, so lists of any
length give one text (``<ADDR>,<ADDR>,<ADDR>`` -> ``<ADDR>``, ``[<NUM>, <NUM>]`` -> ``[<NUM>]``).

Masking makes most lines of one template identical text, so the template cache can answer
without running Drain. :func:`mask_marked` also tells whether a masked token held letters that
vary from line to line (a hex id with letters, a UUID, a generated name), which the template
cache needs to know. Masking is deterministic: the same text always gives the same result.
"""

from __future__ import annotations

import re

_SEPARATORS = r"\s\"'()\[\]{}<>,;|"
_CANDIDATE = re.compile(rf"(?<![^{_SEPARATORS}])[^{_SEPARATORS}]*[\d/][^{_SEPARATORS}]*")
_HEX = "[0-9a-fA-F]"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_HOSTNAME = r"(?=[0-9.-]*[a-z])[a-z0-9-]+(?:\.[a-z0-9-]+)+"
"""A DNS name of two or more labels, in lower case (``Handler.java:12`` is a source line)."""
_CLASSES: tuple[tuple[str, str], ...] = (
    ("URL", r"[a-zA-Z][a-zA-Z0-9+.-]{1,15}://\S+"),
    ("UUID", rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"),
    ("ADDR", rf"(?:{_IPV4}|\[[0-9a-fA-F:.]+\]|localhost|{_HOSTNAME}):\d{{1,5}}"),
    ("IP", _IPV4),
    ("NUM", r"[-+]?\d+(?:[.,:]\d+)*(?:[a-zA-Z%\u00b5]{1,3})?"),
    ("IPV6", rf"(?:{_HEX}{{0,4}}:){{2,7}}{_HEX}{{0,4}}"),
    ("HEX", rf"0[xX]{_HEX}+"),
    ("HEXID", rf"(?=[a-fA-F]*\d){_HEX}{{5,}}"),
    ("PATH", r"(?:/[\w.~%+@-]+){2,}/?(?:\?\S*)?"),
)
_CLASSIFY = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _CLASSES))
_MASK_OF = {name: f"<{name}>" for name, _ in _CLASSES} | {"IPV6": "<IP>", "HEXID": "<NUM>"}
_STEADY = frozenset({"IP", "IPV6", "NUM"})
"""Classes whose letters, if any, repeat from line to line (units such as ``ms``)."""
_RANDOM = frozenset({"UUID", "HEX", "HEXID"})
"""Classes whose letters are random; the others (URL, ADDR, PATH) are looked at segment by
segment."""
_SEGMENT = re.compile(r"[a-zA-Z0-9]{5,}")
_HEX_ID = re.compile(rf"(?=[a-fA-F]*\d){_HEX}+")
_LETTER_DIGIT = re.compile(r"[a-zA-Z](?=\d)|\d(?=[a-zA-Z])")
_VARIABLE = re.compile(
    rf"(?<![a-zA-Z0-9])(?=[a-fA-F]*\d){_HEX}{{5,}}(?![a-zA-Z0-9])|(?<![a-zA-Z0-9])[-+]?\d+|\d+"
)
"""Hex-ish segments (five or more hex digits, one at least decimal) and digit runs."""
_KEY = re.compile(r"[\w.-]*")
_LETTER = re.compile(r"[a-zA-Z]")
_TRAILING = ".:!?"
_LIST = re.compile(r"(?<![^\s=])[^\s,=<]*<[A-Z]+>[^\s,=]*(?:, ?[^\s,=<]*<[A-Z]+>[^\s,=]*)+")
"""Two or more comma-separated items holding a mask; items start after a space or ``=``."""
MASK_NAMES = tuple(sorted(set(_MASK_OF.values()) | {"<ID>"}))


def _random_letters(core: str) -> bool:
    """Whether a segment of the token is a hex id with letters or interleaves letters and
    digits: its letters change from line to line."""
    for segment in _SEGMENT.findall(core):
        if _HEX_ID.fullmatch(segment) is not None:
            if not segment.isdigit():
                return True
        elif len(_LETTER_DIGIT.findall(segment)) >= 3:
            return True
    return False


def _mask_core(core: str) -> tuple[str, bool]:
    """The mask of one token without trailing punctuation, and whether it held random letters."""
    if core.isdigit():
        return "<NUM>", False  # the commonest token, without a regex
    classified = _CLASSIFY.fullmatch(core)
    if classified is not None:
        name = classified.lastgroup or "NUM"
        if name in _STEADY:
            return _MASK_OF[name], False
        if name in _RANDOM:
            return _MASK_OF[name], _LETTER.search(core) is not None
        return _MASK_OF[name], _random_letters(core)
    key, equals, value = core.partition("=")
    if equals and _KEY.fullmatch(key) is not None:
        masked, random = _mask_core(value)
        return f"{key}={masked}", random
    random = False
    for segment in _SEGMENT.findall(core):
        if _HEX_ID.fullmatch(segment) is not None:
            random = random or not segment.isdigit()
        elif len(_LETTER_DIGIT.findall(segment)) >= 3:
            return "<ID>", True  # letters and digits interleave: a generated name
    return _VARIABLE.sub("<NUM>", core), random


def mask_marked(text: str) -> tuple[str, bool]:
    """The masked text, and whether a masked token held letters that vary between lines (a
    hex id, UUID, pod name...): such a line's digit-less shape does not repeat."""
    random = False

    def one(match: re.Match[str]) -> str:
        nonlocal random
        token = match.group()
        core = token.rstrip(_TRAILING)
        masked, token_random = _mask_core(core)
        random = random or token_random
        return masked + token[len(core) :] if len(core) < len(token) else masked

    masked = _CANDIDATE.sub(one, text)
    if "[<IP>]:<NUM>" in masked:  # the brackets split an IPv6 host:port into tokens
        masked = masked.replace("[<IP>]:<NUM>", "<ADDR>")
    if ">," in masked:
        masked = _LIST.sub(_first_item, masked)
    return masked, random


def mask(text: str) -> str:
    """``"GET /api/v1/orders/42 from 10.0.0.7 took 23ms"``
    -> ``"GET <PATH> from <IP> took <NUM>"``."""
    return mask_marked(text)[0]


def _first_item(match: re.Match[str]) -> str:
    """``[<NUM>, <NUM>, <NUM>]`` -> ``[<NUM>]``: the first item up to its last mask, then what
    follows the last item's last mask."""
    items = match.group().split(",")
    first, last = items[0], items[-1]
    return first[: first.rindex(">") + 1] + last[last.rindex(">") + 1 :]
