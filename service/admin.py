"""Operator routes: list adapter versions, activate one in the running service, roll back. Need X-Admin-Key."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from service.adapters import ADAPTER_FILES
from service.api import ErrorOut
from service.deployment import DeploymentError, adapter_version
from service.security import require_admin_key

ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 409, 422, 503)}
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin_key)], responses=ERRORS)


class ActivateRequest(BaseModel):
    """Which adapter version to serve: a directory under the adapters directory, or null for the bare base."""

    model_config = ConfigDict(extra="forbid")

    adapter: str | None = Field(description="e.g. 'smollm2-135m' or 'smollm2-135m/v2' (relative to TSD_ADAPTERS_DIR)")


def resolve_adapter(request: Request, adapter: str) -> str:
    """An adapter directory inside the adapters directory (operators can't point the server elsewhere)."""
    root = Path(request.app.state.settings.adapters_dir).resolve()
    candidate = (root / adapter).resolve()
    if not candidate.exists() and Path(adapter).resolve().exists():
        candidate = Path(adapter).resolve()  # a path from the working directory, e.g. models/adapters/x
    if candidate != root and root not in candidate.parents:
        raise DeploymentError(f"adapter {adapter!r} is outside the adapters directory {str(root)!r}")
    return str(candidate)


def status(request: Request) -> dict:
    deployments = request.app.state.deployments
    return {"active": deployments.active.version, "previous": adapter_version(deployments.previous_adapter)
            if deployments.has_previous else None, "history": deployments.history[-10:]}


@router.get("/adapters")
async def list_adapters(request: Request) -> dict:
    """Adapter versions found under the adapters directory, and which one is active."""
    root = Path(request.app.state.settings.adapters_dir)
    found = sorted(p.parent for p in root.rglob(ADAPTER_FILES[0])) if root.is_dir() else []
    return {"versions": [adapter_version(str(p)) for p in found], **status(request)}


@router.post("/adapters/activate")
async def activate(body: ActivateRequest, request: Request) -> dict:
    """Load this version beside the running one, switch new requests to it, drain and close the old one."""
    adapter = resolve_adapter(request, body.adapter) if body.adapter is not None else None
    await _swap(request, request.app.state.deployments.activate(adapter))
    return status(request)


@router.post("/adapters/rollback")
async def rollback(request: Request) -> dict:
    """Serve the version that was active before the last activation again."""
    await _swap(request, request.app.state.deployments.rollback())
    return status(request)


async def _swap(request: Request, activation) -> None:
    metrics = request.app.state.metrics
    try:
        deployed = await activation
    except Exception:
        metrics.activations.labels("failed").inc()
        raise
    metrics.activations.labels("ok").inc()
    metrics.set_model(deployed)
