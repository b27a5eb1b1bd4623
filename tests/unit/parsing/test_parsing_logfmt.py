"""The fast logfmt splitter agrees with the regexes that define logfmt, on any line."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from logsentinel.parsing.logfmt import _PAIRS, _WHOLE_LINE, parse_logfmt, split_pairs

# what the grammar turns on: keys, =, quotes, several kinds of whitespace, digits
ALPHABET = st.sampled_from(list('ab1=" \t\n\x1c\u00a0é'))


def by_regex(line: str) -> list[tuple[str, str, str]] | None:
    if _WHOLE_LINE.fullmatch(line) is None:
        return None
    return _PAIRS.findall(line)


@settings(max_examples=3000)
@given(st.text(ALPHABET, max_size=40))
@example('level=info msg="order created" id=7')
@example('a="" b=1')
@example('a="x"b=1')
@example('a=b="x" c=1')
@example(' a=1\tb="x\ny"  ')
@example('a="x" "y"')
def test_the_splitter_finds_the_pairs_the_regexes_find(line: str) -> None:
    assert split_pairs(line) == by_regex(line)


def test_lines_with_escapes_still_parse() -> None:
    parsed = parse_logfmt('level=info msg="said \\"hi\\"" user=alice', False)
    assert parsed is not None
    assert parsed.message == 'said "hi"'
    assert parsed.attributes == {"user": "alice"}
    assert parse_logfmt('msg="open \\" quote', False) is None
