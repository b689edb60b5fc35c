"""A real `flask --app owlmail worker` process, configured like production by OWLMAIL_*."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """Starts the worker with the test app's database and SMTP server; kill, stop, logs."""

    def __init__(self, app, log_path: Path, **settings) -> None:
        config = app.config
        self.env = {
            **os.environ,
            "OWLMAIL_SQLALCHEMY_DATABASE_URI": config["SQLALCHEMY_DATABASE_URI"],
            "OWLMAIL_SECRET_KEY": config["SECRET_KEY"],
            "OWLMAIL_SUPPRESSION_KEY": config["SUPPRESSION_KEY"],
            "OWLMAIL_BASE_URL": config["BASE_URL"],
            "OWLMAIL_MAIL_SERVER": config["MAIL_SERVER"] or "",
            "OWLMAIL_MAIL_PORT": str(config["MAIL_PORT"]),
            "OWLMAIL_CAMPAIGN_POLL_SECONDS": "0.2",
            "OWLMAIL_OUTBOX_POLL_SECONDS": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
        for key in ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_FILE"):
            if config.get(key):
                self.env[f"OWLMAIL_{key}"] = config[key]
        for key, value in settings.items():
            self.env[f"OWLMAIL_{key}"] = json.dumps(value)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "owlmail", "worker"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        self.process.kill()
        self.process.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop_quietly(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait(10)
