"""``job.json``: the record beside a job's assets (spec, remote id, history, checksums, cost).

It never holds a secret: the spec, public URLs without credentials, and what the provider said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from reelforge.campaign.labels import campaign_labels
from reelforge.core.files import write_atomic_json
from reelforge.core.models import DownloadResult, JobSpec, RemoteStatus

__all__ = ["StatusEntry", "write_atomic_json", "write_job_file"]


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusEntry:
    """One observed status, for the job's history."""

    at: float
    status: str
    progress: int

    def to_dict(self) -> dict[str, object]:
        return {"at": self.at, "status": self.status, "progress": self.progress}


def write_job_file(
    path: Path,
    *,
    job_id: str,
    spec: JobSpec,
    provider_base_url: str,
    status: RemoteStatus,
    history: Sequence[StatusEntry],
    assets: Mapping[str, DownloadResult],
    estimated_cost: Decimal | None,
    cost: Decimal | None,
) -> None:
    """Write a job's ``job.json`` atomically."""
    error = status.error
    combination = campaign_labels(spec.labels)
    write_atomic_json(
        path,
        {
            "job_id": job_id,
            "state": "done" if assets else status.state.value,
            "spec": spec.to_dict(),
            "campaign": combination.to_dict() if combination else None,
            "provider": {"name": spec.provider, "base_url": provider_base_url},
            "remote_id": status.remote_id,
            "remote_status": status.state.value,
            "created_at": status.created_at,
            "completed_at": status.completed_at,
            "expires_at": status.expires_at,
            "error": (
                {"category": error.category.value, "code": error.code, "message": error.message}
                if error
                else None
            ),
            "history": [entry.to_dict() for entry in history],
            "assets": {
                name: {"file": result.path.name, "bytes": result.size, "sha256": result.sha256}
                for name, result in assets.items()
            },
            "cost": {
                "currency": "USD",
                "estimated": str(estimated_cost) if estimated_cost is not None else None,
                "actual": str(cost) if cost is not None else None,
            },
        },
    )
