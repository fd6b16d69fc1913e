"""Run deployments (and, later, whole study grids) and store every cell as it finishes."""

from .runner import Engine, NullReporter, Reporter, completed_summary, run_deployment, run_id_for, summarize_dir

__all__ = ["Engine", "NullReporter", "Reporter", "completed_summary", "run_deployment", "run_id_for",
           "summarize_dir"]
