"""What a measuring process loads: importing the library must not pull in the heavy analysis stack.

scipy (stats, interpolate), pyarrow, duckdb and plotly cost a measuring process 75+ MB and most of a second
at import; they are imported where a figure is computed after a level (intervals, fronts, Parquet, charts),
never by ``import deploybench`` or ``deploybench.api``. benchmarks/client_capacity.py measures the RSS."""

import subprocess
import sys

HEAVY = ("scipy", "pyarrow", "duckdb", "plotly", "pandas")


def test_importing_the_api_loads_no_analysis_stack():
    code = ("import sys, deploybench, deploybench.api, deploybench.load, deploybench.sweep; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at start-up: {out} (import it inside the function that needs it)"
