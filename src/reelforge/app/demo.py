"""The demo batch: a dozen ad variations for a fictional sparkling-water brand."""

from __future__ import annotations

from reelforge.batch import Batch
from reelforge.core.models import JobSpec

__all__ = ["demo_batch", "demo_jobs"]

_SUBJECTS = [
    (
        "kite-dunes",
        "A red kite over desert dunes at dawn, a can of Acme sparkling water in the sand",
    ),
    ("rooftop", "Friends toast with Acme sparkling water on a city rooftop at golden hour"),
    ("trail-run", "A trail runner pauses on a ridge and opens an ice-cold can of Acme"),
    ("studio-hero", "Slow macro shot of bubbles rising in a glass of Acme sparkling water"),
]
_LOOKS = [
    ("cinematic", "cinematic, anamorphic lens flare", 8, "1280x720"),
    ("handheld", "lo-fi handheld, natural light", 4, "720x1280"),
    ("pastel", "pastel minimal set, soft shadows", 4, "1280x720"),
]


def demo_jobs() -> list[tuple[str, JobSpec]]:
    """Twelve ``(key, spec)`` pairs: four subjects in three looks, on sora-2."""
    return [
        (
            f"{subject_key}-{look_key}",
            JobSpec(
                prompt=f"{subject}; {look}.",
                model="sora-2",
                seconds=seconds,
                size=size,
                labels={"brand": "Acme", "subject": subject_key, "look": look_key},
            ),
        )
        for subject_key, subject in _SUBJECTS
        for look_key, look, seconds, size in _LOOKS
    ]


def demo_batch() -> Batch:
    """The demo as a batch named ``demo``."""
    return Batch.from_specs("demo", dict(demo_jobs()))
