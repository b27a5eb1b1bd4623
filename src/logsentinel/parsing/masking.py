"""Masking the variable parts of a message before templating.

Only tokens that contain a digit or a ``/`` are looked at (one regex pass finds them); each is
then classified as a whole: ``<URL>``, ``<UUID>``, ``<IP>`` (v4 with optional port, or v6),
``<HEX>`` (``0x..`` or 12+ hex digits), ``<PATH>`` (two or more segments), ``<NUM>``
(optionally with a unit: ``23ms``, ``1.5s``, ``99%``) or ``<ID>`` (8+ characters mixing letters
and digits, such as pod names). Shorter mixed tokens keep their letters and lose their digit
runs (``utf8`` -> ``utf<NUM>``). Trailing sentence punctuation stays outside the mask.

Masking makes most lines of one template identical text, so the template cache can answer
without running Drain.
"""

from __future__ import annotations

import re

_SEPARATORS = r"\s\"'()\[\]{}<>,;|"
_CANDIDATE = re.compile(rf"(?<![^{_SEPARATORS}])[^{_SEPARATORS}]*[\d/][^{_SEPARATORS}]*")
_HEX = "[0-9a-fA-F]"
_CLASSES: tuple[tuple[str, str], ...] = (
    ("URL", r"[a-zA-Z][a-zA-Z0-9+.-]{1,15}://\S+"),
    ("UUID", rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"),
    ("IP", r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?"),
    ("IPV6", rf"(?:{_HEX}{{0,4}}:){{2,7}}{_HEX}{{0,4}}"),
    ("NUM", r"[-+]?\d+(?:[.,:]\d+)*(?:[a-zA-Z%\u00b5]{1,3})?"),
    ("HEX", rf"0[xX]{_HEX}+|{_HEX}{{12,}}"),
    ("PATH", r"(?:/[\w.~%+@-]+){2,}/?(?:\?\S*)?"),
    ("ID", r"[\w.:-]{8,}"),
)
_CLASSIFY = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _CLASSES))
_MASK_OF = {name: f"<{'IP' if name == 'IPV6' else name}>" for name, _ in _CLASSES}
_DIGIT_RUN = re.compile(r"\d+")
_TRAILING = ".:!?"

MASK_NAMES = tuple(sorted(set(_MASK_OF.values())))
HIGH_CARDINALITY_MASKS = ("<UUID>", "<HEX>", "<ID>")
"""Masks standing for values that rarely repeat (random ids): see the template cache."""


def _mask_token(match: re.Match[str]) -> str:
    token = match.group()
    core = token.rstrip(_TRAILING)
    classified = _CLASSIFY.fullmatch(core)
    if classified is not None:
        masked = _MASK_OF[classified.lastgroup or "NUM"]
    else:
        masked = _DIGIT_RUN.sub("<NUM>", core)
    return masked + token[len(core) :] if len(core) < len(token) else masked


def mask(text: str) -> str:
    """``"GET /api/v1/orders/42 from 10.0.0.7 took 23ms"``
    -> ``"GET <PATH> from <IP> took <NUM>"``."""
    return _CANDIDATE.sub(_mask_token, text)
