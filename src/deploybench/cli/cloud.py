"""``deploybench cleanup``: find and delete SageMaker resources deploybench left behind."""

from __future__ import annotations

import os
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .. import api
from ..schemas import EngineError


def register(app: typer.Typer) -> None:
    @app.command()
    def cleanup(
        region: Optional[str] = typer.Option(None, "--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / us-east-1)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="list what would be deleted, delete nothing"),
        study: Optional[str] = typer.Option(None, "--study", help="only resources of this study"),
        older_than: Optional[float] = typer.Option(None, "--older-than-hours", help="only resources created at least this long ago"),
    ) -> None:
        """Delete SageMaker endpoints, endpoint configs and models tagged deploybench:managed=true."""
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        out, err = Console(), Console(stderr=True)
        found = api.cloud_leftovers(region, study=study, older_than_hours=older_than)
        if not found:
            err.print(f"no deploybench-managed SageMaker resources in {region}", highlight=False)
            return
        table = Table(title=f"deploybench-managed SageMaker resources in {region}")
        for col in ("kind", "name", "study", "created", "status"):
            table.add_column(col)
        for lo in found:
            table.add_row(lo.kind, lo.name, lo.study, lo.created, lo.status or "")
        out.print(table)
        if dry_run:
            err.print(f"dry run: {len(found)} resource(s) would be deleted", highlight=False)
            return
        failed = []

        def report(lo, error) -> None:
            if error:
                failed.append(lo)
                err.print(f"FAILED {lo.kind} {lo.name}: {error}", highlight=False, markup=False)
            else:
                err.print(f"deleted {lo.kind} {lo.name}", highlight=False, markup=False)

        api.delete_cloud_leftovers(region, found, report)
        if failed:
            raise EngineError(f"{len(failed)} of {len(found)} resource(s) could not be deleted",
                              "check the errors above and your IAM permissions, then run cleanup again")
