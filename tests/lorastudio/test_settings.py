import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    # The suite's own settings module and key stay out: each test says what it sets.
    dropped = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE"}
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_values_from_the_environment():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="p8Vq!3xZr7#LmN2@wKs9$TfY6^hGd4&jB1*cUe5(oAi0)Qv-RtHn",
        ALLOWED_HOSTS="studio.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_a_secret_key_and_without_debug_the_app_refuses_to_start():
    result = run_manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set and DEBUG is false" in result.stderr


def test_a_developer_machine_starts_without_a_secret_key():
    result = run_manage("check", DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_an_unknown_storage_setting_is_refused_at_start():
    result = run_manage("check", STORAGE="ftp", DEBUG="true")
    assert result.returncode != 0
    assert "STORAGE must be 'local' or 's3'" in result.stderr
