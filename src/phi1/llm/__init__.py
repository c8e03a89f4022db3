"""LLM backends behind one interface (OpenAI-compatible HTTP, in-process llama.cpp) and the
local GGUF model registry."""
