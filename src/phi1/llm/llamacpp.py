"""In-process llama.cpp over a GGUF file (``llama-cpp-python``): the embedded default backend.

Chat prompts are rendered with the GGUF's own chat template (``tokenizer.chat_template``,
the same Jinja the model was trained with: ChatML for Qwen2.5 and SmolLM2), never a
guessed built-in format. Generation ends at the model's end-of-generation tokens
(``<|im_end|>``, ``<|endoftext|>``: llama.cpp's EOG set) or a user stop string.

One llama.cpp context answers one request at a time; requests are served in order under a
lock. The model loads on first use, so an unused backend costs nothing and pickles.

A sampling request with ``n > 1`` (k candidate solutions of one exercise) is decoded as
``n`` parallel sequences in one batch (:class:`ParallelDecoder`): the prompt is evaluated
once, its KV cache shared by every sequence (``llama_memory_seq_cp`` in a unified cache),
and each step decodes one token of every live sequence in one ``llama_decode`` call, so
the weights are read once per step for all of them. Each sequence samples with its own
chain (top-k, top-p, min-p, temperature, then a draw seeded ``seed + k``), the chain
``create_completion`` builds. A greedy request with ``n > 1`` is decoded once and copied.

The template's own control tokens (``<|im_start|>``) are parsed as such; the text of the
messages is not. A message (a code file being judged, an exercise's prefill) that contains
the text ``<|im_end|>`` or ``<|endoftext|>`` reaches the model as those characters, not as
the control token that would end the turn: :meth:`LlamaCppLLM.render_chat` returns a
:class:`ChatText` that remembers such messages, and :meth:`LlamaCppLLM.tokenize` reads them
with special tokens off (where the template wrote a message as it is, as ChatML does).
llama-cpp-python's own chat completion, transformers' ``apply_chat_template`` and the
OpenAI-compatible servers parse them, so a server-backed judge still does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.llm.base import LLM, Completion, GenParams, Request, check_messages, cut_at_stop


def default_threads() -> int:
    """``$PHI1_LLAMA_THREADS``, else the cores idle now (>= 1).

    "Now" is a quarter-second sample of /proc/stat, not the load average: the load average
    remembers the last minute, so a stage that just used every core (``phi1 run`` filtering
    before writing textbooks) would leave the next one a single thread on an idle machine.
    More threads than idle cores makes llama.cpp many times slower, not a little."""
    env = os.environ.get("PHI1_LLAMA_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise Phi1Error(f"PHI1_LLAMA_THREADS={env!r}: expected a whole number") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    idle = _idle_cores(cores)
    if idle is None:
        try:
            idle = cores - os.getloadavg()[0]
        except OSError:
            idle = cores
    return max(1, min(cores, round(idle)))


def _idle_cores(cores: int, interval: float = 0.25) -> float | None:
    """Cores' worth of idle time over ``interval`` seconds (Linux /proc/stat), or None."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]  # total (no guest time), idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    online = os.cpu_count() or cores  # /proc/stat counts every online CPU
    return min(cores, (idle1 - idle0) / (total1 - total0) * online)


def chat_renderer(llama: Any, path: Path | str, name: str) -> Any:
    """``render(messages) -> str`` with the chat template of a loaded GGUF (``llama``, a
    ``llama_cpp.Llama``), rendered the way Hugging Face renders chat templates."""
    source = llama.metadata.get("tokenizer.chat_template")
    if not source:
        raise Phi1Error(f"{path}: the GGUF has no chat template; use complete() for plain text")
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    template = env.from_string(source)

    def raise_exception(message: str) -> None:
        raise Phi1Error(f"{name}: chat template refused the conversation: {message}")

    def token_text(token: int) -> str:
        return llama._model.token_get_text(token) if token >= 0 else ""

    def render(messages: list[dict[str, str]]) -> str:
        return template.render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=token_text(llama.token_bos()),
            eos_token=token_text(llama.token_eos()),
            raise_exception=raise_exception,
        )

    return render


class ChatText(str):
    """A rendered chat prompt and the texts in it to tokenize as plain text (``literals``:
    the messages that contain a control token's text). Adding a string keeps them."""

    literals: tuple[str, ...]

    def __new__(cls, text: str, literals: Iterable[str] = ()) -> ChatText:
        self = super().__new__(cls, text)
        self.literals = tuple(literals)
        return self

    def __add__(self, other: str) -> ChatText:
        return ChatText(str(self) + other, self.literals)


