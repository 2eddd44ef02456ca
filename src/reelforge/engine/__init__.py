"""The durable engine: one DBOS workflow per job, exactly-once submission, adaptive polling."""

from reelforge.engine.crash import CRASH_ENV, CrashPoint
from reelforge.engine.reconcile import Decision, ReconcilePolicy, Verdict, decide
from reelforge.engine.runner import QUEUE_NAME, Engine

__all__ = [
    "CRASH_ENV",
    "QUEUE_NAME",
    "CrashPoint",
    "Decision",
    "Engine",
    "ReconcilePolicy",
    "Verdict",
    "decide",
]
