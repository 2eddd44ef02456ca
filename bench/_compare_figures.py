"""Figures of one contender's run, computed from the simulator's ground truth.

All times are the simulator's real (unscaled) seconds, as logged by the server:

- *makespan*: from the first ``/v1`` request of the run to the last one (the final download);
- *ideal*: each job's generation time (``finished_at - started_at``, queue wait excluded) packed
  into ``cap`` slots by longest-processing-time-first greedy packing;
- *completion-detection lag*: for each completed job, the time of the first
  ``GET /v1/videos/{id}`` that answered ``completed`` (the log's ``video_status``; a simulator
  without it is read by timestamp: the first such GET at or after ``finished_at``), or of the
  first content download if the client learned of completion another way, minus ``finished_at``.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from _compare_sim import SimTruth

_RETRIEVE = re.compile(r"^/v1/videos/(?P<id>[^/]+)$")
_CONTENT = re.compile(r"^/v1/videos/(?P<id>[^/]+)/content$")


@dataclass(frozen=True, kw_only=True, slots=True)
class Figures:
    """One row of the comparison table."""

    jobs: int
    done: int
    """Jobs that completed on the server and whose video was served to the client."""
    files: int
    """Non-empty ``.mp4`` files the client left in its output directory."""
    creates: int
    duplicate_creates: int
    """Creates beyond the first for the same prompt (each job's prompt is unique)."""
    max_in_flight: int
    rate_limited: int
    """``/v1`` requests answered 429."""
    makespan: float
    ideal: float
    occupied_ideal: float
    """The same packing of each job's queue wait + generation: the best any client can do."""
    status_requests: int
    lags: tuple[float, ...]

    @property
    def failed(self) -> int:
        """Jobs of the batch that did not end with a downloaded video."""
        return self.jobs - self.done

    @property
    def ratio(self) -> float:
        """Makespan ÷ ideal (``nan`` when nothing ran)."""
        return self.makespan / self.ideal if self.ideal > 0 else math.nan

    @property
    def floor(self) -> float:
        """The lowest makespan ÷ ideal reachable on this server (queue wait is unavoidable)."""
        return self.occupied_ideal / self.ideal if self.ideal > 0 else math.nan

    @property
    def status_per_video(self) -> float:
        """``GET /v1/videos/{id}`` requests per job of the batch."""
        return self.status_requests / self.jobs if self.jobs else math.nan


def lpt_makespan(durations: Iterable[float], slots: int) -> float:
    """Longest-processing-time-first greedy packing of ``durations`` into ``slots`` machines."""
    loads = [0.0] * max(1, slots)
    for duration in sorted(durations, reverse=True):
        heapq.heapreplace(loads, loads[0] + duration)
    return max(loads)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` from 0 to 1); ``nan`` for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _span(video: dict[str, Any], start: str) -> float:
    return float(video["finished_at"]) - float(video[start])


def _variant(query: str) -> str:
    return parse_qs(query).get("variant", ["video"])[0]


def _answered_completed(record: dict[str, Any], video: dict[str, Any], *, content: bool) -> bool:
    """Whether a successful GET of a job showed the client that it had completed."""
    if content:
        return True  # media is served only once a job has completed
    if "video_status" in record:
        return bool(record["video_status"] == "completed")
    return float(record["at"]) >= float(video["finished_at"])


def _first_per_prompt(creates: list[dict[str, Any]]) -> dict[str, str]:
    """Prompt → the id of the first job created for it."""
    first: dict[str, str] = {}
    for record in creates:
        if record.get("kind", "create") == "create":
            first.setdefault(str(record["prompt"]), str(record["video_id"]))
    return first


def compute(truth: SimTruth, *, jobs: int, cap: int, files: int) -> Figures:
    """The figures of a run of ``jobs`` jobs with ``cap`` slots, from what the server recorded."""
    by_prompt = _first_per_prompt(truth.creates)
    batch_ids = set(by_prompt.values())
    videos = {str(v["id"]): v for v in truth.videos if str(v["id"]) in batch_ids}
    api = [r for r in truth.requests if str(r["path"]).startswith("/v1/")]

    first_seen: dict[str, float] = {}
    served: set[str] = set()
    status_requests = 0
    for record in sorted(api, key=lambda r: float(r["at"])):
        if record["method"] != "GET":
            continue
        path, at, code = str(record["path"]), float(record["at"]), int(record["status_code"])
        retrieve, content = _RETRIEVE.match(path), _CONTENT.match(path)
        if retrieve:
            status_requests += 1
            video_id = retrieve["id"]
        elif content:
            video_id = content["id"]
            if code == 200 and _variant(str(record["query"])) == "video":
                served.add(video_id)
        else:
            continue
        video = videos.get(video_id)
        if video is None or code != 200 or video_id in first_seen:
            continue
        if _answered_completed(record, video, content=content is not None):
            first_seen[video_id] = at

    completed = {i for i, v in videos.items() if v["status"] == "completed"}
    seen = completed & first_seen.keys()
    lags = tuple(first_seen[i] - float(videos[i]["finished_at"]) for i in seen)
    times = [float(r["at"]) for r in api]
    return Figures(
        jobs=jobs,
        done=len(completed & served),
        files=files,
        creates=sum(1 for r in truth.creates if r.get("kind", "create") == "create"),
        duplicate_creates=len(truth.creates) - len(by_prompt),
        max_in_flight=truth.max_in_flight_seen,
        rate_limited=sum(1 for r in api if int(r["status_code"]) == 429),
        makespan=max(times) - min(times) if times else 0.0,
        ideal=lpt_makespan((_span(v, "started_at") for v in videos.values()), cap),
        occupied_ideal=lpt_makespan((_span(v, "created_at") for v in videos.values()), cap),
        status_requests=status_requests,
        lags=lags,
    )
