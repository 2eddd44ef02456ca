"""The durable engine: one DBOS workflow per job, exactly-once submission, adaptive polling."""

from reelforge.engine.crash import CRASH_ENV, CrashPoint
from reelforge.engine.reconcile import Decision, ReconcilePolicy, Verdict, decide
from reelforge.engine.runner import Engine
from reelforge.engine.workflow_ids import download_queue, submit_queue

__all__ = [
    "CRASH_ENV",
    "CrashPoint",
    "Decision",
    "Engine",
    "ReconcilePolicy",
    "Verdict",
    "decide",
    "download_queue",
    "submit_queue",
]
