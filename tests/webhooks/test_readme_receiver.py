"""The README's receiver snippet works: it accepts PayDock's deliveries and refuses forgeries."""

from __future__ import annotations

import re
import threading
from http.server import HTTPServer

import httpx

from tests.server import ROOT
from tests.webhooks.conftest import add_endpoint, run_worker


def readme_receiver() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Verifying a webhook", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_receiver_verifies_paydock_webhooks(tenant, make_worker, capsys, monkeypatch):
    endpoint = add_endpoint(tenant, "http://127.0.0.1:9/")
    monkeypatch.setenv("PAYDOCK_WEBHOOK_SECRET", endpoint["secret"])
    code = readme_receiver()
    setup, last_line = code.rstrip().rsplit("\n", 1)
    assert last_line == 'HTTPServer(("0.0.0.0", 8080), PayDockWebhooks).serve_forever()'
    namespace: dict = {}
    exec(setup, namespace)  # everything but serve_forever() on port 8080
    server = HTTPServer(("127.0.0.1", 0), namespace["PayDockWebhooks"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tenant.patch(f"/api/webhook-endpoints/{endpoint['id']}",
                     {"url": f"http://127.0.0.1:{server.server_port}/"})
        contact = tenant.post("/api/contacts", {"name": "Readme BV"}).json()
        worker = make_worker()
        run_worker(worker)
        [delivery] = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
        assert delivery["status"] == "delivered" and delivery["response_status"] == 204
        assert capsys.readouterr().out == f"contact.created {contact['id']}\n"

        forged = httpx.post(f"http://127.0.0.1:{server.server_port}/", content=b'{"type": "x"}', headers={
            "webhook-id": "msg_forged", "webhook-timestamp": "1800000000",
            "webhook-signature": "v1,AAAA",
        })
        assert forged.status_code == 400
    finally:
        server.shutdown()
        server.server_close()
