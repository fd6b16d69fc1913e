"""deploybench: which LLM deployment should I pick?

The public Python API is :mod:`deploybench.api`; every name in its ``__all__`` is re-exported here
(loaded on first use, so ``import deploybench.schemas`` stays light)::

    import deploybench
    study = deploybench.load_study("study.yaml")
    folder, summaries, failures = deploybench.run_study(study, out="runs")
    picks = deploybench.recommend(folder, "cost")
"""

from ._version import __version__


def __getattr__(name: str):
    import importlib
    import importlib.util

    if (name.startswith("__") and name != "__all__") or importlib.util.find_spec(f"{__name__}.{name}"):
        # dunders, and subpackages (``from deploybench import storage`` asks here first): not the API's
        raise AttributeError(f"module 'deploybench' has no attribute '{name}'")
    api = importlib.import_module("deploybench.api")
    if name == "__all__":
        return ["__version__", *api.__all__]
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'deploybench' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *__getattr__("__all__")})