def _pieces(text: str, literals: Iterable[str]) -> list[tuple[str, bool]]:
    """``text`` cut into ``(piece, is literal)``: each occurrence of a literal (the longest
    where two start at one place), and the text between."""
    wanted = sorted({lit for lit in literals if lit}, key=len, reverse=True)
    out: list[tuple[str, bool]] = []
    start = 0
    while wanted:
        found = [(i, -len(lit), lit) for lit in wanted if (i := text.find(lit, start)) >= 0]
        if not found:
            break
        at, _, lit = min(found)
        out += [(text[start:at], False), (lit, True)]
        start = at + len(lit)
    out.append((text[start:], False))
    return [(piece, literal) for piece, literal in out if piece]


def tokenize_prompt(llama: Any, text: str, literals: Iterable[str] = ()) -> list[int]:
    """Token ids of a rendered prompt as the model sees it: special tokens parsed, but not
    inside ``literals`` (texts of the messages, read as plain text), a BOS where the GGUF
    asks for one (once, when the template wrote it too)."""
    add_bos = bool(llama._model.add_bos_token())
    pieces = _pieces(text, literals)
    if all(not literal for _, literal in pieces):
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
    else:
        tokens = [llama.token_bos()] if add_bos else []
        for piece, literal in pieces:
            tokens += llama.tokenize(piece.encode("utf-8"), add_bos=False, special=not literal)
    bos = llama.token_bos()
    if len(tokens) >= 2 and tokens[0] == bos and tokens[1] == bos:
        tokens = tokens[1:]  # the template wrote BOS itself
    return tokens


