"""Peak memory of one large download: a synthetic 1 GiB video streamed from the simulator.

The simulator runs in its own process (``reelforge sim``), so the figure is the client's alone:
the adapter streams to ``video.mp4.part``, hashes as it goes and renames, so its memory must not
grow with the file. Prints the figures and the command that reproduces them.

    python bench/download_rss.py [--bytes 1073741824] [--drop]
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
from reelforge.providers import OpenAIVideosProvider


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


async def _run(base_url: str, dest: Path) -> tuple[int, float, int, str]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0)) as client:
        provider = OpenAIVideosProvider(client, base_url=base_url, api_key="sk-bench")
        status = await provider.submit(JobSpec(prompt="A very large video", seconds=4))
        while status.state is not RemoteState.COMPLETED:
            await asyncio.sleep(0.2)
            status = await provider.fetch(status.remote_id)
        started = time.perf_counter()
        result = await provider.download(status.remote_id, Variant.VIDEO, dest)
        elapsed = time.perf_counter() - started
        return result.size, elapsed, result.resumed, result.sha256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=1 << 30, help="synthetic video size")
    parser.add_argument("--drop", action="store_true", help="drop the first transfer midway")
    args = parser.parse_args()

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sim.json"
        faults: dict[str, object] = {"large_asset_bytes": args.bytes}
        if args.drop:
            faults["drop_download_first"] = 1
        config.write_text(json.dumps({"time_scale": 200, "faults": faults}))
        server = subprocess.Popen(
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
            base_url = f"http://127.0.0.1:{port}/v1"
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/_sim/log", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            baseline = _current_rss_mib()
            size, elapsed, resumed, digest = asyncio.run(_run(base_url, Path(tmp) / "video.mp4"))
            peak = _rss_mib()
            served = httpx.get(
                f"http://127.0.0.1:{port}/_sim/videos/{_last_id(port)}/sha256",
                params={"variant": "video"},
                timeout=600,
            ).json()["sha256"]
        finally:
            server.terminate()
            server.wait(timeout=10)

    print("| figure | value |")
    print("| --- | --- |")
    print(f"| bytes downloaded | {size:,} ({size / (1 << 30):.2f} GiB) |")
    print(f"| time | {elapsed:.1f} s ({size / elapsed / (1 << 20):.0f} MiB/s) |")
    print(f"| resumed after a drop | {resumed} time(s) |")
    print(f"| checksum matches the server's | {digest == served} |")
    print(f"| client RSS before the download | {baseline:.1f} MiB |")
    print(f"| client peak RSS | {peak:.1f} MiB (goal: under 100 MiB) |")
    print()
    flags = f" --bytes {args.bytes}" if args.bytes != 1 << 30 else ""
    print(f"reproduce: python bench/download_rss.py{flags}{' --drop' if args.drop else ''}")


def _last_id(port: int) -> str:
    log = httpx.get(f"http://127.0.0.1:{port}/_sim/log", timeout=10).json()
    return str(log["creates"][-1]["video_id"])


if __name__ == "__main__":
    main()
