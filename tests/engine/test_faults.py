"""A 200-job batch through every fault the simulator injects, judged by its ground truth."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from engine_harness import (
    CAP,
    SimFactory,
    Workspace,
    check_batch,
    read_notes,
    sim_config,
    write_batch,
)

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState

pytestmark = pytest.mark.slow

JOBS = 200


@pytest.mark.timeout(420)
def test_a_faulty_provider_loses_nothing_and_creates_nothing_twice(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    sim = make_sim(
        sim_config(
            time_scale=1000,
            seed=11,
            media_scale=0.25,  # smaller frames: less of the machine spent encoding
            max_in_flight=CAP,
            error_before_create_rate=0.05,
            error_after_create_rate=0.05,
            rate_limit_burst={"every": 7.0, "length": 0.5},
            moderation_patterns=[r"\bzeppelin\b"],
            generation_failure_rate=0.05,
            drop_download_rate=0.2,
            server_error_rate=0.02,
        )
    )
    batch = write_batch(tmp_path, "faults", JOBS, marker_every=20)
    workspace = Workspace(folder=tmp_path, sim=sim)

    # About 190 s on a quiet 2-core machine: one create in ten is ambiguous and holds its slot
    # for its 40 s resend window (10 s create timeout + 30 s listing lag) before it is resent.
    run = workspace.run(batch, timeout=360)

    assert run.returncode == 1, run.describe()  # some jobs failed, as the provider decided
    jobs = check_batch(workspace, batch, allow_failed=True)
    ends = Counter((job.state, job.category) for job in jobs.values())
    assert ends[(JobState.FAILED, ErrorCategory.CONTENT_POLICY)] == JOBS // 20
    assert ends[(JobState.FAILED, ErrorCategory.GENERATION_FAILED)] > 0
    assert run.result()["counts"]["done"] == ends[(JobState.DONE, None)]

    # The faults really happened, so the checks above were tested against them.
    faults = Counter(request["fault"] for request in sim.log()["requests"])
    for fault in (
        "error_before_create",
        "error_after_create",
        "rate_limit_burst",
        "server_error",
    ):
        assert faults[fault] > 0, (fault, faults)
    assert any(fault and "drop_download" in fault for fault in faults), faults

    # A create answered 5xx after the job was made was adopted by reconciliation.
    log = sim.log()
    made_anyway = {
        request["request_id"]
        for request in log["requests"]
        if request["fault"] == "error_after_create"
    }
    owners = {job.remote_id: key for key, job in jobs.items()}
    notes = read_notes(workspace, batch)
    for create in log["creates"]:
        if create["request_id"] in made_anyway:
            key = owners[create["video_id"]]
            assert f"reconciled: adopted {create['video_id']}" in notes[key], (key, notes[key])
