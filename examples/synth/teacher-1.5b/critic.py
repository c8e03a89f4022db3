"""Would a reading pass catch what agreement misses? An offline check on the hand-checked 80.

For each kept exercise, a local model reads the docstring, the kept body and the agreed
tests (the body's outputs on up to 8 of the shared inputs) and is asked whether the body
does what the prose says; the score is P(yes) over yes/no, read from its next-token
probabilities (one forward pass, as ``annotate --method logprob`` reads high/low). The
score is set against the two readers' verdicts (hand-check.md): ROC-AUC, and what a cut
on it keeps beside the agreement cuts.

    .venv/bin/python examples/synth/teacher-1.5b/critic.py [--model NAME] [--threads N]

Writes critic-<model>.jsonl (one score per exercise) and prints the table. Nothing here is
part of the pipeline: it measures whether such a pass is worth building.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from sklearn.metrics import roc_auc_score

from phi1.llm import LLMSettings
from phi1.llm.logprob import TokenProbe

HERE = Path(__file__).parent
SYSTEM = "You are a strict reviewer of programming exercises written for students."
ASK = """\
Here is an exercise: a Python function's docstring (the task) and the solution's body.

```python
{code}```

Here is what the solution returns on some inputs:

{tests}

Read the docstring's prose sentence by sentence. Does the solution do exactly what the prose
says, for every input the docstring allows, and do the prose and its examples agree with
each other? Answer yes or no."""


def verdicts() -> dict[int, tuple[bool, bool]]:
    """Row number -> (reader 1 says correct, reader 2 says correct)."""
    out = {}
    for line in (HERE / "hand-check.md").read_text().splitlines():
        m = re.match(r"\| (\d+) \| `[^`]+` \| \d of 5 \| [^|]+ \| ([^|]+?) \| ([^|]+?) \|", line)
        if m:
            out[int(m.group(1))] = (m.group(2).startswith("correct"),
                                    m.group(3).startswith("correct"))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="the first N exercises only")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(HERE / "exercises.jsonl")]
    truth = verdicts()
    assert len(truth) == len(rows), f"{len(truth)} verdicts for {len(rows)} exercises"
    rows = rows[: args.limit]
    llm = LLMSettings(model=args.model, n_threads=args.threads).load()
    probe = TokenProbe(llm, "critic.py")
    out_path = HERE / f"critic-{args.model}.jsonl"
    scores, start = [], time.time()
    with open(out_path, "w") as out:
        for k, r in enumerate(rows, 1):
            tests = "\n".join(f"- {r['meta']['function_name']}{args_} -> {want}"
                              for args_, want in r["meta"]["agreement"]["tests"][:8])  # fmt: skip
            user = ASK.format(code=r["prompt"] + r["completion"], tests=tests)
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
            text = llm.render_chat(messages) + "Answer:"
            context, tails = probe.option_tails(text, [" yes", " Yes", " no", " No"])
            probs, mass = probe.option_probs(context, tails)
            p_yes = probs[0] + probs[1]
            scores.append(p_yes)
            out.write(json.dumps({"row": k, "id": r["id"], "p_yes": p_yes, "mass": mass}) + "\n")
            print(f"{k}/{len(rows)} p_yes {p_yes:.3f} ({time.time() - start:.0f} s)", flush=True)
    llm.close()
    both = [truth[k][0] and truth[k][1] for k in range(1, len(rows) + 1)]
    print(f"\n{args.model}: ROC-AUC of P(yes) against both readers' 'correct': "
          f"{roc_auc_score(both, scores):.3f} ({sum(both)} correct of {len(both)})")  # fmt: skip
    groups = [r["meta"]["agreement"]["groups"][0] for r in rows]
    print("| kept when | kept of 144 | correct (both readers) |\n|---|---|---|")
    for m in (2, 4):
        for share in (1.0, 0.75, 0.5, 0.25):
            ranked = sorted((s for s, g in zip(scores, groups, strict=True) if g >= m),
                            reverse=True)  # fmt: skip
            cut = ranked[max(0, round(share * len(ranked)) - 1)] if ranked else 1.0
            sel = [b for s, g, b in zip(scores, groups, both, strict=True) if g >= m and s >= cut]
            print(
                f"| {m} of 5, top {share:.0%} by P(yes) | {len(sel)} | "
                f"{sum(sel)} ({100 * sum(sel) / max(len(sel), 1):.0f}%) |"
            )


if __name__ == "__main__":
    main()
