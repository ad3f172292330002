"""Whole-pipeline throughput: a run of 230 calls through Celery, Redis and Postgres.

80 anchor candidates (8 poses × 10) and 150 variations (30 specs × 5), one image each, go to
a fake fal server (the real fal-client, over HTTPS through a local proxy) whose jobs take a
fixed time. A real worker process and a real beat run the state machine. Prints the wall
time against the ideal ceil(N / concurrency) × latency, and the requests made per call.

    .venv/bin/python bench/fanout.py [--latency 5] [--concurrency 16] [--calls 230]
    .venv/bin/python bench/fanout.py --runs 3 --before cda10d7   # 3 runs of each, alternating
    .venv/bin/python bench/fanout.py --throttle 100 --calls 48   # 429s: uploads of the inputs

`--before REF` runs REF's code (git archive into a temporary folder) against this checkout's
fake, side by side with this checkout's, run after run, and prints each side's ratios (min,
median, max). Each run also prints where a slot's time goes between one job and the next.
`--throttle N` answers the first N submits 429 and keeps the app private, so that the image
inputs are uploaded to fal's storage: it counts those uploads.

It uses its own database (lorastudio_bench_fanout, made afresh for each run, so that runs
start alike) and Redis database 11; nothing else is touched.
"""

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.checkouts import CELERY_FROM_PATH, export, load_average, use_code_from  # noqa: E402
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
    parser.add_argument(
        "--throttle",
        type=int,
        default=0,
        help="answer the first N submits 429 and upload inputs to fal's storage (the app is "
        "not public): counts the uploads",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each side")
    parser.add_argument("--before", metavar="REF", help="run REF's code too (e.g. main)")
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # as a child: a side's code
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
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
        # Not public under --throttle: fal cannot fetch inputs, so they go to fal's storage.
        "PUBLIC_BASE_URL": "" if args.throttle else "https://studio.example",
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


def measure(args, code: Path) -> dict:
    """One run of the plan on the app at `code`; its figures."""
    from tests.fakes.fal import FakeFal

    use_code_from(code)  # the app under test (the fake stays this checkout's)
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
        plan = plan_230(character, 230)
        if args.throttle:  # the calls with an input file to upload: variations of the anchors
            plan.calls = [c for c in plan.calls if c.inputs.get("image_url")]
        plan.calls = plan.calls[: args.calls]
        if args.throttle:
            fake.fail_next_submits(429, times=args.throttle)
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CELERY_FROM_PATH, "-A", "lorastudio", *command],
                cwd=code,
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
        return {
            "calls": n,
            "done": run.calls.filter(status=ProviderCall.Status.DONE).count(),
            "run": run.status,
            "images": Image.objects.filter(call__run=run).count(),
            "peak": peak,
            "wall": wall,
            "ideal": ideal,
            "ratio": wall / ideal,
            "status": fake.requests.status.total() / n,
            "results": fake.requests.results.total() / n,
            "submits": fake.requests.submits.total() / n,
            "accepted": fake.requests.accepted.total() / n,
            "uploads": len(fake.requests.of("upload")),
            "gaps": slot_gaps(fake, args.latency, args.concurrency),
            "load": load_average(),
        }


def print_run(args, figures: dict, label: str = "") -> None:
    n, prefix = figures["calls"], f"{label} " if label else ""
    print(
        f"{prefix}calls {n} ({figures['done']} done, run {figures['run']}), "
        f"{figures['images']} images saved; peak in flight {figures['peak']}"
    )
    print(
        f"{prefix}wall {figures['wall']:.2f} s, ideal {figures['ideal']:.2f} s "
        f"(ceil({n}/{args.concurrency}) × {args.latency}): ratio {figures['ratio']:.3f}; "
        f"load average {figures['load']}"
    )
    print(
        f"{prefix}per call: {figures['status']:.2f} status, {figures['results']:.2f} result, "
        f"{figures['submits']:.2f} submit ({figures['accepted']:.2f} accepted) requests; "
        f"{figures['uploads']} input files uploaded to fal in all"
    )
    if figures["gaps"]:
        print(f"{prefix}slot gaps, median / mean ms ({figures['gaps']['slots']} slots handed on):")
        for name, (median, mean) in figures["gaps"]["steps"].items():
            print(f"{prefix}  {name:<34} {median:6.0f} / {mean:6.0f}")


def child(args, side: dict) -> dict:
    """One run of this script on one side's code, in a process of its own."""
    command = [sys.executable, __file__, "--code", str(side["code"]), "--json"]
    for name in ("calls", "latency", "concurrency", "threads", "tick", "throttle"):
        command += [f"--{name}", str(getattr(args, name))]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        sys.exit(f"{side['name']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    args = parse_args()
    if args.code:  # a child: one run, its figures as JSON
        figures = measure(args, args.code)
        print(json.dumps(figures) if args.json else "")
        if not args.json:
            print_run(args, figures)
        return
    if args.runs == 1 and not args.before:
        print_run(args, measure(args, ROOT))
        return
    sides = [{"name": "after", "code": ROOT}]
    with tempfile.TemporaryDirectory(prefix="fanout-before-") as folder:
        if args.before:
            export(args.before, folder)
            sides.insert(0, {"name": "before", "code": Path(folder)})
            print(f"before: {args.before}; after: this checkout")
        print(f"load average at the start {load_average()} (2 cores)")
        runs = {side["name"]: [] for side in sides}
        for number in range(args.runs):
            for side in sides:  # the sides alternate, so both see the same load
                figures = child(args, side)
                runs[side["name"]].append(figures)
                print_run(args, figures, label=f"[{side['name']} {number + 1}]")
        print()
        for side in sides:
            ratios = sorted(figures["ratio"] for figures in runs[side["name"]])
            status = [figures["status"] for figures in runs[side["name"]]]
            uploads = [figures["uploads"] for figures in runs[side["name"]]]
            print(
                f"{side['name']:<6} ratio min / median / max {ratios[0]:.3f} / "
                f"{statistics.median(ratios):.3f} / {ratios[-1]:.3f} over {len(ratios)} runs; "
                f"status requests per call {min(status):.2f}-{max(status):.2f}; "
                f"uploads {min(uploads)}-{max(uploads)}"
            )
        print(f"load average at the end {load_average()}")


def slot_gaps(fake, latency: float, concurrency: int) -> dict:
    """Where a slot's time goes between one job ending at the fake and the next job taking
    its place: the status check that finds it done, its result, the app's own work up to
    sending the next call (recording the result, freeing the slot, claiming the next call)
    and the submit request itself."""
    from generation.models import ProviderCall

    wall_offset = time.time() - time.monotonic()  # the fake's clock is this machine's monotonic
    sending = {
        external_id: at.timestamp() - wall_offset
        for external_id, at in ProviderCall.objects.filter(
            external_id__in=list(fake.jobs)
        ).values_list("external_id", "sending_at")
        if at
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
        return {}
    steps = {
        "job done → status finds it": found,
        "status → result fetched": fetched,
        "result → next call being sent": claimed,
        "being sent → its job at the fake": posted,
        "in all": [sum(gap) for gap in zip(found, fetched, claimed, posted, strict=True)],
    }
    return {
        "slots": len(found),
        "steps": {
            name: (statistics.median(values) * 1000, statistics.fmean(values) * 1000)
            for name, values in steps.items()
        },
    }


if __name__ == "__main__":
    main()