class LlamaCppLLM(LLM):
    """A GGUF model run in this process.

    Args:
        path: the GGUF file.
        name: a display name (the registry name when loaded by name).
        sha256: the file's hash when known (registry models), for :meth:`identity`.
        n_ctx: context window in tokens (prompt + completion).
        n_threads: CPU threads; default: the cores that are idle now (``$PHI1_LLAMA_THREADS``
            overrides). llama.cpp's threads wait on each other by spinning, so asking for
            more threads than idle cores is many times slower, not a little.
        top_k: top-k cut applied when sampling (0 = off, as the OpenAI API).
        min_p: min-p cut applied when sampling (0 = off, as the OpenAI API).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        name: str | None = None,
        sha256: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        top_k: int = 0,
        min_p: float = 0.0,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise Phi1Error(f"{self.path}: no such GGUF file")
        self.name = name or self.path.stem
        self.sha256 = sha256
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.top_k = top_k
        self.min_p = min_p
        self._llama: Any = None
        self._template: Any = None
        self._decoder: ParallelDecoder | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_llama"] = state["_template"] = state["_decoder"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama``, loaded on first use."""
        if self._llama is None:
            from llama_cpp import Llama

            try:
                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as e:
                raise Phi1Error(f"{self.path}: llama.cpp could not load it ({e})") from None
        return self._llama

    def identity(self) -> dict[str, Any]:
        return {
            "backend": "llama.cpp",
            "name": self.name,
            "path": str(self.path),
            "sha256": self.sha256,
        }

    @property
    def instruct(self) -> bool:
        """By name: a model named ``*instruct*``, ``*chat*`` or ``*-it*`` is an instruct model."""
        return any(word in self.name.lower() for word in ("instruct", "chat", "-it"))

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The prompt text the GGUF's chat template makes of ``messages``: a
        :class:`ChatText` that remembers the messages holding a control token's text."""
        check_messages(messages)
        if self._template is None:
            self._template = chat_renderer(self.llama, self.path, self.name)
        text = self._template(messages)
        literals = [m["content"] for m in messages if self.has_control_text(m["content"])]
        return ChatText(text, literals) if literals else text

    def has_control_text(self, text: str) -> bool:
        """Whether ``text`` holds the text of a special token (``<|im_end|>``)."""
        if not text or "<" not in text:  # every special token of the registry's models
            return False
        data = text.encode("utf-8")
        tokenize = self.llama.tokenize
        return tokenize(data, add_bos=False, special=True) != tokenize(
            data, add_bos=False, special=False
        )

    def tokenize(self, text: str) -> list[int]:
        """Token ids as the model sees ``text``: special tokens parsed, except inside the
        messages of a :class:`ChatText`; BOS as the GGUF says."""
        literals = [lit for lit in getattr(text, "literals", ()) if lit in text]
        return tokenize_prompt(self.llama, str(text), literals)

    def stream(self, requests: Iterable[Request]) -> Iterator[tuple[int, Completion]]:
        for i, request in enumerate(requests):
            with self._lock:
                completion = self._generate(request)
            self.usage.add(completion)
            yield i, completion

    def prompt_text(self, request: Request) -> str:
        """The text the model continues: the chat rendered by the GGUF's template (then the
        reply's ``prefill``), or the plain prompt."""
        if request.is_chat:
            text = self.render_chat(request.messages)  # type: ignore[arg-type]
            if self.has_control_text(request.prefill):  # the reply's start is text too
                literals = [*getattr(text, "literals", ()), request.prefill]
                return ChatText(str(text) + request.prefill, literals)
            return text + request.prefill
        return request.prompt or ""

    def _generate(self, request: Request) -> Completion:
        tokens = self.tokenize(self.prompt_text(request))
        p = request.params
        if len(tokens) >= self.n_ctx:
            raise Phi1Error(
                f"{self.name}: prompt of {len(tokens)} tokens does not fit the context window "
                f"(n_ctx={self.n_ctx}); raise n_ctx or shorten the prompt"
            )
        # llama-cpp-python reuses the KV cache of a shared prefix with the previous request
        # and then evaluates the prompt in other batches, which changes the logits slightly
        # and can flip a greedy choice: the answer would depend on what ran before (a
        # resumed run would differ from an uninterrupted one). Start every request afresh.
        self.llama.reset()
        if p.n > 1 and p.temperature > 0:
            texts, reasons, generated = self._parallel().generate(tokens, p)
            return Completion(texts, reasons, len(tokens), generated)
        out = self.llama.create_completion(
            prompt=tokens,
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            stop=list(p.stop),
            seed=p.seed,
            repeat_penalty=1.0,
        )
        choice = out["choices"][0]
        n_out = out["usage"]["completion_tokens"]
        # greedy: every copy is the same text, decoded once
        reason = choice["finish_reason"] or "stop"
        return Completion([choice["text"]] * p.n, [reason] * p.n, len(tokens), n_out * p.n)

    def _parallel(self) -> ParallelDecoder:
        if self._decoder is None:
            self._decoder = ParallelDecoder(
                self.llama, self.n_ctx, self.n_threads, top_k=self.top_k, min_p=self.min_p
            )
        return self._decoder

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        if self._llama is not None:
            self._llama.close()
            self._llama = None


