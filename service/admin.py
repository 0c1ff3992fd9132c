"""Operator routes: list adapter versions, activate one in the running service, roll back. Need X-Admin-Key."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from service.adapters import ADAPTER_FILES
from service.api import ErrorOut
from service.deployment import DeploymentError, adapter_version
from service.security import require_admin_key
from service.state import ServiceState, service_state

ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 409, 422, 503)}
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin_key)], responses=ERRORS)


class ActivateRequest(BaseModel):
    """Which adapter version to serve: a directory under the adapters directory, or null for the bare base."""

    model_config = ConfigDict(extra="forbid")

    adapter: str | None = Field(description="e.g. 'smollm2-135m' or 'smollm2-135m/v2' (relative to TSD_ADAPTERS_DIR)",
                                pattern=r"^[^\x00-\x1f\x7f]*$", max_length=4096)


def resolve_adapter(state: ServiceState, adapter: str) -> str:
    """An adapter directory inside the adapters directory (operators can't point the server elsewhere)."""
    root = Path(state.settings.adapters_dir).resolve()
    candidate = (root / adapter).resolve()
    if not candidate.exists() and Path(adapter).resolve().exists():
        candidate = Path(adapter).resolve()  # a path from the working directory, e.g. models/adapters/x
    if candidate != root and root not in candidate.parents:
        raise DeploymentError(f"adapter {adapter!r} is outside the adapters directory {str(root)!r}")
    return str(candidate)


def status(state: ServiceState) -> dict:
    deployments = state.deployments
    return {"active": deployments.active.version, "previous": deployments.previous_version
            if deployments.has_previous else None, "history": deployments.history[-10:]}


def found_versions(root: Path) -> list[dict | None]:
    found = sorted(p.parent for p in root.rglob(ADAPTER_FILES[0])) if root.is_dir() else []
    return [adapter_version(str(p)) for p in found]


@router.get("/adapters")
async def list_adapters(state: ServiceState = Depends(service_state)) -> dict:
    """Adapter versions found under the adapters directory, and which one is active."""
    versions = await asyncio.to_thread(found_versions, Path(state.settings.adapters_dir))
    return {"versions": versions, **status(state)}


@router.post("/adapters/activate")
async def activate(body: ActivateRequest, state: ServiceState = Depends(service_state)) -> dict:
    """Load this version (in LoRA mode into the running engine; else beside it), switch new requests to it, drain the
    old one."""
    adapter = resolve_adapter(state, body.adapter) if body.adapter is not None else None
    await _swap(state, state.deployments.activate(adapter))
    return status(state)


@router.post("/adapters/rollback")
async def rollback(state: ServiceState = Depends(service_state)) -> dict:
    """Serve the version that was active before the last activation again."""
    await _swap(state, state.deployments.rollback())
    return status(state)


async def _swap(state: ServiceState, activation) -> None:
    try:
        deployed = await activation
    except Exception:
        state.metrics.activations.labels("failed").inc()
        raise
    state.metrics.activations.labels("ok").inc()
    state.metrics.set_model(deployed)
