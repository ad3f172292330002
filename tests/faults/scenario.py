"""What a fault test asks of the app, run as a process of the app's own configuration.

    python -m tests.faults.scenario launch --calls 100 --images 2

prints, as JSON, the id of a new fal anchors run of that many calls (each for `images`
pictures, with a seed of its own so the fake's jobs can be matched to calls), launched as the
API would by an artist, and an API token of that artist's to read it with.
"""

import argparse
import json
import os
from dataclasses import replace


def launch(*, calls: int, images: int) -> dict:
    from django.contrib.auth import get_user_model

    from characters.presets import load_presets
    from characters.services import create_character
    from generation import runs
    from lorastudio.roles import ARTIST, set_role
    from lorastudio.tokens import issue_api_token

    load_presets()
    user, _ = get_user_model().objects.get_or_create(username="faults")
    set_role(user=user, role=ARTIST)  # an artist launches runs; without a role the API is 403
    character = create_character(
        name="Fit", trigger_word="fitmannequin", base_prompt="orange mannequin", preset="fitness"
    )
    template = runs.plan_run(
        character=character, kind="anchors", provider="fal", poses=["front"], count=images
    )
    first = template.calls[0]
    template.calls = [
        replace(first, inputs={**first.inputs, "seed": 10_000 + number}) for number in range(calls)
    ]
    run = runs.launch_run(plan=template, character=character, created_by=user, params={})
    _, token = issue_api_token(user=user, name="fault tests")
    return {"run": run.id, "token": token}


def broker_options() -> dict:
    """The broker options a worker of this configuration runs with."""
    from kombu.transport.redis import Channel

    from lorastudio.celery import app

    options = app.conf.broker_transport_options
    return {
        "visibility_timeout": options.get("visibility_timeout", Channel.visibility_timeout),
        "unacked_restore_interval": options.get(
            "unacked_restore_interval", Channel.unacked_restore_interval
        ),
        "unacked_restore_throttle": options.get(
            "unacked_restore_throttle", Channel.unacked_restore_throttle
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    launching = commands.add_parser("launch")
    launching.add_argument("--calls", type=int, required=True)
    launching.add_argument("--images", type=int, default=2)
    commands.add_parser("broker-options")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lorastudio.settings")
    import django

    django.setup()
    if args.command == "launch":
        print(json.dumps(launch(calls=args.calls, images=args.images)))
    elif args.command == "broker-options":
        print(json.dumps(broker_options()))


if __name__ == "__main__":
    main()
