"""OpenAI-compatible HTTP backend (vLLM, llama.cpp server, TGI, OpenAI) on aiohttp.

Requests run on an asyncio loop in a background thread, at most ``concurrency`` at a time,
spread over one or more base URLs (the one with the fewest requests in flight; a retry goes
to another URL when there is one). A 429, a 5xx, a timeout, a dropped connection or a body
that is not the API's JSON is retried with exponential backoff and full jitter (honouring
``Retry-After``); any other 4xx is a mistake in the request and fails at once. A request
that still fails after ``max_retries`` raises :class:`Phi1Error`; what finished before it
has already been handed out, so callers keep it.

The API key comes from the environment (``$OPENAI_API_KEY`` unless ``api_key_env`` names
another variable); it is never written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from phi1.errors import Phi1Error
from phi1.llm.base import LLM, Completion, Request, check_messages

_RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx


class _Retryable(Exception):
    """One failed attempt worth repeating."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIHTTPLLM(LLM):
    """Client for one or more OpenAI-compatible servers.

    Args:
        base_urls: base URLs ending in ``/v1`` (``http://host:8000/v1``); several are
            load-balanced.
        model: the model name to request; default: the first one ``GET /models`` lists.
        api_key_env: environment variable holding the API key (sent as a Bearer token).
        concurrency: most requests in flight at once, over all URLs.
        timeout: seconds one attempt may take before it is abandoned and retried.
        max_retries: attempts after the first before a request fails.
        backoff: seconds of the first backoff; attempt k waits up to ``backoff * 2**k``.
        max_backoff: the cap on one backoff wait.
        price_per_million: (input, output) price per million tokens, for ``usage.cost``.
    """

    def __init__(
        self,
        base_urls: str | list[str],
        *,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 64,
        timeout: float = 600.0,
        max_retries: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        price_per_million: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self.base_urls = [u.rstrip("/") for u in urls if u.strip()]
        if not self.base_urls:
            raise Phi1Error("OpenAI backend: no base URL given")
        for u in self.base_urls:
            if not u.startswith(("http://", "https://")):
                raise Phi1Error(f"OpenAI backend: {u!r} is not an http(s):// URL")
        if concurrency < 1:
            raise Phi1Error(f"OpenAI backend: concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.price_per_million = tuple(price_per_million) if price_per_million else None
        if self.price_per_million is not None:
            self.usage.cost = 0.0
        self._inflight = {u: 0 for u in self.base_urls}
        self._turn = 0
        # Jitter only spreads retries in time; it never touches generated data, so it is
        # deliberately unseeded (clients started together must not retry in lockstep).
        self._jitter = random.Random()
        self._rt: _Runtime | None = None
        self._start_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_rt"] = state["_start_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start_lock = threading.Lock()

    @property
    def instruct(self) -> bool:
        """Served models are taken to be instruct models (chat completions)."""
        return True

    def identity(self) -> dict[str, Any]:
        """Backend, model name (asked of the server when not given) and base URLs."""
        if self.model is None:
            loop = self._ensure_loop()
            asyncio.run_coroutine_threadsafe(self._get_session(), loop).result()
        return {"backend": "openai", "model": self.model, "base_urls": list(self.base_urls)}

    # -- the background loop ----------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._rt is None:
                self._rt = _Runtime()
                # Closed when this object is collected, even if close() is never called.
                weakref.finalize(self, self._rt.shutdown)
        return self._rt.loop

    async def _get_session(self) -> Any:
        assert self._rt is not None
        if self._rt.session is None:
            import aiohttp

            headers = {"Content-Type": "application/json"}
            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._rt.session = aiohttp.ClientSession(
                headers=headers,
                connector=aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
            self._rt.sem = asyncio.Semaphore(self.concurrency)
        if self.model is None:
            self.model = await self._discover_model()
        return self._rt.session

    async def _discover_model(self) -> str:
        import aiohttp

        errors = []
        for url in self.base_urls:
            try:
                async with self._rt.session.get(f"{url}/models") as resp:
                    if resp.status == 200:
                        data = await resp.json(content_type=None)
                        return str(data["data"][0]["id"])
                    errors.append(f"{url}/models: HTTP {resp.status}")
            except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, IndexError, TypeError,
                    ValueError) as e:  # fmt: skip
                errors.append(f"{url}/models: {_describe(e)}")
        raise Phi1Error("could not learn the model name (pass model=...): " + "; ".join(errors))

    def close(self) -> None:
        rt, self._rt = self._rt, None
        if rt is not None:
            rt.shutdown()

    # -- streaming --------------------------------------------------------------------

    def stream(self, requests: Iterable[Request]) -> Iterator[tuple[int, Completion]]:
        loop = self._ensure_loop()
        out: queue.SimpleQueue = queue.SimpleQueue()
        state: dict[str, Any] = {}
        window = self.concurrency * 4

        async def setup() -> None:
            state["credits"] = asyncio.Semaphore(window)

        asyncio.run_coroutine_threadsafe(setup(), loop).result()
        task = asyncio.run_coroutine_threadsafe(self._produce(requests, out, state), loop)
        credits = state["credits"]
        try:
            while True:
                items = [out.get()]
                try:
                    while True:
                        items.append(out.get_nowait())
                except queue.Empty:
                    pass
                got = sum(1 for kind, _ in items if kind == "ok")
                if got:
                    loop.call_soon_threadsafe(_release, credits, got)
                for kind, value in items:
                    if kind == "ok":
                        yield value
                    elif kind == "error":
                        raise value
                    else:
                        return
        finally:
            if not task.done():
                task.cancel()
            try:
                task.result(30)
            except BaseException:  # cancelled, or its error was raised above
                pass

    async def _produce(self, requests: Iterable[Request], out: queue.SimpleQueue, state) -> None:
        # Each request is a task that hands its own result to the consumer when it ends, so
        # the cost per request does not grow with the number in flight. ``credits`` bounds
        # the requests started but not yet consumed (a slow consumer holds back new ones).
        credits: asyncio.Semaphore = state["credits"]
        tasks: set[asyncio.Task] = set()
        failure: list[BaseException] = []

        def finished(task: asyncio.Task) -> None:
            tasks.discard(task)
            if task.cancelled():
                return
            error = task.exception()
            if error is None:
                out.put(("ok", task.result()))
            elif not failure:
                failure.append(error)
                for t in tasks:
                    t.cancel()
                credits.release()  # wake the producer if it waits for credit: it must stop

        try:
            await self._get_session()
            for i, request in enumerate(requests):
                await credits.acquire()
                if failure:
                    break
                task = asyncio.ensure_future(self._one(i, request))
                tasks.add(task)
                task.add_done_callback(finished)
            while tasks:
                await asyncio.wait(set(tasks))
            if failure:
                raise failure[0]
            out.put(("end", None))
        except BaseException as e:
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if isinstance(e, asyncio.CancelledError):
                raise
            if not isinstance(e, Phi1Error):
                e = Phi1Error(f"OpenAI backend: {_describe(e)}")
            out.put(("error", e))

    def _pick(self, avoid: str | None) -> str:
        urls = self.base_urls
        if avoid is not None and len(urls) > 1:
            urls = [u for u in urls if u != avoid]
        self._turn += 1
        k = len(urls)
        # Fewest in flight; ties go round-robin so idle servers share the work evenly.
        return min((urls[(self._turn + j) % k] for j in range(k)), key=lambda u: self._inflight[u])

    async def _one(self, index: int, request: Request) -> tuple[int, Completion]:
        p = request.params
        if request.is_chat:
            check_messages(request.messages, f"request {index}")  # type: ignore[arg-type]
        texts: list[str] = []
        reasons: list[str] = []
        prompt_tokens = completion_tokens = 0
        # A server that ignores n (llama.cpp's) answers one sample; ask again for the rest.
        while len(texts) < p.n:
            body: dict[str, Any] = {
                "model": self.model,
                "max_tokens": p.max_tokens,
                "temperature": p.temperature,
                "top_p": p.top_p,
                "n": p.n - len(texts),
                "seed": p.seed + len(texts),
            }
            if p.stop:
                body["stop"] = list(p.stop)
            if request.is_chat:
                body["messages"] = request.messages
                if request.prefill:  # vLLM's way (also SGLang's) to continue a reply
                    prefill = {"role": "assistant", "content": request.prefill}
                    body["messages"] = [*request.messages, prefill]  # type: ignore[misc]
                    body["continue_final_message"] = True
                    body["add_generation_prompt"] = False
                path = "/chat/completions"
            else:
                body["prompt"] = request.prompt
                path = "/completions"
            data = await self._post(index, path, body)
            try:
                choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
                for c in choices[: p.n - len(texts)]:
                    text = c["message"]["content"] if request.is_chat else c["text"]
                    texts.append(text or "")
                    reasons.append(c.get("finish_reason") or "stop")
                usage = data.get("usage") or {}
                prompt_tokens = prompt_tokens or int(usage.get("prompt_tokens") or 0)
                completion_tokens += int(usage.get("completion_tokens") or 0)
            except (KeyError, TypeError, ValueError) as e:
                raise Phi1Error(
                    f"request {index}: unexpected answer shape ({_describe(e)})"
                ) from None
            if not choices:
                raise Phi1Error(f"request {index}: the server answered no choices")
        completion = Completion(texts, reasons, prompt_tokens, completion_tokens)
        self.usage.add(completion, self.price_per_million)  # type: ignore[arg-type]
        return index, completion

    async def _post(self, index: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import aiohttp

        last_url: str | None = None
        for attempt in range(self.max_retries + 1):
            url = self._pick(last_url)
            last_url = url
            retry_after: float | None = None
            try:
                async with self._rt.sem:  # type: ignore[union-attr]
                    self._inflight[url] += 1
                    try:
                        return await self._attempt(url + path, body)
                    finally:
                        self._inflight[url] -= 1
            except _Retryable as e:
                error, retry_after = f"{url}{path}: {e}", e.retry_after
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                error = f"{url}{path}: {_describe(e)}"
            if attempt == self.max_retries:
                raise Phi1Error(
                    f"request {index} failed after {attempt + 1} attempts; last error: {error}"
                )
            self.usage.add_retry()
            wait = self._jitter.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
            if retry_after is not None:
                wait = max(wait, min(retry_after, self.max_backoff))
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _attempt(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._rt.session.post(url, data=json.dumps(body)) as resp:  # type: ignore[union-attr]
            raw = await resp.read()
            if resp.status == 200:
                try:
                    data = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise _Retryable(f"malformed body ({raw[:80]!r})") from None
                if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
                    raise _Retryable(f"malformed body ({raw[:80]!r})")
                return data
            message = raw[:300].decode("utf-8", "replace")
            if resp.status in _RETRY_STATUS or resp.status >= 500:
                raise _Retryable(f"HTTP {resp.status}", _retry_after(resp.headers))
            hint = ""
            if resp.status in (401, 403):
                hint = f" (is ${self.api_key_env} set to a valid key?)"
            raise Phi1Error(f"{url}: HTTP {resp.status}{hint}: {message}")


class _Runtime:
    """The event loop thread and HTTP session one client owns."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.session: Any = None
        self.sem: asyncio.Semaphore | None = None
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="phi1-openai-http", daemon=True
        )
        self.thread.start()

    def shutdown(self) -> None:
        if self.loop.is_closed():
            return

        async def close_session() -> None:
            if self.session is not None:
                await self.session.close()
                self.session = None

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(close_session(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
        self.loop.close()


def _release(sem: asyncio.Semaphore, k: int) -> None:
    for _ in range(k):
        sem.release()


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(e: BaseException) -> str:
    text = str(e).strip()
    name = type(e).__name__
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return f"{name}: {text}" if text else name
