"""`okr-sync deploy`: one set of Prefect deployments per config (sync, check-in, review), and the shared limits.

Many teams, one server: each okrs.yaml becomes deployments named after its workspace
(`sync-okrs/<workspace>`, `checkin-okrs/<workspace>`, `review-okrs/<workspace>`), scheduled by the
config's own `schedule:` in its own `timezone`. The entrypoints are module paths of the installed
package (`flows.sync.sync_okrs`), so a worker needs okr-sync installed and the config files at the
same absolute paths — no pull step, no checkout variable. Parameters hold only the config path;
credentials stay in env vars or Prefect Secret blocks, never in job variables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mapping.config import Config
from mapping.errors import OkrSyncError

LIMIT_PREFIX = "okr-sync-"
LIMIT_KINDS = ("jira", "sheets", "sql", "rest", "metabase", "powerbi", "superset", "file")


class DeployError(OkrSyncError):
    """A deployment or limit could not be created (no Prefect API, no such work pool, a bad --limit)."""

    exit_code = 3


def limit_name(kind: str) -> str:
    """The global concurrency limit shared by every source (and Sheets output) of one kind: okr-sync-jira, ..."""
    return f"{LIMIT_PREFIX}{kind}"


class DeployOptionError(DeployError):
    """The command line or environment cannot say where or what to deploy (a bad --limit, no PREFECT_API_URL)."""

    exit_code = 2


def require_api_url() -> str:
    """The Prefect API to deploy to (PREFECT_API_URL, from the environment or the active Prefect profile).

    Without one, Prefect would start a temporary local server and the deployments would vanish with it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise DeployOptionError("PREFECT_API_URL is not set: point it at the Prefect server the workers poll, e.g. "
                                "export PREFECT_API_URL=http://127.0.0.1:4200/api (or prefect config set PREFECT_API_URL=...)")
    return str(url)


def parse_limits(options: list[str]) -> dict[str, int]:
    """--limit jira=4 --limit sheets=10 -> {"okr-sync-jira": 4, "okr-sync-sheets": 10}."""
    limits: dict[str, int] = {}
    for option in options:
        match = re.fullmatch(r"\s*([a-z]+)\s*=\s*(\d+)\s*", option)
        if not match or match.group(1) not in LIMIT_KINDS or int(match.group(2)) < 1:
            raise DeployOptionError(f"--limit {option!r}: write KIND=N with N >= 1 and KIND one of {', '.join(LIMIT_KINDS)}")
        limits[limit_name(match.group(1))] = int(match.group(2))
    return limits


@dataclass
class DeploymentPlan:
    """One deployment to create: flow entrypoint, name, parameters and schedule."""

    flow: str  # module path of the flow object
    flow_name: str
    name: str
    parameters: dict[str, Any]
    cron: Optional[str]
    timezone: str
    tags: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


FLOWS = (  # (schedule key, module path of the flow, flow name)
    ("sync", "flows.sync.sync_okrs", "sync-okrs"),
    ("checkin", "flows.checkin.checkin_okrs", "checkin-okrs"),
    ("review", "flows.review.review_okrs", "review-okrs"),
)


def plan_deployments(configs: list[Config]) -> list[DeploymentPlan]:
    """The deployments of every config; two configs with one workspace would overwrite each other and are refused."""
    seen: dict[str, Path] = {}
    plans: list[DeploymentPlan] = []
    for config in configs:
        workspace = config.workspace_id
        if workspace in seen:
            raise DeployError(f"{config.file} and {seen[workspace]} both have workspace {workspace!r}: "
                              "set a distinct `workspace:` in one of them")
        seen[workspace] = config.file
        path = str(config.file.resolve())
        for key, module, flow_name in FLOWS:
            parameters: dict[str, Any] = {"config_path": path}
            if key == "review":
                parameters["offset_days"] = config.schedule.review_offset_days
            plans.append(DeploymentPlan(module, flow_name, workspace, parameters, getattr(config.schedule, key),
                                        config.timezone, ["okr-sync", workspace]))
    return plans


def _flow(module_path: str) -> Any:
    from importlib import import_module

    module, name = module_path.rsplit(".", 1)
    return getattr(import_module(module), name)


def apply_deployments(plans: list[DeploymentPlan], pool: str) -> list[str]:
    """Create or update each deployment on the Prefect server (PREFECT_API_URL) for work pool `pool`."""
    require_api_url()
    from prefect import get_client
    from prefect.deployments.runner import RunnerDeployment
    from prefect.exceptions import ObjectNotFound
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            raise DeployError(f"work pool {pool!r} does not exist; create it with `prefect work-pool create {pool} --type process`") from None
        except Exception as exc:  # noqa: BLE001 - no server at PREFECT_API_URL
            raise DeployError(f"cannot reach the Prefect API ({type(exc).__name__}); start `prefect server start` "
                              "and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)") from None
    names = []
    for plan in plans:
        schedules = [Cron(plan.cron, timezone=plan.timezone)] if plan.cron else []
        deployment = RunnerDeployment.from_flow(
            _flow(plan.flow), name=plan.name, schedules=schedules, parameters=plan.parameters, tags=plan.tags,
            description=f"okr-sync {plan.flow_name} of {plan.parameters['config_path']}",
            entrypoint_type=EntrypointType.MODULE_PATH, work_pool_name=pool,
            concurrency_limit=1)  # never two runs of one config's flow at once (they would write the same outputs)
        deployment_id = deployment.apply(work_pool_name=pool)
        _drop_other_schedules(deployment_id, plan)
        names.append(plan.full_name)
    return names


def _drop_other_schedules(deployment_id: Any, plan: DeploymentPlan) -> None:
    """Leave exactly the config's schedule on the deployment (a redeploy keeps old ones otherwise)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        for schedule in client.read_deployment_schedules(deployment_id):
            cron = getattr(schedule.schedule, "cron", None)
            zone = getattr(schedule.schedule, "timezone", None)
            if plan.cron is None or cron != plan.cron or zone != plan.timezone:
                client.delete_deployment_schedule(deployment_id, schedule.id)


def apply_limits(limits: dict[str, int]) -> None:
    """Create or update the global concurrency limits (slots held while a source of that kind is read or a Sheets output written)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        for name, slots in limits.items():
            client.upsert_global_concurrency_limit_by_name(name, slots)


def limits_in_force(kinds: set[str]) -> set[str]:
    """Which of the kinds' limits exist on the server (one request); none when there is no server or no limit."""
    if not kinds:
        return set()
    try:
        from prefect import get_client

        with get_client(sync_client=True) as client:
            existing = {limit.name for limit in client.read_global_concurrency_limits(limit=200) if limit.active}
    except Exception:  # noqa: BLE001 - limits are optional: without them a sync simply is not throttled
        return set()
    return {limit_name(kind) for kind in kinds} & existing
