"""The app served to a load balancer: nginx on the host's own address, with TLS.

Runs only on a host converged with docker_app_proxy_listen on its own
(non-loopback) address, TLS from a test CA (molecule/shared/prepare_proxy_tls.yml)
and dockhard_test_proxy_ca naming that CA's certificate on the host; skipped
elsewhere. Every request goes from the host to its own address: no packet
leaves it.
"""

from __future__ import annotations

import json

import pytest
from app_stack import LOCAL_LISTEN, PROJECT, fetch, proxy_listen
from conftest import host_var, run_ok, run_playbook

# Runs on the host: one HTTPS request verified against the given CA (or the
# system's CAs when it is "-"); prints status and body as JSON, or the TLS error.
_FETCH_TLS = """
import json, ssl, sys, urllib.error, urllib.request
url, ca = sys.argv[1], sys.argv[2]
context = ssl.create_default_context(cafile=None if ca == "-" else ca)
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
try:
    r = opener.open(url, timeout=20)
    print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
except urllib.error.URLError as e:
    print(json.dumps({"status": None, "error": str(e.reason)}))
"""

pytestmark = pytest.mark.usefixtures("app_deployed")


@pytest.fixture(scope="module")
def listener(host) -> dict[str, str]:
    """The host's own address and the port nginx serves the app on, and the test CA."""
    ca = host_var(host, "dockhard_test_proxy_ca", "")
    listen = proxy_listen(host)
    if not ca or listen.startswith(("127.", "[::1]")):
        pytest.skip("the app is not served on the host's own address with a test CA here")
    address, port = listen.rsplit(":", 1)
    facts = host.ansible("setup", "gather_subset=network")["ansible_facts"]
    assert address == facts["ansible_default_ipv4"]["address"], listen
    return {"address": address, "port": port, "ca": ca, "base": f"https://{address}:{port}"}


def fetch_tls(host, url: str, ca: str) -> dict:
    return json.loads(run_ok(host, "python3", "-c", _FETCH_TLS, url, ca))


def test_lb_listener_serves_the_app_over_tls(host, listener):
    answer = fetch_tls(host, f"{listener['base']}/calculate?expr=2%2B3", listener["ca"])
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"]) == {"expr": "2+3", "result": 5}


def test_lb_listener_sends_hsts(host, listener):
    script = (
        "import ssl, sys, urllib.request; "
        "c = ssl.create_default_context(cafile=sys.argv[2]); "
        "print(urllib.request.urlopen(sys.argv[1], context=c, timeout=20)"
        ".headers['Strict-Transport-Security'])"
    )
    url = f"{listener['base']}/?name=lb"
    assert run_ok(host, "python3", "-c", script, url, listener["ca"]).strip().startswith("max-age=")


def test_lb_listener_denies_healthz(host, listener):
    # /healthz is for the host's loopback only (issue 15), whatever address the app is served on.
    answer = fetch_tls(host, f"{listener['base']}/healthz", listener["ca"])
    assert answer["status"] == 403, answer
    assert json.loads(answer["body"]) == {"error": "forbidden"}


def test_healthz_still_answers_on_loopback(host, listener):
    status, document, _ = fetch(host, "/healthz")
    assert status == 200
    assert document["db"] == "ok"


def test_lb_certificate_is_the_test_cas(host, listener):
    # Without the test CA the certificate is not trusted: nginx serves the one configured.
    answer = fetch_tls(host, f"{listener['base']}/?name=lb", "-")
    assert answer["status"] is None
    assert "CERTIFICATE_VERIFY_FAILED" in answer["error"]


def test_lb_listener_is_tls_only(host, listener):
    url = f"http://{listener['address']}:{listener['port']}/?name=lb"
    script = (
        "import sys, urllib.error, urllib.request\n"
        "try:\n    urllib.request.urlopen(sys.argv[1], timeout=20)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())\n"
    )
    status, body = run_ok(host, "python3", "-c", script, url).split(" ", 1)
    assert status == "400"
    assert json.loads(body) == {"error": "bad request"}


def test_nginx_listens_on_the_address_and_loopback_only(host, listener):
    address, port = listener["address"], listener["port"]
    local_port = LOCAL_LISTEN.rsplit(":", 1)[1]
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert host.socket(f"tcp://{LOCAL_LISTEN}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{local_port}").is_listening


def test_no_container_publishes_a_port(host, listener):
    label = f"label=com.docker.compose.project={PROJECT}"
    ports = run_ok(host, "docker", "ps", "--filter", label, "--format", "{{.Ports}}")
    assert ports.split() == []
    assert run_ok(host, "docker", "ps", "--quiet", "--filter", label).split()


def test_a_missing_tls_file_fails_before_nginx_is_touched(host, listener):
    conf = "/etc/nginx/conf.d/dockhard.conf"
    before = host.file(conf).sha256sum
    missing = listener["ca"].rsplit("/", 1)[0] + "/missing.crt"
    play = run_playbook(host, "app.yml", {"docker_app_proxy_tls_certificate": missing})
    assert play.returncode != 0
    # ansible-core prints a failed task's message on stderr under Molecule's settings.
    assert f"Not on the host: {missing}" in " ".join((play.stdout + play.stderr).split())
    assert host.file(conf).sha256sum == before
    answer = fetch_tls(host, f"{listener['base']}/?name=lb", listener["ca"])
    assert answer["status"] == 200, answer
