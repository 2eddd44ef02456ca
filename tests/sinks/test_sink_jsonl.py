"""The JSONL sink: one line per event, nothing appended twice on replay, torn lines repaired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sink_helpers import FakeTime, add_batch, run_to_done

from reelforge.sinks import JsonlSink, SinkEvent, SinkRunner, SinkUnavailableError
from reelforge.sinks.jsonl import last_event_id
from reelforge.store import Store


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _event_ids(path: Path) -> list[int]:
    return [line["data"]["event_id"] for line in _lines(path)]  # type: ignore[index]


def _forget_cursors(store: Store) -> None:
    """What a crash before the cursor's commit looks like: the outbox is read again."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sink_cursors"))


async def test_one_line_per_event_with_its_id(
    store: Store, tmp_path: Path, fake_time: FakeTime
) -> None:
    (job,) = add_batch(store, 1)
    run_to_done(store, job, "video_1")
    path = tmp_path / "logs" / "events.jsonl"
    sink = JsonlSink(path)
    assert await SinkRunner(store, [sink], sleep=fake_time.sleep).drain()
    lines = _lines(path)
    events = store.events_after(0, 100)
    assert [line["data"]["event_id"] for line in lines] == [e.id for e in events]  # type: ignore[index]
    first = lines[0]
    assert str(first["id"]).startswith("evt_")
    assert str(first["id"]).endswith(f"_{events[0].id}")
    assert first["type"] == "job.created"
    assert list(first)[:2] == ["id", "type"]
    assert path.read_text(encoding="utf-8").endswith("\n")


async def test_a_replay_appends_nothing_even_from_a_new_sink(
    store: Store, tmp_path: Path, fake_time: FakeTime
) -> None:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1")
    path = tmp_path / "events.jsonl"
    assert await SinkRunner(store, [JsonlSink(path)]).drain()
    before = path.read_bytes()
    _forget_cursors(store)
    assert await SinkRunner(store, [JsonlSink(path)]).drain()
    assert path.read_bytes() == before
    # New events after the replay are still appended, once.
    run_to_done(store, second, "video_2")
    _forget_cursors(store)
    sink = JsonlSink(path)
    assert await SinkRunner(store, [sink]).drain()
    ids = _event_ids(path)
    assert ids == sorted(set(ids))
    assert ids[-1] == store.events_after(0, 1000)[-1].id


async def test_a_torn_last_line_is_cut_and_its_event_written_again(
    store: Store, tmp_path: Path
) -> None:
    (job,) = add_batch(store, 1)
    run_to_done(store, job, "video_1")
    path = tmp_path / "events.jsonl"
    assert await SinkRunner(store, [JsonlSink(path)]).drain()
    complete = path.read_text(encoding="utf-8").splitlines(keepends=True)
    # The process died while writing the last line; its cursor never got past it.
    path.write_text("".join(complete[:-1]) + complete[-1][:25], encoding="utf-8")
    _forget_cursors(store)
    assert await SinkRunner(store, [JsonlSink(path)]).drain()
    assert path.read_text(encoding="utf-8") == "".join(complete)


def test_last_event_id_reads_across_blocks_and_skips_junk(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    assert last_event_id(path) == 0
    filler = "x" * 1000
    with path.open("w", encoding="utf-8") as handle:
        for event_id in range(1, 201):
            handle.write(json.dumps({"data": {"event_id": event_id, "pad": filler}}) + "\n")
        handle.write("not json at all\n\n")
    assert path.stat().st_size > 3 * 64 * 1024
    assert last_event_id(path) == 200
    path.write_text("", encoding="utf-8")
    assert last_event_id(path) == 0
    path.write_text("x" * 200_000, encoding="utf-8")  # one torn line and nothing else
    assert last_event_id(path, repair=True) == 0
    assert path.read_text(encoding="utf-8") == ""


async def test_an_unwritable_path_is_unavailable_not_lost(store: Store, tmp_path: Path) -> None:
    (job,) = add_batch(store, 1)
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    event = store.events_after(0, 1)[0]
    item = SinkEvent(event=event, job=store.get_job(job))
    with pytest.raises(SinkUnavailableError, match="cannot write"):
        await JsonlSink(folder).deliver(item)


def test_the_name_is_stable_per_path(tmp_path: Path) -> None:
    one = JsonlSink(tmp_path / "events.jsonl")
    assert one.name == JsonlSink(tmp_path / "events.jsonl").name
    assert one.name.startswith("jsonl:events.jsonl:")
    assert one.name != JsonlSink(tmp_path / "other" / "events.jsonl").name
    assert JsonlSink(tmp_path / "x.jsonl", name="jsonl:audit").name == "jsonl:audit"


async def test_an_append_that_fails_half_way_is_repaired_before_the_retry(
    store: Store, tmp_path: Path, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills up in the middle of a line leaves half of it; the retried line must
    not be glued to it."""
    add_batch(store, 3)
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    real_append = JsonlSink._append
    calls = {"n": 0}

    def flaky_append(self: JsonlSink, line: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            real_append(self, line[: len(line) // 2])
            raise OSError(28, "No space left on device")
        real_append(self, line)

    monkeypatch.setattr(JsonlSink, "_append", flaky_append)
    assert await SinkRunner(store, [sink], sleep=fake_time.sleep).drain()

    assert _event_ids(path) == [event.id for event in store.events_after(0, 100)]