class ParallelDecoder:
    """``n`` samples of one prompt decoded together in a second llama.cpp context of the
    same model (the first keeps serving single requests): the prompt is evaluated once into
    sequence 0 and shared with the others, then every step decodes one token of each live
    sequence in one batch. Sequences that do not fit the context together are decoded in
    groups. Built on llama.cpp's C API as llama-cpp-python exposes it."""

    MAX_SEQUENCES = 16

    def __init__(
        self, llama: Any, n_ctx: int, n_threads: int, *, top_k: int = 0, min_p: float = 0.0
    ) -> None:
        import llama_cpp as lc

        self.lc, self.llama, self.n_ctx = lc, llama, n_ctx
        self.top_k, self.min_p = top_k, min_p
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = min(512, n_ctx)
        params.n_seq_max = self.MAX_SEQUENCES
        params.kv_unified = True  # one cache: the prompt's cells are shared, not copied
        params.n_threads = params.n_threads_batch = n_threads
        self.n_batch = params.n_batch
        self.ctx = lc.llama_init_from_model(llama._model.model, params)
        if self.ctx is None:
            raise Phi1Error("llama.cpp could not create a context for parallel sampling")
        self.memory = lc.llama_get_memory(self.ctx)
        self.vocab = lc.llama_model_get_vocab(llama._model.model)
        self.batch = lc.llama_batch_init(max(self.n_batch, self.MAX_SEQUENCES), 0, 1)

    def close(self) -> None:
        if self.ctx is not None:
            self.lc.llama_batch_free(self.batch)
            self.lc.llama_free(self.ctx)
            self.ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: the library may be gone
            pass

    def generate(self, prompt: list[int], p: GenParams) -> tuple[list[str], list[str], int]:
        """``(texts, finish reasons, tokens generated)`` of the ``p.n`` samples."""
        room = self.n_ctx - len(prompt)
        group = max(1, min(self.MAX_SEQUENCES, room // max(1, p.max_tokens)))
        texts: list[str] = []
        reasons: list[str] = []
        generated = 0
        for start in range(0, p.n, group):
            seeds = [p.seed + k for k in range(start, min(p.n, start + group))]
            t, r, g = self._group(prompt, p, seeds, min(p.max_tokens, room // len(seeds)))
            texts += t
            reasons += r
            generated += g
        return texts, reasons, generated

    def _fill(self, items: list[tuple[int, int, int, bool]]) -> None:
        """Load the batch with ``(token, position, sequence, wants logits)`` rows."""
        b = self.batch
        b.n_tokens = len(items)
        for i, (token, pos, seq, logits) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
            b.seq_id[i][0] = seq

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        self._fill(items)
        code = self.lc.llama_decode(self.ctx, self.batch)
        if code != 0:
            raise Phi1Error(f"llama_decode returned {code} (context of {self.n_ctx} full?)")

    def _prefill(self, prompt: list[int]) -> int:
        """Evaluate the prompt into sequence 0 in chunks; the batch row of its last logits."""
        self.lc.llama_memory_clear(self.memory, True)
        last = 0
        for start in range(0, len(prompt), self.n_batch):
            chunk = prompt[start : start + self.n_batch]
            end = start + len(chunk) == len(prompt)
            self._decode([(t, start + i, 0, end and i == len(chunk) - 1)
                          for i, t in enumerate(chunk)])  # fmt: skip
            last = len(chunk) - 1
        return last

    def _sampler(self, p: GenParams, seed: int) -> Any:
        lc = self.lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        for sampler in (
            lc.llama_sampler_init_top_k(self.top_k),
            lc.llama_sampler_init_top_p(p.top_p, 1),
            lc.llama_sampler_init_min_p(self.min_p, 1),
            lc.llama_sampler_init_temp(p.temperature),
            lc.llama_sampler_init_dist(seed & 0xFFFFFFFF),
        ):
            lc.llama_sampler_chain_add(chain, sampler)
        return chain

    def _group(
        self, prompt: list[int], p: GenParams, seeds: list[int], limit: int
    ) -> tuple[list[str], list[str], int]:
        """Decode ``len(seeds)`` sequences of ``prompt`` together, each up to ``limit``."""
        lc = self.lc
        row = self._prefill(prompt)
        for seq in range(1, len(seeds)):
            lc.llama_memory_seq_cp(self.memory, 0, seq, -1, -1)
        samplers = [self._sampler(p, seed) for seed in seeds]
        out: list[list[int]] = [[] for _ in seeds]
        texts: list[str | None] = [None] * len(seeds)
        reasons = ["length"] * len(seeds)
        rows = dict.fromkeys(range(len(seeds)), row)
        try:
            while rows:
                live = []
                for seq, r in rows.items():
                    token = lc.llama_sampler_sample(samplers[seq], self.ctx, r)
                    if lc.llama_vocab_is_eog(self.vocab, token):
                        reasons[seq] = "stop"
                        continue
                    out[seq].append(token)
                    text = self.llama.detokenize(out[seq]).decode("utf-8", "ignore")
                    if p.stop and cut_at_stop(text, p.stop) != text:
                        texts[seq], reasons[seq] = cut_at_stop(text, p.stop), "stop"
                    elif len(out[seq]) < limit:
                        live.append(seq)
                if not live:
                    break
                start = len(prompt)
                self._decode([(out[s][-1], start + len(out[s]) - 1, s, True) for s in live])
                rows = {s: i for i, s in enumerate(live)}
        finally:
            for chain in samplers:
                lc.llama_sampler_free(chain)
            lc.llama_memory_clear(self.memory, True)
        done = [
            t if t is not None else self.llama.detokenize(o).decode("utf-8", "ignore")
            for t, o in zip(texts, out, strict=True)
        ]
        return done, reasons, sum(len(o) for o in out)
