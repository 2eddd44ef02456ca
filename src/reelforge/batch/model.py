"""A batch of jobs: what a batch file becomes once every field is checked."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reelforge.batch.build import assemble_specs
from reelforge.core.models import JobSpec

__all__ = ["Batch", "BatchJob"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchJob:
    """One job of a batch.

    ``spec`` is validated against its model's capabilities, with its size resolved
    (``16:9`` → ``1280x720``). ``key`` is unique in the batch (ignoring case) and safe as a
    folder name; ``index`` is the job's 0-based position; ``location`` says where it was
    written (``"spring.yaml:12"``, ``"spring.csv:row 3"``, ``"spring.json:jobs[2]"``) and is
    not part of equality.
    """

    key: str
    spec: JobSpec
    index: int
    location: str = field(default="", compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """A named, validated batch of jobs.

    Build one with :func:`~reelforge.batch.load_batch`, :func:`~reelforge.batch.parse_batch`
    or :meth:`Batch.from_specs`. Equality compares the name and the jobs, not ``source``, so
    the same batch written as YAML and as CSV compares equal.
    """

    name: str
    jobs: tuple[BatchJob, ...]
    source: Path | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[BatchJob]:
        return iter(self.jobs)

    @classmethod
    def from_specs(
        cls, name: str, specs_or_prompts: Iterable[JobSpec | str] | Mapping[str, JobSpec | str]
    ) -> Batch:
        """A batch from specs or bare prompts, validated like a file.

        A mapping gives each job its key; otherwise keys are positions (``"0001"``, …). A
        bare prompt takes :class:`~reelforge.core.models.JobSpec`'s defaults. Raises
        :class:`~reelforge.batch.BatchFileError` listing every problem.
        """
        built = assemble_specs(name, specs_or_prompts)
        jobs = tuple(
            BatchJob(key=b.key, spec=b.spec, index=b.index, location=b.location) for b in built
        )
        return cls(name=name, jobs=jobs)
