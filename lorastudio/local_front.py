"""The compose front on loopback: gunicorn with the production settings (DEBUG=false) and,
in front of it, Debian's nginx with docker/nginx/lorastudio.conf.template.

One way to start them for the two that need the real thing: the front-proxy tests
(tests/lorastudio/test_front_proxy.py) and the web-tier benchmark (bench/load.py).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "docker" / "nginx" / "lorastudio.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ACCEL_PREFIX = "/_protected_media/"  # the template's internal location for media files


class FrontDidNotStart(RuntimeError):
    """gunicorn or nginx exited, or never listened; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def web_env(
    *, database_url: str, redis_url: str, media: Path, behind_nginx: bool
) -> dict[str, str]:
    """The environment of the web tier as deployed (DEBUG=false), over plain HTTP on loopback:
    add it to os.environ for gunicorn. Behind nginx, media files leave through nginx after
    Django checked the signed link (X-Accel-Redirect)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STORAGE": "local",
        "MEDIA_ROOT": str(media),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # Loopback is plain HTTP: no redirect to https, cookies sent without TLS.
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
    }
    if behind_nginx:
        env["MEDIA_ACCEL_REDIRECT"] = ACCEL_PREFIX
    return env


def start_gunicorn(
    *,
    port: int,
    env: dict[str, str],
    workers: int,
    log: Path,
    access_log: Path | None = None,
    code: Path = ROOT,
) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:`port` from the checkout at `code`, in a session of its own
    (`stop` ends it with its workers)."""
    command = [
        *(sys.executable, "-m", "gunicorn", "lorastudio.wsgi", "-b", f"127.0.0.1:{port}"),
        *("-w", str(workers), "--timeout", "30"),
    ]
    if access_log is not None:
        command += ["--access-logfile", str(access_log)]
    return subprocess.Popen(
        command,
        cwd=code,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def nginx_conf(
    folder: Path,
    *,
    listen: int,
    upstream: int,
    media: Path,
    access_log: Path | None = None,
    worker_connections: int = 256,
) -> Path:
    """nginx.conf in `folder` (which also holds its pid, logs and temporary files): the site
    of the compose template on 127.0.0.1:`listen`, in front of gunicorn on `upstream`."""
    site = TEMPLATE.read_text()
    for name, value in {
        "LORASTUDIO_LISTEN": f"127.0.0.1:{listen}",
        "LORASTUDIO_UPSTREAM": f"127.0.0.1:{upstream}",
        "LORASTUDIO_UPLOAD_BODY": "401m",
        "LORASTUDIO_STATIC_ROOT": str(ROOT / "static"),
        "LORASTUDIO_MEDIA_ROOT": str(media),
        "LORASTUDIO_S3_BUCKET": "lorastudio-bucket",
        "LORASTUDIO_S3_UPSTREAM": "127.0.0.1:9",
    }.items():
        site = site.replace("${" + name + "}", value)
    (folder / "site.conf").write_text(site)
    temps = "\n".join(
        f"  {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections {worker_connections}; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log {access_log or "off"};
{temps}
  include {folder / "site.conf"};
}}
"""
    )
    return conf


def start_nginx(conf: Path, *, log: Path) -> subprocess.Popen:
    """nginx with `conf` (its prefix is the folder `conf` is in), in a session of its own."""
    return subprocess.Popen(
        [NGINX, "-p", str(conf.parent), "-c", str(conf)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_port(port: int, process: subprocess.Popen, log: Path, bound: float = 60) -> None:
    """Return once something listens on `port`; FrontDidNotStart when `process` exits first or
    `bound` seconds pass."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FrontDidNotStart(f"{process.args[:3]} exited:\n{_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise FrontDidNotStart(f"nothing listens on {port}:\n{_tail(log)}")


def stop(*processes: subprocess.Popen) -> None:
    """End each process with its session (gunicorn's workers too), in the order given."""
    for process in processes:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""
