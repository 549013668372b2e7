"""Reading a request body off the connection: in time, within its size, inflated whole.

The whole body must arrive within ``sink.body_timeout_seconds`` of the first read (408
otherwise, and the connection is closed), and neither the body as sent nor as inflated
may exceed ``sink.max_body_bytes`` (413). A gzip body is read member by member (a body
of several concatenated gzip members, as ``cat a.gz b.gz`` makes, is one body); a cut
or corrupt member, or bytes after the last member that are not zero padding, are a 400.
"""

from __future__ import annotations

import asyncio
import zlib

from trackstack_wh.config import SinkSettings
from trackstack_wh.serving import ClientGone, Receive
from trackstack_wh.sink.auth import Refusal
from trackstack_wh.sink.body import nesting_depth

MAX_GZIP_MEMBERS = 100
"""Each member is a fresh inflater over the rest of the body: a cap keeps a body of many
tiny members cheap to refuse."""


def too_large(limit: int) -> Refusal:
    """The 413 for a body over ``limit`` bytes (as sent or inflated)."""
    return Refusal(413, "body_too_large", f"the body is larger than {limit} bytes", limit=limit)


async def read_body(headers: dict[bytes, bytes], receive: Receive, settings: SinkSettings) -> bytes:
    """The request body, inflated when it is gzip; raises ``Refusal`` or ``ClientGone``."""
    limit = settings.max_body_bytes
    timeout = settings.body_timeout_seconds
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
    except TimeoutError:
        raise Refusal(
            408,
            "body_timeout",
            f"the body did not arrive within {timeout:g} s",
            received=size,
        ) from None
    body = b"".join(chunks)
    if headers.get(b"content-encoding", b"").strip().lower() == b"gzip":
        body = inflate_gzip(body, limit)
    return body


def inflate_gzip(data: bytes, limit: int) -> bytes:
    """Every member of a gzip body, concatenated; 413 past ``limit`` inflated bytes."""
    out: list[bytes] = []
    size = 0
    rest = data
    for member in range(1, MAX_GZIP_MEMBERS + 1):
        inflater = zlib.decompressobj(wbits=31)
        try:
            chunk = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            where = "the gzip body" if member == 1 else f"gzip member {member} of the body"
            raise Refusal(400, "invalid_gzip", f"{where} cannot be read: {exc}") from None
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        out.append(chunk)
        if not inflater.eof:
            raise Refusal(400, "invalid_gzip", f"the gzip body is truncated (in member {member})")
        rest = inflater.unused_data.lstrip(b"\0")  # zero padding after a member is allowed
        if not rest:
            return b"".join(out)
    raise Refusal(400, "invalid_gzip", f"the gzip body has more than {MAX_GZIP_MEMBERS} members")


def check_depth(body: bytes, limit: int) -> None:
    """400 ``too_deep`` when arrays and objects nest deeper than ``limit`` in ``body``."""
    if len(body) <= limit:  # every level takes at least a byte
        return
    depth = nesting_depth(body)
    if depth > limit:
        raise Refusal(
            400,
            "too_deep",
            f"the body nests arrays and objects {depth} deep; the limit is {limit}",
            limit=limit,
            depth=depth,
        )
