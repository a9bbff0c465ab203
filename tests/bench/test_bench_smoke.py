"""Quick runs of every benchmark with tiny N: they keep working. No assertion on time."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import load_ticket, raw, replay
from benchmarks.common import latency_summary, percentile
from benchmarks.tickets import is_event, long_ticket_ids, realistic_stream
from shared.domain.events import decode_event
from shared.domain.events.codec import HEADER_EVENT_TYPE
from shared.domain.ticket import fold
from shared.runtime.cli import main


def test_realistic_stream_is_decodable_tickets_of_the_four_lives() -> None:
    messages = [m for m in realistic_stream(8000, long_tickets=3) if is_event(m)]
    by_ticket: dict[str, list] = {}
    for subject, headers, body in messages:
        by_ticket.setdefault(subject.split(".")[1], []).append(
            decode_event(headers[HEADER_EVENT_TYPE], 1, body))
    assert len(messages) == 8000 + 3 * 50
    assert all(len(by_ticket[t]) == 50 for t in long_ticket_ids(3))
    statuses = Counter(fold(events).status for events in by_ticket.values())
    assert {"closed", "declined", "in_progress"} <= set(statuses)
    # Event ids are unique: the server's deduplication must not drop any of them.
    assert len({h["Nats-Msg-Id"] for _, h, _ in messages}) == len(messages)


def test_percentiles_use_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert latency_summary([0.001, 0.002, 0.010])["max_ms"] == 10.0


async def test_replay_rebuilds_every_ticket() -> None:
    # More events than the store's replay buffer: the bounded queue must not lose any.
    result = await replay.run(6000, sync="default")
    assert result["events"] == 6000
    assert result["raw_read_events"] == 6000
    assert result["tickets"] == len({s.split(".")[1] for s, _, _ in realistic_stream(6000)
                                     if s.startswith("tickets.")})
    assert result["replay_events_per_s"] > 0 and result["sync"] == "default"
    assert set(result["projections"]) == {"console_queue", "time_entries"}
    # The console queue knows every ticket (open or finished), as the full fold does.
    assert result["projections"]["console_queue"]["items"] == result["tickets"]
    assert result["raw_pull_read_events"] == 6000


async def test_load_ticket_loads_fifty_events() -> None:
    result = await load_ticket.run(400, loads=5, sync="default")
    assert result["events"] == 400 + load_ticket.LONG_TICKETS * 50
    assert result["loads"] == 5 and result["p99_ms"] >= result["p50_ms"] > 0
    assert result["without_snapshot"]["p50_ms"] > 0 and result["scanned_loads"] == 0
    assert result["loads_fetching_by_sequence"] == 0  # every timed load used its snapshot


async def test_raw_limits_report_every_figure() -> None:
    result = await raw.limits(50, 20, sync="default", appends_per_ticket=3, concurrency=10)
    assert result["sequential_publishes_per_s"] > 0
    assert result["raw_occ_appends_per_s"] > 0 and result["store_occ_appends_per_s"] > 0


async def test_fill_reports_refused_publishes(store) -> None:  # type: ignore[no-untyped-def]
    bad = [("tickets.1.RequestSubmitted", {"Nats-Expected-Last-Subject-Sequence": "99"}, b"{}")]
    with pytest.raises(raw.FillError, match="refused"):
        await raw.fill(store.nc, bad, timeout_s=5.0)


def test_cli_prints_one_json_object_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "replay", "--events", "300", "--sync", "default"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["benchmark"] == "replay" and result["events"] == 300
    assert result["machine"]["cpus"] >= 1


@pytest.mark.parametrize("layout", ["one", "split"])
async def test_pipeline_runs_end_to_end(layout: str) -> None:
    from benchmarks import pipeline

    result = await pipeline.run(pipeline.Options(
        tickets=10, offered_per_s=20, duration_s=0.5, sync="default", layout=layout,
        idempotency_keys=layout == "split", concurrency=4, raw_count=20,
        receipt_timeout_s=30))
    assert result["throughput"]["tickets"] == 10 and result["latency"]["requests"] == 10
    assert result["http_errors"] == []
    assert result["ratio"] > 0 and result["p99_ms"] >= result["p50_ms"] > 0
    expected = ({"ticketcore up (intake, ack, oncall, billing)"} if layout == "one" else
                {"intake-1", "intake-2", "ack", "oncall", "billing", "nats-server"})
    assert expected <= set(result["rss_mb"])
    writes = result["throughput"]["writes_per_ticket"]
    # Every ticket: RequestSubmitted and AckSent in the log, a data key, a receipt claim.
    assert writes["TICKETS"] >= 2 and writes["KV_pii_keys"] == 1
    assert writes["KV_ack_receipts"] >= 1 and writes["total"] >= 5


async def test_memory_starts_every_service_on_a_filled_log() -> None:
    from benchmarks import memory

    result = await memory.run(400, sync="default", sample_s=0.2)
    assert set(result["rss_mb"]) == {"intake", "ack", "oncall", "billing"}
    assert all(value > 0 for value in result["rss_mb"].values())


async def test_a_benchmark_stopped_with_sigterm_stops_what_it_started(tmp_path: Path) -> None:
    import asyncio
    import signal
    import sys

    import psutil

    bench = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.runtime.cli", "bench", "pipeline", "--layout", "split",
        "--tickets", "100000", "--sync", "default", cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    process = psutil.Process(bench.pid)
    children: list[psutil.Process] = []
    for _ in range(300):  # until the services run (the nats-server, five services, the sink)
        children = process.children(recursive=True)
        if len(children) >= 7:
            break
        await asyncio.sleep(0.1)
    assert len(children) >= 7
    bench.send_signal(signal.SIGTERM)
    await asyncio.wait_for(bench.wait(), 60)
    _, alive = psutil.wait_procs(children, timeout=20)
    assert alive == []
