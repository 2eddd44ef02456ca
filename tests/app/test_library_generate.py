"""One video through the library: ``Forge.generate`` and the synchronous ``reelforge.generate``
run a one-job batch on the durable engine, recorded in a throwaway database unless one is
chosen."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import reelforge
from reelforge import (
    ConfigError,
    Forge,
    GenerateEvent,
    InvalidSpecError,
    JobSpec,
    JobState,
    Phase,
    Variant,
)
from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.store import Store

KEY = "sk-test-generate"


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    """A fast simulator on a loopback port, used as a gateway with a key."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with EmbeddedSimulator(SimConfig(time_scale=400.0, poll_after_min_ms=50)) as emb:
        yield emb


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where temporary folders go during the test (``tempfile``'s own setting), and a current
    folder of its own: both can be checked for leftovers."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return root


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_generate_reports_each_recorded_step_and_reads_the_result_from_the_store(
    fast: EmbeddedSimulator, tmp_path: Path, temp_root: Path
) -> None:
    events: list[GenerateEvent] = []
    out = tmp_path / "out"

    async with Forge(base_url=fast.base_url, db=tmp_path / "kept.db") as forge:
        result = await forge.generate(
            JobSpec(prompt="A red kite", size="16:9"),
            out=out,
            job_id="kite",
            on_event=events.append,
        )

    assert result.ok
    assert result.state is JobState.DONE
    assert result.job_id == "kite"
    assert result.job_dir == out / "kite"
    assert result.spec.size == "1280x720"
    assert result.remote_id == fast.sim.log.creates[0].video_id
    assert result.error is None
    assert result.cost == result.estimated_cost
    assert list(result.assets) == [Variant.VIDEO, Variant.THUMBNAIL, Variant.SPRITESHEET]
    for variant, asset in result.assets.items():
        assert asset.path == out / "kite" / variant.filename
        assert asset.sha256 == fast.sim.asset_sha256(result.remote_id, variant.value)
    statuses = [entry.status for entry in result.history]
    assert statuses[:3] == ["pending", "waiting", "submitting"]
    assert statuses[-3:] == ["completed", "downloading", "done"]

    (submitted,) = [event for event in events if event.phase is Phase.SUBMITTED]
    assert submitted.remote_id == result.remote_id
    assert [e.variant for e in events if e.phase is Phase.DOWNLOADED] == list(result.assets)
    assert [e.phase for e in events].index(Phase.DOWNLOADING) > [e.phase for e in events].index(
        Phase.SUBMITTED
    )
    assert events[-1].state is JobState.DONE
    assert all(e.remote_id == result.remote_id for e in events[events.index(submitted) :])
    assert _leftovers(temp_root) == []


async def test_a_chosen_database_keeps_the_job_and_the_same_id_continues_it(
    fast: EmbeddedSimulator, tmp_path: Path
) -> None:
    db = tmp_path / "kept.db"
    spec = JobSpec(prompt="A lighthouse")

    async with Forge(base_url=fast.base_url, db=db, out=tmp_path / "out") as forge:
        first = await forge.generate(spec, job_id="lighthouse")
        again = await forge.generate(spec, job_id="lighthouse")
        with pytest.raises(ConfigError, match="already recorded in this database"):
            await forge.generate(JobSpec(prompt="A kite"), job_id="lighthouse")

    assert first.ok
    assert again.ok
    assert again.remote_id == first.remote_id
    assert len(fast.sim.log.creates) == 1
    with Store.for_path(db) as store:
        batch = store.get_batch("lighthouse")
        assert batch.flat
        (job,) = store.jobs("lighthouse")
        assert job.state is JobState.DONE
        assert job.remote_id == first.remote_id
    record = json.loads((tmp_path / "out" / "lighthouse" / "job.json").read_text())
    assert record["batch"] == "lighthouse"


async def test_unknown_provider_and_unsafe_job_id_are_refused_before_anything_is_made(
    fast: EmbeddedSimulator, tmp_path: Path, temp_root: Path
) -> None:
    out = tmp_path / "out"
    async with Forge(base_url=fast.base_url, db=tmp_path / "kept.db", out=out) as forge:
        with pytest.raises(InvalidSpecError, match="provider 'nope' is not known") as unknown:
            await forge.generate(JobSpec(prompt="A kite", provider="nope"))
        with pytest.raises(InvalidSpecError, match="job_id: ") as unsafe:
            await forge.generate(JobSpec(prompt="A kite"), job_id="../escape")
        with pytest.raises(InvalidSpecError, match="allowed: 4, 8, 12") as seconds:
            await forge.generate(JobSpec(prompt="A kite", seconds=10))

    assert unknown.value.field == "provider"
    assert unsafe.value.field == "job_id"
    assert seconds.value.field == "seconds"
    assert fast.sim.log.requests == []
    assert not out.exists()
    assert not (tmp_path / "kept.db").exists()
    assert _leftovers(temp_root) == []


def test_sync_generate_leaves_no_database_behind(
    fast: EmbeddedSimulator, tmp_path: Path, temp_root: Path
) -> None:
    out = tmp_path / "out"

    result = reelforge.generate("A red kite", out=out, base_url=fast.base_url)

    assert result.ok
    assert [path.name for path in out.iterdir()] == [result.job_id]
    assert (result.job_dir / "video.mp4").is_file()
    assert _leftovers(temp_root) == []
    assert _leftovers(Path.cwd()) == []


def test_sync_generate_with_db_keeps_the_job(fast: EmbeddedSimulator, tmp_path: Path) -> None:
    db = tmp_path / "kept.db"

    result = reelforge.generate("A red kite", out=tmp_path / "out", db=db, base_url=fast.base_url)

    assert result.ok
    with Store.for_path(db) as store:
        assert [row.id for row in store.batches()] == [result.job_id]
