"""`make run`, then the README's send example: the message lands as an `.eml` file in the
folder `make run` prints, and opens as an e-mail with the PDF and the UBL attached."""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import subprocess
import tempfile
import time

import httpx

from tests.documents.test_ubl import assert_valid
from tests.server import ROOT, free_port


def readme_send_example() -> str:
    section = (ROOT / "README.md").read_text().split("## Sending invoices by e-mail", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def wait_for(condition, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    return None


def test_make_run_then_the_readme_send_example_writes_an_eml_with_both_attachments(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PAYDOCK_") and key != "MAKEFLAGS"}
    env.update(PAYDOCK_DATABASE_URL=f"sqlite:///{tmp_path}/paydock.db", PAYDOCK_PORT=str(port),
               PAYDOCK_WORKERS="1")
    with tempfile.TemporaryFile(mode="w+") as output:
        make = subprocess.Popen(["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
                                cwd=ROOT, env=env, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def printed():
                output.seek(0)
                text = output.read()
                key = re.search(r"API key \(read, write, admin\): (ftj_\S+)", text)
                folder = re.search(r"e-mail goes out as \.eml files in ([^\s\"]+)", text)
                return (key.group(1), folder.group(1)) if key and folder else None

            started = wait_for(printed)
            assert started, output.seek(0) or output.read()[-3000:]
            key, folder = started
            assert folder == str(tmp_path / "mail")  # beside the database
            api = f"http://127.0.0.1:{port}/api"
            assert wait_for(lambda: _healthy(api)), "the API did not come up"

            example = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_send_example()],
                                     cwd=tmp_path, env={**env, "KEY": key, "API": api},
                                     capture_output=True, text=True, timeout=120)
            assert example.returncode == 0, example.stdout + example.stderr
            assert '"status": "queued"' in example.stdout and '"status": "sent"' in example.stdout
            emls = wait_for(lambda: sorted((tmp_path / "mail").glob("*.eml")))
            assert emls and len(emls) == 1, example.stdout
            assert f'"id": "{emls[0].stem}"' in example.stdout  # named by the delivery id
        finally:
            os.killpg(make.pid, signal.SIGTERM)
            try:
                make.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait()

    message = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "info@acme.nl"
    number = re.fullmatch(r"Factuur (\S+) van PayDock Demo BV", message["Subject"]).group(1)
    assert message["Message-ID"] == f"<{emls[0].stem}@paydock-demo.nl>"
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    assert sorted(attachments) == [f"factuur-{number}.pdf", f"factuur-{number}.xml"]
    assert attachments[f"factuur-{number}.pdf"].get_content().startswith(b"%PDF")
    assert_valid(attachments[f"factuur-{number}.xml"].get_content())


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
