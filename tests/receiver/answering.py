"""Answering one request in the order the package docstring gives: delay, drop,
faults, then the platform; and recording what was received."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .base import Platform
from .faults import ALL, Always, Delay, Drop, EchoCredential, Every, Fault, echo_forms
from .messages import Answer, Call, RecordedRequest, _json, _parse_body


@dataclass
class _Outcome:
    answer: Answer | None
    """None: close the connection without answering."""
    record: RecordedRequest


class _Answering:
    """``Receiver``'s answering half (it uses the state ``Receiver.__init__`` sets)."""

    def _take(self, destination: str) -> tuple[int, float, Drop | None, list[Fault], list[Fault]]:
        """Count the request; its number, delay, drop and the answering faults (the
        destination's, then those for all)."""
        with self._lock:
            self._seq[destination] += 1
            seq = self._seq[destination]
            mine = list(self._faults.get(destination, []))
            everyone = list(self._faults.get(ALL, []))
            delay = 0.0
            drop: Drop | None = None
            for fault in (*mine, *everyone):
                if isinstance(fault, Delay) and (fault.times is None or fault.times > 0):
                    delay = max(delay, fault.seconds)
                    if fault.times is not None:
                        fault.times -= 1
                elif isinstance(fault, Drop) and fault.times > 0 and drop is None:
                    fault.times -= 1
                    drop = fault
        answering = (Every, Always, EchoCredential)
        return (
            seq,
            delay,
            drop,
            [f for f in mine if isinstance(f, answering)],
            [f for f in everyone if isinstance(f, answering)],
        )

    def handle(self, call: Call) -> _Outcome:
        """Answer one request (see the package docstring for the order)."""
        started = time.perf_counter()
        platform = self._platforms.get(call.destination)
        kind = platform.route(call) if platform is not None else None
        if platform is not None and kind in platform.check_kinds:
            return self._check(platform, call, kind, started)
        seq, delay, drop, mine, everyone = self._take(call.destination)
        record = RecordedRequest(
            seq,
            call.destination,
            None,
            call.method,
            call.path,
            call.query,
            call.headers,
            call.body if self.keep_bodies else b"",
            received_at=time.time(),
        )
        if delay:
            self._closing.wait(delay)
        if drop is not None and not drop.after_processing:
            record.fault = "drop"
            return self._finish(record, None, [], started)
        answer, written = self._fault_answer(seq, mine, everyone, call, platform, record)
        if answer is None:
            if platform is None:
                answer = _json(404, {"error": f"unknown destination {call.destination!r}"})
            else:
                answer, written = self._platform_answer(platform, call, record)
        if platform is not None and platform.name == "salesforce":
            answer = self._with_limit_info(answer)
        if drop is not None:
            record.fault = "drop"
            return self._finish(record, None, written, started)
        return self._finish(record, answer, written, started)

    def _fault_answer(
        self,
        seq: int,
        mine: list[Fault],
        everyone: list[Fault],
        call: Call,
        platform: Platform | None,
        record: RecordedRequest,
    ) -> tuple[Answer | None, list[bool]]:
        """The answering fault's answer (None when none applies) and the written flags."""
        chosen = next(
            (f for f in (*mine, *everyone) if isinstance(f, Every) and seq % f.n == 0), None
        )
        if chosen is None:
            standing = [f for f in mine if not isinstance(f, Every)] or [
                f for f in everyone if not isinstance(f, Every)
            ]
            chosen = standing[-1] if standing else None
        if chosen is None:
            return None, []
        if isinstance(chosen, EchoCredential):
            answer = self._echo(chosen, call, platform)
            record.fault = "echo_credential"
        else:
            assert isinstance(chosen, Every | Always)
            answer = chosen.answer
            record.fault = "every" if isinstance(chosen, Every) else "always"
        if platform is None or not platform.fault_accepted(answer):
            return answer, []
        return answer, self._elements_of(platform, call, record)

    def _elements_of(self, platform: Platform, call: Call, record: RecordedRequest) -> list[bool]:
        """The elements of a request a fault answered with success (all count)."""
        kind = platform.route(call)
        record.kind = kind
        if kind is None:
            return []
        try:
            call.doc = _parse_body(call)
        except ValueError:
            return []
        elements = platform.elements(kind, call) or []
        record.elements = len(elements)
        record.keys = [platform.key(kind, e, call) for e in elements]
        return [True] * len(elements)

    def _echo(self, fault: EchoCredential, call: Call, platform: Platform | None) -> Answer:
        tokens = [t for t in self._credentials(call, platform) if t]
        first = tokens[0] if tokens else ""
        message = f"Invalid OAuth access token - Cannot parse access token: {first}"
        if fault.as_text:
            lines = [message]
            for token in tokens:
                lines += [f"{name}: {value}" for name, value in echo_forms(token).items()]
            return Answer(fault.status, ("\n".join(lines) + "\n").encode(), "text/plain")
        forms = [echo_forms(t) for t in tokens]
        extra = "; ".join(f"url-encoded: {f['url']}; base64: {f['base64']}" for f in forms)
        message = f"{message} ({extra})" if extra else message
        if platform is None:
            return _json(fault.status, {"error": message})
        return _json(fault.status, platform.error_doc(fault.status, message, None))

    def _credentials(self, call: Call, platform: Platform | None) -> list[str | None]:
        """Every credential the request carried, first the platform's own."""
        found: list[str | None] = []
        if platform is not None:
            kind = platform.route(call) or ""
            if platform.name == "meta":
                try:
                    call.doc = _parse_body(call)
                except ValueError:
                    call.doc = None
            found += platform.credentials(call, kind).values()
        found += [
            call.bearer(),
            call.param("access_token"),
            call.header("access-token"),
            call.header("developer-token"),
        ]
        return list(dict.fromkeys(found))

    def _platform_answer(
        self, platform: Platform, call: Call, record: RecordedRequest
    ) -> tuple[Answer, list[bool]]:
        kind = platform.route(call)
        record.kind = kind
        if kind is None:
            return platform.error(404, f"No route for {call.method} {call.path}", "NOT_FOUND"), []
        record.version = version = platform.version(call)
        with self._lock:
            refused = self._refused.get(call.destination, {})
            if version is not None and version in refused:
                return refused[version] or platform.version_error(version), []
        try:
            call.doc = _parse_body(call) if call.method != "GET" else None
        except ValueError:
            call.doc = None
            if call.body:
                return platform.error(400, "The request body is not valid JSON"), []
        missing = [n for n, v in platform.credentials(call, kind).items() if not v]
        if missing:
            return platform.auth_error(missing[0]), []
        if platform.name == "salesforce":
            with self._lock:
                usage = self.salesforce_usage + self._sf_count + 1
            if usage > self.salesforce_daily_max:
                message = "TotalRequests Limit exceeded."
                return platform.error(403, message, "REQUEST_LIMIT_EXCEEDED"), []
            if kind == "limits":
                return self._limits(usage), []
        elements = platform.elements(kind, call)
        if elements is None:
            return platform.error(400, "The request body is not in the documented shape"), []
        record.elements = len(elements)
        limit = platform.batch_limit(kind, call)
        if limit is not None and len(elements) > limit:
            return platform.too_many(kind, len(elements), limit), []
        record.keys = [platform.key(kind, e, call) for e in elements]
        refusal = platform.check(kind, call, elements)
        if refusal is not None:
            return refusal, []
        with self._lock:
            known = set(self._known.get(call.destination, ()))
        answer, written = platform.accept(kind, call, elements, record.keys, known)
        if platform.validate_only(kind, call):
            written = [False] * len(written)
        return answer, written

    def _check(self, platform: Platform, call: Call, kind: str, started: float) -> _Outcome:
        """A credential check: no delay, fault or request number; recorded."""
        record = RecordedRequest(0, call.destination, kind, call.method, call.path, call.query,
                                 call.headers, b"", received_at=time.time())  # fmt: skip
        record.version = platform.version(call)
        missing = [n for n, v in platform.credentials(call, kind).items() if not v]
        if missing:
            answer = platform.auth_error(missing[0])
        elif platform.name == "salesforce":
            answer = self._platform_answer(platform, call, record)[0]
        else:
            answer = platform.whoami(call)
        if platform.name == "salesforce":
            answer = self._with_limit_info(answer)
        return self._finish(record, answer, [], started)

    def _limits(self, usage: int) -> Answer:
        cap = self.salesforce_daily_max
        doc = {"DailyApiRequests": {"Max": cap, "Remaining": max(0, cap - usage)}}
        return _json(200, doc)

    def _with_limit_info(self, answer: Answer) -> Answer:
        with self._lock:
            self._sf_count += 1
            usage = self.salesforce_usage + self._sf_count
        info = ("Sforce-Limit-Info", f"api-usage={usage}/{self.salesforce_daily_max}")
        return Answer(answer.status, answer.body, answer.content_type, (*answer.headers, info))

    def _finish(
        self, record: RecordedRequest, answer: Answer | None, written: list[bool], started: float
    ) -> _Outcome:
        record.status = None if answer is None else answer.status
        record.answer = b"" if answer is None or not self.keep_bodies else answer.body
        keys = [k for k, w in zip(record.keys, written, strict=False) if w]
        record.written = len(keys)
        record.seconds = time.perf_counter() - started
        with self._lock:
            self._requests.setdefault(record.destination, []).append(record)
            self._received.setdefault(record.destination, []).extend((record.kind, k) for k in keys)
            self._known.setdefault(record.destination, set()).update(keys)
        return _Outcome(answer, record)
