"""TLS: a server with --tlsMode requireTLS and a certificate signed by the test CA 1."""
import time

from servers import MONGOD_VERSION


def env_for(uri, **extra):
    return {"FIFTYONE_DATABASE_URI": uri, "SUBSETTER_SERVER_SELECTION_TIMEOUT_MS": "5000", **extra}


def test_tls_with_the_right_ca(sub, tls_server, certs):
    uri = tls_server.uri(tls="true", tlsCAFile=certs.ca)
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 0, r
    j = r.json()
    assert j["ok"] is True and j["tls"] is True and j["embedded"] is False, j
    assert j["server_version"] == MONGOD_VERSION, j
    r = sub.run("doctor", env=env_for(uri))
    assert r.rc == 0, r
    assert "tls         on" in r.stdout, r


def test_tls_localhost_name(sub, tls_server, certs):
    """The certificate's DNS SAN (localhost) matches as well as its IP SAN."""
    uri = f"mongodb://localhost:{tls_server.port}/?tls=true&tlsCAFile={certs.ca}"
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 0, r
    assert r.json()["tls"] is True


def test_tls_unknown_ca_is_refused(sub, tls_server, certs):
    uri = tls_server.uri(tls="true", tlsCAFile=certs.other_ca)
    t0 = time.monotonic()
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert time.monotonic() - t0 < 30, r
    assert r.rc == 6, r
    j = r.json()
    assert j["ok"] is False and j["error"]["code"] == "TLS" and j["error"]["exit"] == 6, j
    msg = j["error"]["message"].lower()
    assert "certificate" in msg and "tls" in msg, j
    assert "tlscafile" in msg, "the message should hint at tlsCAFile"
    r = sub.run("schema", "status", env=env_for(uri))
    assert r.rc == 6, r


def test_tls_required_but_not_requested(sub, tls_server):
    uri = tls_server.uri()
    t0 = time.monotonic()
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert time.monotonic() - t0 < 30, r
    assert r.rc in (4, 6), r
    msg = r.json()["error"]["message"]
    assert "tls=true" in msg, f"expected a hint to add tls=true:\n{r}"
    assert "tls=true" in r.stderr


def test_tls_allow_invalid_certificates(sub, tls_server, certs):
    """The user turned the checks off: the unknown CA no longer matters."""
    uri = tls_server.uri(tls="true", tlsCAFile=certs.other_ca, tlsAllowInvalidCertificates="true")
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 0, r
    assert r.json()["tls"] is True
    uri = tls_server.uri(tls="true", tlsAllowInvalidCertificates="true")
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 0, r


def test_tls_client_certificate(sub, tls_server, certs):
    uri = tls_server.uri(tls="true", tlsCAFile=certs.ca, tlsCertificateKeyFile=certs.client)
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 0, r
    assert r.json()["tls"] is True


def test_tls_unreadable_ca_or_key_file(sub, tls_server, certs, tmp_path):
    """A tlsCAFile / tlsCertificateKeyFile that cannot be loaded is a TLS or configuration
    problem (6 or 3), named in the error; the server is up, so not "unreachable" (4)."""
    missing = tmp_path / "no-such-file.pem"
    for uri in (tls_server.uri(tls="true", tlsCAFile=missing),
                tls_server.uri(tls="true", tlsCAFile=certs.ca, tlsCertificateKeyFile=missing)):
        r = sub.run("doctor", "--json", env=env_for(uri))
        assert r.json()["ok"] is False, r
        assert r.rc in (3, 6), r
        assert "no-such-file.pem" in r.json()["error"]["message"].replace(uri, ""), r


def test_tls_schema_apply(sub, tls_server, certs, fresh_db):
    uri = tls_server.uri(tls="true", tlsCAFile=certs.ca)
    env = env_for(uri, FIFTYONE_DATABASE_NAME=fresh_db)
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0, r
    assert r.json()["changed"] is True
    with tls_server.client() as c:
        assert {"subsetter.runs", "subsetter.sources", "subsetter.fetch_tasks"} <= \
            set(c[fresh_db].list_collection_names())
