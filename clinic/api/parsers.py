"""The one JSON parser of the API: DRF's, with the nesting depth bounded.

Python's decoder recurses once per array or object, so a body nested a thousand deep raised RecursionError
(a 500). Bodies are scanned first — brackets outside strings — and one nested deeper than MAX_JSON_DEPTH is a
400 problem before the decoder sees it. The body's size is bounded before this by DATA_UPLOAD_MAX_MEMORY_SIZE.
"""

from __future__ import annotations

import codecs
import json
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils.json import strict_constant

from clinic.bounds import MAX_JSON_DEPTH

_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)  # a JSON string, escapes included
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIRS = re.compile(r"\[\]|\{\}")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``limit``, counting brackets outside strings only."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    rest = brackets
    for _ in range(limit):  # each pass removes the innermost level of pairs (fast: the work is in C)
        if not rest:
            return False
        shorter = _EMPTY_PAIRS.sub("", rest)
        if len(shorter) == len(rest):
            break
        rest = shorter
    if not rest:
        return False
    depth = 0  # deeper than the limit, or unbalanced (the decoder refuses that): count exactly
    for bracket in brackets:
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


class BoundedJSONParser(JSONParser):
    max_depth = MAX_JSON_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = codecs.getreader(get_encoding(parser_context or {}))(stream).read()
        except (UnicodeError, LookupError) as exc:  # any codec's error (punycode raises a bare UnicodeError)
            raise ParseError(f"JSON parse error - {exc}") from exc
        if json_depth_exceeds(text, self.max_depth):
            raise ParseError(f"JSON parse error - nested deeper than {self.max_depth} levels.")
        try:
            parse_constant = strict_constant if self.strict else None
            return json.loads(text, parse_constant=parse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
