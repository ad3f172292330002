"""Whole-pipeline throughput: a run of 230 calls through Celery, Redis and Postgres.

80 anchor candidates (8 poses × 10) and 150 variations (30 specs × 5), one image each, go to
a fake fal server (the real fal-client, over HTTPS through a local proxy) whose jobs take a
fixed time. A real worker process and a real beat run the state machine. Prints the wall
time against the ideal ceil(N / concurrency) × latency, and the requests made per call.

    .venv/bin/python bench/fanout.py [--latency 5] [--concurrency 16] [--calls 230]

It uses its own database (lorastudio_bench_fanout, made afresh for each run, so that runs
start alike) and Redis database 11; nothing else is touched.
"""

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.database import prepare_bench_database  # noqa: E402

ULTRA = "fal-ai/flux-pro/v1.1-ultra"
IMG2IMG = "fal-ai/flux/dev/image-to-image"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=230)
    parser.add_argument("--latency", type=float, default=5.0, help="seconds each fake job runs")
    parser.add_argument("--concurrency", type=int, default=16, help="calls at fal at once")
    parser.add_argument("--threads", type=int, default=32, help="worker threads")
    parser.add_argument("--tick", type=float, default=0.25, help="beat's periodic pass, seconds")
    return parser.parse_args()


def environment(args, fake, media: str, queue: str) -> dict:
    return {
        **fake.env,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/lorastudio_bench_fanout",
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "CELERY_QUEUE": queue,
        "CACHE_KEY_PREFIX": queue,
        "PROVIDER_CONCURRENCY": f"fal={args.concurrency}",
        "CALL_TICK_SECONDS": str(args.tick),
        "PUBLIC_BASE_URL": "https://studio.example",
        "MEDIA_ROOT": media,
        "FAL_KEY": fake.key,
        "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-not-a-secret"),  # DEBUG stays false
    }


def prepare_database():
    prepare_bench_database(fresh=True)


def plan_230(character, count: int):
    """80 candidates and 150 variations, one image per call, as the run's calls."""
    from decimal import Decimal

    from characters.models import Anchor, Image
    from generation.inputs import file_ref
    from generation.runs import Plan, PlannedCall

    plan = Plan(kind="anchors", provider="fal")
    poses = list(character.poses.all())
    anchors = {a.pose_id: a.image for a in Anchor.objects.filter(character=character)}
    for pose in poses:
        for _ in range(10):
            plan.calls.append(
                PlannedCall(
                    "text_to_image",
                    pose.label,
                    1,
                    Decimal("0.06"),
                    {"prompt": pose.prompt, "num_images": 1, "seed": 1},
                    {
                        "character_id": character.id,
                        "kind": Image.Kind.CANDIDATE,
                        "pose_id": pose.id,
                    },
                )
            )
    for spec in list(character.variations.select_related("anchor_pose"))[:30]:
        source = anchors[spec.anchor_pose_id]
        for _ in range(5):
            plan.calls.append(
                PlannedCall(
                    "image_to_image",
                    spec.label,
                    1,
                    Decimal("0.03"),
                    {
                        "prompt": spec.prompt,
                        "image_url": file_ref(source.file.name),
                        "strength": float(spec.strength),
                        "num_images": 1,
                        "seed": 1,
                    },
                    {
                        "character_id": character.id,
                        "kind": Image.Kind.VARIATION,
                        "pose_id": spec.anchor_pose_id,
                        "variation_id": spec.id,
                        "source_image_id": source.id,
                    },
                )
            )
    plan.calls = plan.calls[:count]
    return plan


def character_with_a_sheet():
    import io

    from django.core.files.base import ContentFile
    from PIL import Image as PILImage

    from characters.models import Anchor, Image
    from characters.services import create_character

    character = create_character(
        name=f"bench {uuid.uuid4().hex[:6]}",
        trigger_word=f"bench{uuid.uuid4().hex[:8]}",
        base_prompt="orange mannequin",
        preset="fitness",
    )
    for pose in character.poses.all():
        buffer = io.BytesIO()
        PILImage.new("RGB", (64, 64), (226, 98, 43)).save(buffer, "PNG")
        image = Image(character=character, kind=Image.Kind.CANDIDATE, pose=pose)
        image.file.save(f"bench-{pose.key}.png", ContentFile(buffer.getvalue()), save=True)
        Anchor.objects.create(character=character, pose=pose, image=image)
    return character


