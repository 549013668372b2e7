"""Fuzzing the sink's body path (inflate, depth check, parse, landing bytes) with hostile
bodies: whatever arrives is refused with a 4xx reason or landed as valid NDJSON lines
without any key in it; nothing else escapes (which the app would turn into a 500)."""

from __future__ import annotations

import gzip
import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trackstack_wh.config.sink import IpPolicy, KeyKind
from trackstack_wh.sink.auth import Refusal
from trackstack_wh.sink.batch import Envelope, batch_blob
from trackstack_wh.sink.body import BodyError, InvalidJson, parse_body
from trackstack_wh.sink.intake import check_depth, inflate_gzip
from trackstack_wh.sink.redact import KeyRedactor

KEY = "sk_live_fuzz0123456789abcdef"
LIMIT = 64 << 10
ENVELOPE = Envelope("eb_1", "2026-12-06T00:00:00Z", "demo", KeyKind.SECRET, IpPolicy.TRUNCATE,
                    None, None, None, None)  # fmt: skip


def _escaped_key(mode: int) -> str:
    """The key as JSON string content: plain, every other character \\u-escaped, all
    escaped in upper-case hex, or double-escaped text."""
    if mode == 0:
        return KEY
    out = []
    for i, char in enumerate(KEY):
        code = f"{ord(char):04x}"
        if mode == 1 and i % 2:
            out.append(char)
        else:
            out.append(("\\\\u" if mode == 3 else "\\u") + (code.upper() if mode == 2 else code))
    return "".join(out)


pieces = st.one_of(
    st.binary(max_size=30),
    st.sampled_from(
        [
            b"[" * 200,
            b"]" * 200,
            b'"\\ud800"',
            b'"\\udc00\\ud800"',
            b"\\",
            b'"',
            b'{"events":[',
            b"]}",
            b'{"event":"SignUp"}',
            b",",
            b"1e99999",
            b'"\\u0000"',
            b"\xff\xfe",
            b"\n",
        ]
    ),  # fmt: skip
    st.integers(0, 3).map(lambda m: f'{{"event":"A","note":"{_escaped_key(m)}"}}'.encode()),
)


def _through_the_sink(body: bytes) -> bytes | None:
    """The landing bytes for ``body``, or None when it is refused with a reason."""
    try:
        check_depth(body, 64)
        parsed = parse_body(body)
    except Refusal as refusal:
        assert refusal.status == 400 and refusal.code == "too_deep"
        return None
    except (BodyError, InvalidJson) as exc:
        assert str(exc)
        return None
    return batch_blob(parsed, ENVELOPE, len(body), KeyRedactor([KEY.encode()]))


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=12))
def test_hostile_bodies_are_refused_or_landed_without_keys(parts: list[bytes]) -> None:
    body = b"".join(parts)
    blob = _through_the_sink(body)
    if blob is None:
        return
    assert KEY.encode() not in blob
    lines = blob.decode("utf-8", errors="replace").splitlines()
    assert len(lines) >= 1
    for line in lines:  # every landed line is one JSON document, the key not in it
        json.loads(line)
        assert KEY not in json.dumps(orjson.loads(line.encode()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4), st.integers(0, 400))
def test_gzip_bodies_are_inflated_whole_or_refused(members: list[bytes], cut: int) -> None:
    compressed = [gzip.compress(m) for m in members]
    data = b"".join(compressed)
    body = data[: len(data) - cut] if cut < len(data) else data
    whole = {sum(map(len, compressed[:n])): n for n in range(1, len(members) + 1)}
    try:
        inflated = inflate_gzip(body, LIMIT)
    except Refusal as refusal:
        assert refusal.status == 400 and refusal.code == "invalid_gzip"
        assert len(body) not in whole
        return
    assert inflated == b"".join(members[: whole[len(body)]])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["note", "email", "traits"]), st.booleans()),
        min_size=1,
        max_size=5,
    )
)
def test_keys_in_valid_batches_never_land(events: list[tuple[int, str, bool]]) -> None:
    items = []
    for mode, field, nested in events:
        value = f'"{_escaped_key(mode)}"'
        items.append(f'{{"event":"SignUp","{field}":{f"[{{{value}:1}}]" if nested else value}}}')
    blob = _through_the_sink(f'{{"events":[{",".join(items)}]}}'.encode())
    assert blob is not None and KEY.encode() not in blob
    for line in blob.splitlines():
        text = json.dumps(orjson.loads(line))
        assert KEY not in text and KEY not in text.encode().decode("unicode_escape")
