"""Peak memory of one inline Vertex video: an 8-second Veo clip whose MP4 comes back as base64
inside the ``fetchPredictOperation`` answer, written to disk through the adapter.

The simulator runs in its own process (``reelforge sim``), so the figure is the client's alone.
The video is padded to ``--bytes`` (the simulator's ``large_asset_bytes``) so that its size,
not the interpreter's own baseline, dominates. The adapter decodes the base64 a network read
at a time into ``video.mp4.part``, so the client's peak RSS must stay well under three times
the video's size (the goal), and its growth during the download near zero. Prints the figures
and the command that reproduces them.

    python bench/vertex_inline_rss.py [--bytes 67108864]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reelforge import JobSpec, RemoteState, Variant
from reelforge.providers.vertex_entry import VERTEX

MODEL = "veo-3.1-fast-generate-001"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib() -> float:
    """Peak resident set size of this process so far (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _run(root: str, dest: Path) -> tuple[int, float, str, str, float]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0)) as client:
        endpoint = VERTEX.simulated(root)
        assert endpoint is not None  # the simulator speaks Vertex
        provider = VERTEX.build(endpoint, client=client, clock=_Clock())
        spec = JobSpec(prompt="An 8-second inline video", model=MODEL, seconds=8)
        status = await provider.submit(spec)
        while status.state is not RemoteState.COMPLETED:
            await asyncio.sleep(0.2)
            status = await provider.fetch(status.remote_id)
        before = _current_rss_mib()
        started = time.perf_counter()
        result = await provider.download(status.remote_id, Variant.VIDEO, dest)
        elapsed = time.perf_counter() - started
        operation = status.remote_id.rpartition("/operations/")[2]
        return result.size, elapsed, result.sha256, operation, before


class _Clock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=64 << 20, help="padded video size")
    args = parser.parse_args()

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sim.json"
        faults = {"large_asset_bytes": args.bytes}
        config.write_text(json.dumps({"time_scale": 400, "faults": faults}))
        server = subprocess.Popen(  # our own interpreter and module
            [
                sys.executable,
                "-m",
                "reelforge",
                "sim",
                "--port",
                str(port),
                "--config",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            root = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(f"{root}/_sim/log", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            size, elapsed, digest, video_id, before = asyncio.run(
                _run(root, Path(tmp) / "video.mp4")
            )
            peak = _rss_mib()
            served = httpx.get(
                f"{root}/_sim/videos/{video_id}/sha256", params={"variant": "video"}, timeout=600
            ).json()["sha256"]
        finally:
            server.terminate()
            server.wait(timeout=10)

    video_mib = size / (1 << 20)
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| video (8 s, inline base64) | {size:,} bytes ({video_mib:.1f} MiB) |")
    print(f"| time | {elapsed:.1f} s ({video_mib / elapsed:.0f} MiB/s of video) |")
    print(f"| checksum matches the server's | {digest == served} |")
    print(f"| client RSS before the download | {before:.1f} MiB |")
    print(f"| client peak RSS | {peak:.1f} MiB = {peak / video_mib:.2f}x the video (goal < 3x) |")
    print(f"| growth during the download | {peak - before:.1f} MiB |")
    print()
    flags = f" --bytes {args.bytes}" if args.bytes != 64 << 20 else ""
    print(f"reproduce: python bench/vertex_inline_rss.py{flags}")


if __name__ == "__main__":
    main()
