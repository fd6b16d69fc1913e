"""Run deployments and whole study grids; store every cell as it finishes; resume."""

from .plan import Planned, load_study, plan, validate_study
from .resume import completed_summary
from .runner import Engine, NullReporter, Reporter, run_deployment
from .study import Estimate, check_cost, estimate, run_study

__all__ = ["Engine", "Estimate", "NullReporter", "Planned", "Reporter", "check_cost", "completed_summary",
           "estimate", "load_study", "plan", "run_deployment", "run_study",
           "validate_study"]
