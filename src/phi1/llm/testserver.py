"""A small OpenAI-compatible server on loopback that misbehaves on purpose.

It answers ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/completions``
with real HTTP (aiohttp.web), either from a real model (any :class:`~phi1.llm.base.LLM`,
e.g. SmolLM2 through llama.cpp) or with a deterministic echo, and injects the faults a
fleet of real servers produces: 429s, 500s, slow answers, dropped connections and
malformed bodies. Which request gets which fault is drawn from a seeded ``random.Random``,
so a run is reproducible, and every injected fault is counted, so a test can check that
the client retried each one.

Use it to test a pipeline against an HTTP backend without a GPU::

    with serve(faults=Faults(rate_429=0.1, rate_500=0.1, seed=1)) as server:
        llm = load_llm(server.url)

or from a shell: ``python -m phi1.llm.testserver --port 8000 --model smollm2-135m-instruct``.
Not a production server: one model call at a time, no auth, no streaming.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiohttp import web

from phi1.errors import Phi1Error
from phi1.llm.base import LLM, Completion, GenParams, Request


@dataclass
class Faults:
    """How often each fault is injected (probabilities per request, drawn from ``seed``)."""

    rate_429: float = 0.0
    """Answer 429 Too Many Requests (with ``Retry-After: 0``)."""
    rate_500: float = 0.0
    """Answer 500 Internal Server Error."""
    rate_slow: float = 0.0
    """Wait ``slow_seconds`` before answering (a client timeout shorter than that retries)."""
    slow_seconds: float = 5.0
    rate_drop: float = 0.0
    """Close the connection without answering."""
    rate_malformed: float = 0.0
    """Answer 200 with a body that is not the API's JSON."""
    always: str | None = None
    """Inject this fault on every request: "429", "500", "drop", "malformed" or "slow"..."""
    after: int = 0
    """...once this many requests have been served (an endpoint that goes down for good)."""
    seed: int = 0

    def draw(self, rng: random.Random, served: int = 0) -> str | None:
        if self.always and served >= self.after:
            return self.always
        x = rng.random()
        for name, rate in (
            ("429", self.rate_429),
            ("500", self.rate_500),
            ("slow", self.rate_slow),
            ("drop", self.rate_drop),
            ("malformed", self.rate_malformed),
        ):
            if x < rate:
                return name
            x -= rate
        return None


def echo_answer(request: Request) -> Completion:
    """A deterministic answer: the last user message (or the prompt) echoed back."""
    source = request.messages[-1]["content"] if request.messages else request.prompt or ""
    text = f"echo: {source}"
    words = len(source.split())
    p = request.params
    texts = [text if k == 0 else f"{text} [{k}]" for k in range(p.n)]
    return Completion(texts, ["stop"] * p.n, words, len(text.split()) * p.n)


class TestServer:
    """The server's state: where it listens and what it has seen and injected."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        answer: Callable[[Request], Completion] | LLM | None = None,
        faults: Faults | None = None,
        model: str = "phi1-test",
    ) -> None:
        self.faults = faults or Faults()
        self.model = model
        self.counts: Counter[str] = Counter()
        self.auth_headers: set[str] = set()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        if isinstance(answer, LLM):
            llm = answer

            def answer(request: Request) -> Completion:
                with self._lock:
                    return next(iter(llm.stream([request])))[1]

            self._blocking = True
        else:
            self._blocking = False
        self._answer = answer or echo_answer
        self.url = ""

    @property
    def injected(self) -> int:
        """How many faults were injected in all."""
        return sum(v for k, v in self.counts.items() if k.startswith("fault_"))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=False)

    async def _serve(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        fault = self.faults.draw(self._rng, self.counts["requests"])
        self.counts["requests"] += 1
        self.auth_headers.add(request.headers.get("Authorization", ""))
        if fault:
            self.counts[f"fault_{fault}"] += 1
        if fault == "429":
            return web.json_response(
                {"error": {"message": "rate limited"}}, status=429, headers={"Retry-After": "0"}
            )
        if fault == "500":
            return web.json_response({"error": {"message": "injected failure"}}, status=500)
        if fault == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        try:
            raw = await request.read()
        except ConnectionResetError:  # the client gave up on this request
            return web.Response(status=499)
        try:
            body = json.loads(raw)
            params = GenParams(
                max_tokens=int(body.get("max_tokens") or 256),
                temperature=float(body.get("temperature", 0.0)),
                top_p=float(body.get("top_p", 1.0)),
                n=int(body.get("n", 1)),
                stop=tuple(body.get("stop") or ()),
                seed=int(body.get("seed", 0)),
            )
            messages, prefill = body.get("messages"), ""
            if chat and body.get("continue_final_message") and messages[-1]["role"] == "assistant":
                messages, prefill = messages[:-1], messages[-1]["content"]  # a reply to go on
            req = (
                Request(messages=messages, params=params, prefill=prefill)
                if chat
                else Request(prompt=body["prompt"], params=params)
            )
        except (KeyError, TypeError, ValueError, json.JSONDecodeError, Phi1Error) as e:
            return web.json_response({"error": {"message": f"bad request: {e}"}}, status=400)
        if body.get("model") != self.model:
            message = f"model {body.get('model')!r} does not exist; this server has {self.model!r}"
            return web.json_response({"error": {"message": message}}, status=404)
        if fault == "drop":
            # A crash mid-request: the connection closes with no answer at all.
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if self._blocking:
            out = await asyncio.get_running_loop().run_in_executor(None, self._answer, req)
        else:
            out = self._answer(req)
        if fault == "malformed":
            return web.Response(text='{"choices": [{"mess', content_type="application/json")
        choices = [
            {"index": k, "finish_reason": reason}
            | ({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            for k, (text, reason) in enumerate(zip(out.texts, out.finish_reasons, strict=True))
        ]
        self.counts["answered"] += 1
        return web.json_response(
            {
                "object": "chat.completion" if chat else "text_completion",
                "model": self.model,
                "choices": choices,
                "usage": {
                    "prompt_tokens": out.prompt_tokens,
                    "completion_tokens": out.completion_tokens,
                    "total_tokens": out.prompt_tokens + out.completion_tokens,
                },
            }
        )


@contextmanager
def serve(
    answer: Callable[[Request], Completion] | LLM | None = None,
    faults: Faults | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[TestServer]:
    """Run a :class:`TestServer` in a background thread; ``server.url`` ends in ``/v1``."""
    server = TestServer(answer, faults)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        server.url = f"http://{host}:{sock.getsockname()[1]}/v1"

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="phi1-testserver", daemon=True)
    thread.start()
    ready.wait(30)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--model", help="answer with this model (a load_llm spec; default: echo)")
    for name in ("429", "500", "slow", "drop", "malformed"):
        ap.add_argument(f"--rate-{name}", type=float, default=0.0)
    ap.add_argument("--slow-seconds", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    faults = Faults(
        rate_429=args.rate_429,
        rate_500=args.rate_500,
        rate_slow=args.rate_slow,
        slow_seconds=args.slow_seconds,
        rate_drop=args.rate_drop,
        rate_malformed=args.rate_malformed,
        seed=args.seed,
    )
    answer = None
    if args.model:
        from phi1.llm import load_llm

        answer = load_llm(args.model)
    server = TestServer(answer, faults)
    server.url = f"http://{args.host}:{args.port}/v1"
    print(f"serving {server.url}", flush=True)
    web.run_app(server.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
