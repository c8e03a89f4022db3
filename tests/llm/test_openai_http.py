"""The OpenAI-compatible HTTP backend against the project's own loopback test server."""

import time

import pytest

from phi1.errors import Phi1Error
from phi1.llm import GenParams, load_llm
from phi1.llm.testserver import Faults, serve


def conversations(n):
    return [[{"role": "user", "content": f"question {i}"}] for i in range(n)]


def test_every_fault_is_retried_and_every_answer_arrives_once():
    faults = Faults(
        rate_429=0.1,
        rate_500=0.1,
        rate_slow=0.03,
        slow_seconds=6.0,
        rate_drop=0.05,
        rate_malformed=0.05,
        seed=7,
    )
    with serve(faults=faults) as server:
        llm = load_llm(server.url, timeout=2.0, backoff=0.01, concurrency=16)
        out = llm.chat(conversations(200), GenParams(max_tokens=8, n=2))
        llm.close()
    assert [c.texts[0] for c in out] == [f"echo: question {i}" for i in range(200)]
    assert all(len(c.texts) == 2 for c in out)
    for kind in ("429", "500", "slow", "drop", "malformed"):
        assert server.counts[f"fault_{kind}"] > 0, kind
    # One retry per injected fault, no more, no less; each question answered exactly once.
    assert llm.usage.retries == server.injected
    assert server.counts["answered"] == 200
    assert llm.usage.requests == 200
    assert llm.usage.prompt_tokens == 400 and llm.usage.completion_tokens == 200 * 2 * 3


def test_endpoint_that_never_recovers_fails_clearly():
    with serve(faults=Faults(always="500")) as server:
        llm = load_llm(server.url, backoff=0.001, max_retries=3)
        with pytest.raises(Phi1Error, match=r"failed after 4 attempts; last error: .*HTTP 500"):
            llm.chat(conversations(3))
        llm.close()
    assert llm.usage.retries >= 3


def test_unreachable_server_and_wrong_model_fail_clearly():
    with serve() as server:
        port = server.url.rsplit(":", 1)[1].split("/")[0]
    dead = f"http://127.0.0.1:{port}/v1"  # the server is gone: connection refused
    llm = load_llm(dead, model="m", backoff=0.001, max_retries=2)
    with pytest.raises(Phi1Error, match="failed after 3 attempts.*Cannot connect"):
        llm.complete(["x"])
    llm.close()
    with pytest.raises(Phi1Error, match="could not learn the model name"):
        load_llm(dead, backoff=0.001).complete(["x"])
    with serve() as server:
        llm = load_llm(server.url, model="nope", backoff=0.001)
        with pytest.raises(Phi1Error, match="HTTP 404"):
            llm.complete(["x"])
        llm.close()
        assert llm.usage.retries == 0  # a 4xx other than 429 is not retried
    with pytest.raises(Phi1Error, match="not an http"):
        load_llm("http://ok/v1,ftp://nope")


def test_load_balancing_api_key_and_cost(monkeypatch):
    monkeypatch.setenv("PHI1_TEST_KEY", "sk-test-123")
    with serve() as a, serve() as b:
        llm = load_llm(
            f"{a.url},{b.url}",
            api_key_env="PHI1_TEST_KEY",
            price_per_million=(1.0, 2.0),
            concurrency=8,
        )
        out = llm.complete([f"p {i}" for i in range(100)], GenParams(max_tokens=4))
        llm.close()
    assert [c.text for c in out] == [f"echo: p {i}" for i in range(100)]
    assert a.counts["answered"] + b.counts["answered"] == 100
    assert min(a.counts["answered"], b.counts["answered"]) >= 25
    assert a.auth_headers == b.auth_headers == {"Bearer sk-test-123"}
    expected = (llm.usage.prompt_tokens * 1.0 + llm.usage.completion_tokens * 2.0) / 1e6
    assert llm.usage.cost == pytest.approx(expected) and expected > 0
    assert llm.identity()["base_urls"] == [a.url, b.url]


def test_retry_moves_to_another_server():
    with serve(faults=Faults(always="500")) as bad, serve() as good:
        llm = load_llm(f"{bad.url},{good.url}", backoff=0.001, max_retries=2, concurrency=4)
        out = llm.complete([f"p {i}" for i in range(20)], GenParams(max_tokens=4))
        llm.close()
    assert [c.text for c in out] == [f"echo: p {i}" for i in range(20)]
    assert good.counts["answered"] == 20 and bad.counts["answered"] == 0


def test_concurrency_limit_is_respected():
    # 16 slow answers at concurrency 4 take four rounds of the delay, not one.
    with serve(faults=Faults(always="slow", slow_seconds=0.3)) as server:
        llm = load_llm(server.url, concurrency=4)
        start = time.monotonic()
        llm.complete([str(i) for i in range(16)], GenParams(max_tokens=2))
        elapsed = time.monotonic() - start
        llm.close()
    assert 1.1 < elapsed < 10


@pytest.mark.llm
def test_http_answers_match_in_process_llama(smollm2):
    """The same model behind real HTTP gives the same greedy text as in process."""
    params = GenParams(max_tokens=24, temperature=0.0, seed=1)
    convs = [[{"role": "user", "content": "Name a prime number."}]]
    direct = smollm2.chat(convs, params)[0]
    with serve(smollm2) as server:
        llm = load_llm(server.url)
        remote = llm.chat(convs, params)[0]
        plain = llm.complete(["def square(x):"], params)[0]
        llm.close()
    assert remote.texts == direct.texts
    assert remote.completion_tokens == direct.completion_tokens
    assert plain.text == smollm2.complete(["def square(x):"], params)[0].text
