"""Project keys taken out of landing bytes, however the sender's JSON wrote them.

A key is 16-256 of ``A-Z a-z 0-9 _ . ~ -`` (``config.sink.KEY_TEXT``), so in JSON text each
of its characters is either itself or a ``\\u00XX`` escape (any case of hex digits); no
other escape (``\\/``, ``\\n``...) can stand for one. Literal keys are replaced with plain
``bytes.replace`` (one fast scan per configured key, about 0.3 ms per MB each). Only a
blob with a backslash and an escape of such a character (rare: JSON encoders escape
control and non-ASCII characters, not letters and digits) takes the slow path, which
decodes those escapes into a copy, finds the keys there and replaces the matching spans
of the original bytes, so the JSON stays valid and no part of a key is left.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable

REDACTED = b"[redacted-key]"
_KEY_CHAR_ESCAPE = re.compile(
    rb"\\u00(2[dDeE]|3[0-9]|4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aAeE])"
)
"""``\\u00XX`` for ``-``, ``.``, a digit, a letter, ``_`` or ``~``. Backslashes before it
count as part of it: ``\\\\u0073`` is the text ``\\u0073``, which a consumer may unescape
once more."""
_BACKSLASH = 0x5C


class KeyRedactor:
    """Replaces every occurrence of any of ``keys`` with ``[redacted-key]``."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self.keys = sorted(set(keys), key=len, reverse=True)
        """Longest first, so a key that contains another is replaced whole."""

    def __call__(self, blob: bytes) -> bytes:
        for key in self.keys:
            if key in blob:
                blob = blob.replace(key, REDACTED)
        if b"\\" in blob and _KEY_CHAR_ESCAPE.search(blob):
            blob = self._escaped(blob)
        return blob

    def _escaped(self, blob: bytes) -> bytes:
        """Keys written with ``\\u00XX`` escapes for some of their characters: the
        escapes are decoded into a copy, and spans found there are mapped back."""
        plain: list[bytes] = []
        escapes: list[int] = []
        """Where each decoded escape sits in the copy (ascending)."""
        shifts = [0]
        """Bytes the first n escapes took beyond their one decoded character."""
        done = size = 0
        for found in _KEY_CHAR_ESCAPE.finditer(blob):
            start = found.start()
            while start > done and blob[start - 1] == _BACKSLASH:
                start -= 1
            kept = blob[done:start]
            plain += (kept, bytes([int(found[1], 16)]))
            size += len(kept)
            escapes.append(size)
            shifts.append(shifts[-1] + found.end() - start - 1)
            size += 1
            done = found.end()
        plain.append(blob[done:])
        decoded = b"".join(plain)
        spans = []
        for key in self.keys:
            at = decoded.find(key)
            while at >= 0:
                end = at + len(key)
                start_shift = shifts[bisect_left(escapes, at)]
                end_shift = shifts[bisect_left(escapes, end)]
                spans.append((at + start_shift, end + end_shift))
                at = decoded.find(key, end)
        return _replace_spans(blob, spans)


def _replace_spans(blob: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``blob`` with each of ``spans`` replaced by REDACTED (overlapping spans as one)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[bytes] = []
    done = 0
    for start, end in merged:
        parts += (blob[done:start], REDACTED)
        done = end
    parts.append(blob[done:])
    return b"".join(parts)
