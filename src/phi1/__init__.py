"""phi1: the phi-1 recipe ("Textbooks Are All You Need") end to end.

Quality-filtered code + synthetic textbooks -> pretrain phi-1-base, synthetic exercises ->
finetune phi-1, then HumanEval/MBPP pass@k and an LLM-graded score. Each stage lives in one
subpackage: ``llm``, ``data``, ``synth``, ``model``, ``train``, ``eval``, ``report``.
"""

__version__ = "0.1.0"