def main():
    args = parse_args()
    from tests.fakes.fal import FakeFal

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    media = tempfile.mkdtemp(prefix="lorastudio-bench-")
    with FakeFal() as fake:
        for endpoint in (ULTRA, IMG2IMG):
            fake.script(endpoint, duration=args.latency, image_size=(64, 64))
        env = environment(args, fake, media, queue)
        os.environ.update(env)
        prepare_database()
        from characters.models import Image
        from generation.models import ProviderCall
        from generation.runs import launch_run

        character = character_with_a_sheet()
        plan = plan_230(character, args.calls)
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "lorastudio", *command],
                cwd=ROOT,
                env={**os.environ, **env},
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for command in (
                [
                    "worker",
                    "-P",
                    "threads",
                    "-c",
                    str(args.threads),
                    "-Q",
                    f"{queue},{queue}.calls",  # the Procfile's calls worker
                    "--without-mingle",
                    "--without-gossip",
                    "-l",
                    "warning",
                ],
                ["beat", "-l", "warning", "--schedule", f"{media}/beat-schedule"],
            )
        ]
        try:
            time.sleep(3)  # let the worker connect
            started = time.monotonic()
            run = launch_run(
                plan=plan, character=character, created_by=None, params={"bench": True}
            )
            peak = 0
            while True:
                run.refresh_from_db()
                if run.finished_at:
                    break
                at_fal = ProviderCall.objects.filter(
                    run=run, status__in=ProviderCall.AT_PROVIDER
                ).count()
                peak = max(peak, at_fal)
                if time.monotonic() - started > 20 * args.latency * math.ceil(
                    len(plan.calls) / args.concurrency
                ):
                    raise SystemExit(f"gave up: run still {run.status}")
                time.sleep(0.05)
            wall = time.monotonic() - started
        finally:
            for child in children:
                os.killpg(child.pid, signal.SIGTERM)
            for child in children:
                child.wait(timeout=30)

        n = len(plan.calls)
        ideal = math.ceil(n / args.concurrency) * args.latency
        done = run.calls.filter(status=ProviderCall.Status.DONE).count()
        images = Image.objects.filter(call__run=run).count()
        print(f"calls                 {n} ({done} done, run {run.status}), {images} images saved")
        print(
            f"latency per job       {args.latency:.2f} s; concurrency cap {args.concurrency}; "
            f"peak in flight seen {peak}"
        )
        print(f"wall time             {wall:.2f} s")
        print(
            f"ideal                 {ideal:.2f} s  (ceil({n}/{args.concurrency}) × {args.latency})"
        )
        print(f"ratio wall / ideal    {wall / ideal:.3f}")
        print(f"status requests/call  {fake.requests.status.total() / n:.2f}")
        print(f"result requests/call  {fake.requests.results.total() / n:.2f}")
        print(f"submits/call          {fake.requests.submits.total() / n:.2f}")
        print_slot_gaps(fake, args.latency, args.concurrency)


def print_slot_gaps(fake, latency: float, concurrency: int) -> None:
    """Where a slot's time goes between one job ending at the fake and the next job taking
    its place: the status check that finds it done, its result, and the app's own work
    (recording it, freeing the slot, claiming and submitting the next call)."""
    import statistics

    from generation.models import ProviderCall

    wall_offset = time.time() - time.monotonic()  # the fake's clock is this machine's monotonic
    sending = {
        external_id: at.timestamp() - wall_offset
        for external_id, at in ProviderCall.objects.filter(
            external_id__in=list(fake.jobs)
        ).values_list("external_id", "sending_at")
    }
    jobs = sorted(fake.jobs.values(), key=lambda job: job.submitted)
    status = {}
    results = {}
    for call in fake.requests:
        if call.kind == "status" and call.request_id:
            status.setdefault(call.request_id, []).append(call.at)
        elif call.kind == "result" and call.request_id:
            results.setdefault(call.request_id, call.at)
    ends = sorted(
        (job.submitted + latency, job.request_id) for job in jobs if job.request_id in results
    )
    starts = [(job.submitted, job.request_id) for job in jobs][concurrency:]
    found, fetched, claimed, posted = [], [], [], []
    for (end, request_id), (next_start, next_id) in zip(ends, starts, strict=False):
        seen = min((at for at in status.get(request_id, []) if at >= end), default=None)
        if seen is None or next_id not in sending:
            continue
        found.append(seen - end)
        fetched.append(results[request_id] - seen)
        claimed.append(sending[next_id] - results[request_id])
        posted.append(next_start - sending[next_id])
    if not found:
        return

    def line(label, values):
        values = [v * 1000 for v in values]
        print(
            f"  {label:<34} median {statistics.median(values):6.0f} ms, "
            f"mean {statistics.fmean(values):6.0f} ms"
        )

    print(f"slot gaps ({len(found)} slots handed on)")
    line("job done → status finds it", found)
    line("status → result fetched", fetched)
    line("result → next call being sent", claimed)
    line("being sent → its job at the fake", posted)
    line("in all", [sum(gap) for gap in zip(found, fetched, claimed, posted, strict=True)])


if __name__ == "__main__":
    main()
