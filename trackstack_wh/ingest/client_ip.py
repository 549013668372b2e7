"""Client IPs of file-ingested events under the ``client_ip`` policy, in SQL.

The HTTP sink applies a project's ``client_ip`` policy before it writes landing
(`trackstack_wh.sink.batch`); file ingest applies the same policy, set-based, in the
INSERT into ``events``: ``truncate`` (the default) keeps an IPv4 address's /24 and an
IPv6 address's /48 (an IPv4-mapped IPv6 address counts as IPv4; anything that is not an
IP address is dropped), ``full`` keeps the value as sent, ``drop`` stores NULL. An event's
project is its ``projectId`` (set by the sink), else the project whose key its
``projectKey`` is; a project without its own policy, and an event naming none, follow
``workspace.client_ip``. A ``projectKey`` is a key: only a fingerprint of it is stored.

`IP_MACROS` defines ``ts_truncate_ip(text)`` on a connection; it gives the same text as
the sink's Python ``truncate_ip`` (tests compare the two). Truncating twice changes
nothing, so landing segments (already truncated by the sink) load unchanged.
"""

from __future__ import annotations

from trackstack_wh.config.ingest import ClientIpPolicy

_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
"""A dotted-quad IPv4 address (no leading zeros, as Python's ``ipaddress`` requires)."""
_SPACE = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"

IP_MACROS = f"""
create or replace temp macro ts_ip6_text(s) as (
    case when not contains(s, '.') then s
         when regexp_full_match(s, '.*:{IPV4}')
         then list_transform([string_split(regexp_extract(s, '[^:]*$'), '.')], lambda q:
             regexp_extract(s, '^(.*:)', 1)
             || printf('%x:%x', q[1]::int * 256 + q[2]::int, q[3]::int * 256 + q[4]::int))[1]
    end
);
create or replace temp macro ts_ip6_filled(parts) as (
    list_transform([[
        case when parts[1] = '' then []::varchar[] else string_split(parts[1], ':') end,
        case when parts[2] = '' then []::varchar[] else string_split(parts[2], ':') end
    ]], lambda q: case when len(parts) = 2 and len(q[1]) + len(q[2]) <= 7
        then q[1] || list_transform(range(8 - len(q[1]) - len(q[2])), lambda i: '0') || q[2]
    end)[1]
);
create or replace temp macro ts_ip6_hextets(text) as (
    list_transform([
        case when text is null or not regexp_full_match(text, '[0-9a-f:]+')
                  or contains(text, ':::') then null
             when contains(text, '::') then ts_ip6_filled(string_split(text, '::'))
             else string_split(text, ':')
        end
    ], lambda g: case when len(g) = 8 and list_bool_and(
            list_transform(g, lambda x: regexp_full_match(x, '[0-9a-f]{{1,4}}')))
        then list_transform(g, lambda x: ('0x' || x)::integer)
    end)[1]
);
create or replace temp macro ts_ip6_truncated(hextets) as (
    list_transform([hextets], lambda h: case when h is null then null
         when h[1] = 0 and h[2] = 0 and h[3] = 0 and h[4] = 0 and h[5] = 0 and h[6] = 65535
         then printf('%d.%d.%d.0', h[7] // 256, h[7] % 256, h[8] // 256)
         when h[3] <> 0 then printf('%x:%x:%x::', h[1], h[2], h[3])
         when h[2] <> 0 then printf('%x:%x::', h[1], h[2])
         when h[1] <> 0 then printf('%x::', h[1])
         else '::'
    end)[1]
);
create or replace temp macro ts_truncate_ip_any(raw) as (
    list_transform([trim(raw, {_SPACE})], lambda t:
        case when regexp_full_match(t, '{IPV4}') then regexp_replace(t, '\\.[0-9]+$', '.0')
             when contains(t, ':') then ts_ip6_truncated(ts_ip6_hextets(ts_ip6_text(
                 regexp_replace(lower(t), '%[^%/]+$', ''))))
        end)[1]
);
create or replace temp macro ts_truncate_ip(raw) as (
    case when regexp_full_match(raw, '{IPV4}') then regexp_replace(raw, '\\.[0-9]+$', '.0')
         else ts_truncate_ip_any(raw) end
);
"""
"""``ts_truncate_ip(text)``: an IP's /24 (IPv4) or /48 (IPv6) as text, NULL if not an IP."""

KEY_PROJECT = """coalesce(s.project_id,
    ($key_projects::varchar[])[list_position($key_hashes::varchar[], sha256(s.project_key))])"""
"""SQL over a staged row ``s``: its project, set by the sink, else the project whose key
its ``projectKey`` is (compared by SHA-256: the keys never reach SQL)."""

REDACTED_KEY = "[redacted-key]"
"""What the sink writes in place of a key (`trackstack_wh.sink.redact`)."""

STORED_KEY = f"""case when s.project_key is null or s.project_key = '{REDACTED_KEY}'
    then s.project_key else 'sha256:' || left(sha256(s.project_key), 16) end"""
"""SQL over a staged row ``s``: what is stored of its ``projectKey``, a key: a short
fingerprint (usage of an unknown project still groups by it), never the key."""

STORED_IP = """case coalesce(
        ($ip_policies::varchar[])[list_position($ip_projects::varchar[], s.project_id)],
        $ip_default)
    when 'full' then s.client_ip
    when 'drop' then null
    else ts_truncate_ip(s.client_ip) end"""
"""SQL over a staged row ``s`` whose ``project_id`` is `KEY_PROJECT`: its client IP as
the policy of its project allows storing it."""


def project_rows(staged: str) -> str:
    """The rows of query ``staged`` with their project resolved (`KEY_PROJECT`) and their
    key replaced by its fingerprint (`STORED_KEY`)."""
    resolved = f"select * replace ({KEY_PROJECT} as project_id) from ({staged}) s"
    return f"select * replace ({STORED_KEY} as project_key) from ({resolved}) s"


def key_params(policy: ClientIpPolicy) -> dict[str, object]:
    """The parameters `KEY_PROJECT` takes."""
    hashes, projects = policy.key_hashes()
    return {"key_hashes": hashes, "key_projects": projects}


def ip_params(policy: ClientIpPolicy) -> dict[str, object]:
    """The parameters `project_rows` and `STORED_IP` take."""
    return {
        "ip_default": policy.default.value,
        "ip_projects": [project for project, _ in policy.projects],
        "ip_policies": [p.value for _, p in policy.projects],
        **key_params(policy),
    }
