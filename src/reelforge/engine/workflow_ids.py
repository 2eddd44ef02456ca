"""How workflows are named: the one place that knows the scheme.

A job's workflow id is the job's id; a later run of it (after a retry, a review, a restart)
is ``<job>~2``, ``<job>~3``… The download of its ``attempt``-th submission is
``<job>.download.<attempt>``, re-run as ``<job>.download.<attempt>~2``… Ids are deterministic,
so enqueueing the same workflow twice is harmless, and the newest run of a job is found by
counting up.

Each account has two queues of its own (:func:`submit_queue`, :func:`download_queue`), named
from a digest of the account: a process listens only to the queues of the accounts it has
credentials for, so it never dequeues a job it cannot send.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "LEGACY_QUEUES",
    "download_id",
    "download_queue",
    "is_download",
    "job_of",
    "numbered",
    "run_number",
    "submit_queue",
]

LEGACY_QUEUES = ("reelforge-submit", "reelforge-download")
"""The queues of earlier releases (one for every account): still listened to, so workflows
they hold when a database is upgraded are run."""

_JOB_RE = re.compile(r"(.+?)(?:\.download\.\d+)?(?:~\d+)?")
_DOWNLOAD_RE = re.compile(r".+?\.download\.\d+(?:~\d+)?")


def submit_queue(account: str) -> str:
    """The queue of ``account``'s job workflows: its concurrency is the account's in-flight
    cap and its limiter the account's create rate, across every process."""
    return f"reelforge-submit-{_digest(account)}"


def download_queue(account: str) -> str:
    """The queue of ``account``'s download workflows that a watcher starts."""
    return f"reelforge-download-{_digest(account)}"


def _digest(account: str) -> str:
    return hashlib.sha256(account.encode()).hexdigest()[:16]


def download_id(job_id: str, attempt: int) -> str:
    """The id of the download workflow of a job's ``attempt``-th submission."""
    return f"{job_id}.download.{attempt}"


def numbered(base: str, n: int) -> str:
    """The id of the ``n``-th run of the workflow whose first run is ``base``."""
    return base if n == 1 else f"{base}~{n}"


def run_number(base: str, workflow_id: str) -> int | None:
    """Which run of ``base`` ``workflow_id`` is (1 for ``base`` itself), or None if another's."""
    if workflow_id == base:
        return 1
    match = re.fullmatch(re.escape(base) + r"~(\d+)", workflow_id)
    return int(match.group(1)) if match else None


def job_of(workflow_id: str) -> str:
    """The job id a job or download workflow belongs to."""
    match = _JOB_RE.fullmatch(workflow_id)
    return match.group(1) if match else workflow_id


def is_download(workflow_id: str) -> bool:
    """Whether ``workflow_id`` is a download workflow's (not a job workflow's)."""
    return _DOWNLOAD_RE.fullmatch(workflow_id) is not None
