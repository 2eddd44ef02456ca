import random

import pytest

from reelforge import Observation, PollPolicy

POLICY = PollPolicy(first=5.0, floor=0.25, ceiling=60.0, jitter=0.0, margin=0.05)


def test_server_hint_is_used_within_floor_and_ceiling() -> None:
    assert POLICY.next_delay([], hint=2.0) == 2.0
    assert POLICY.next_delay([], hint=0.01) == 0.25
    assert POLICY.next_delay([], hint=600.0) == 60.0


def test_a_hint_shorter_than_the_estimated_finish_is_not_worth_a_check() -> None:
    history = [Observation(at=10.0, progress=20), Observation(at=20.0, progress=40)]
    # 2 %/s, 60 % left: 30 s (+5 %, + floor); the server would take a question after 5 s.
    assert POLICY.next_delay(history, hint=5.0) == pytest.approx(30 * 1.05)
    assert POLICY.next_delay(history, hint=50.0) == 50.0


def test_nothing_known_starts_at_first_then_doubles() -> None:
    assert POLICY.next_delay([]) == 5.0
    queued = [Observation(at=t, progress=0) for t in (0.0, 5.0, 15.0)]
    assert POLICY.next_delay(queued[:1]) == 5.0
    assert POLICY.next_delay(queued[:2]) == 10.0
    assert POLICY.next_delay(queued) == 20.0


def test_aims_just_past_the_finish_from_the_progress_rate() -> None:
    # 10 % -> 40 % in 30 s: 1 %/s, 60 % left: 60 s (+5 % margin, + floor), capped at 60.
    history = [Observation(at=100.0, progress=10), Observation(at=130.0, progress=40)]
    assert POLICY.next_delay(history) == 60.0
    wide = PollPolicy(ceiling=600.0, jitter=0.0, margin=0.05, floor=0.25)
    assert wide.next_delay(history) == pytest.approx(60 * 1.05)


def test_one_observation_uses_the_creation_time_for_the_rate() -> None:
    history = [Observation(at=20.0, progress=50)]
    assert POLICY.next_delay(history, started_at=0.0) == pytest.approx(20 * 1.05)
    # With a hint, a creation time (whole seconds, queue wait included) is not used for a rate.
    assert POLICY.next_delay([Observation(at=2.0, progress=50)], started_at=0.0, hint=1.0) == 1.0


def test_expected_duration_of_similar_jobs_guides_blind_checks() -> None:
    assert POLICY.next_delay([], expected=30.0) == 30.0
    queued = [Observation(at=10.0, progress=0)]
    assert POLICY.next_delay(queued, started_at=0.0, expected=40.0) == pytest.approx(32.0)


def test_jitter_stays_within_its_fraction() -> None:
    policy = PollPolicy(jitter=0.1)
    rng = random.Random(1)
    delays = [policy.next_delay([], expected=10.0, rng=rng) for _ in range(200)]
    assert min(delays) >= 9.0
    assert max(delays) <= 11.0
    assert min(delays) < 9.5
    assert max(delays) > 10.5  # both ways
    assert len(set(delays)) > 100


def test_a_check_the_hint_decides_is_never_sooner_and_only_a_little_later() -> None:
    policy = PollPolicy(jitter=0.1)
    rng = random.Random(1)
    delays = [policy.next_delay([], hint=10.0, rng=rng) for _ in range(200)]
    assert min(delays) >= 10.0
    assert max(delays) <= 10.0 * (1 + 0.1 / 4)
    assert len(set(delays)) > 100
    # A longer estimate from the progress rate overrides the hint: jittered both ways again.
    history = [Observation(at=10.0, progress=20), Observation(at=20.0, progress=40)]
    rated = [policy.next_delay(history, hint=5.0, rng=rng) for _ in range(200)]
    assert min(rated) < 30 * 1.05 < max(rated)
