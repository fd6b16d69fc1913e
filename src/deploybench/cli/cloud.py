"""``deploybench cleanup``: find and delete SageMaker resources deploybench left behind."""

from __future__ import annotations

import os
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..schemas import ConfigError, EngineError


def register(app: typer.Typer) -> None:
    @app.command()
    def cleanup(
        region: Optional[str] = typer.Option(None, "--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / us-east-1)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="list what would be deleted, delete nothing"),
        study: Optional[str] = typer.Option(None, "--study", help="only resources of this study"),
        older_than: Optional[float] = typer.Option(None, "--older-than-hours", help="only resources created at least this long ago"),
    ) -> None:
        """Delete SageMaker endpoints, endpoint configs and models tagged deploybench:managed=true."""
        from ..engines.cleanup import delete_leftovers, find_leftovers  # noqa: PLC0415 (boto3 is optional)
        from ..engines.sagemaker import sagemaker_client  # noqa: PLC0415

        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        out, err = Console(), Console(stderr=True)
        client = sagemaker_client(region)
        try:
            found = find_leftovers(client, study=study, older_than_hours=older_than)
        except Exception as exc:  # noqa: BLE001 (one line for the user)
            raise _aws_error(exc, region) from None
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

        try:
            delete_leftovers(client, found, report)
        except Exception as exc:  # noqa: BLE001
            raise _aws_error(exc, region) from None
        if failed:
            raise EngineError(f"{len(failed)} of {len(found)} resource(s) could not be deleted",
                              "check the errors above and your IAM permissions, then run cleanup again")


def _aws_error(exc: BaseException, region: str) -> ConfigError | EngineError:
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return ConfigError("no AWS credentials found", "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if name in ("NoRegionError", "EndpointConnectionError"):
        return ConfigError(f"cannot reach SageMaker in region {region}: {exc}", "check --region and your network")
    resp = getattr(exc, "response", None) or {}
    err = resp.get("Error", {}) if isinstance(resp, dict) else {}
    return EngineError(f"SageMaker: {err.get('Code', name)}: {err.get('Message', exc)}"[:300],
                       "check your AWS credentials, region and IAM permissions")
