"""`subsetter config`: precedence and origins of settings; configuration errors (exit 3)."""
import pytest

NAME = "FIFTYONE_DATABASE_NAME"
JOB = "settings:\n  database_name: fromyaml\n"


def settings(r):
    assert r.rc == 0, r
    return r.json()["settings"]


def write(path, text):
    path.write_text(text)
    return path


def test_defaults(sub):
    s = settings(sub.run("config", "--json"))
    assert s[NAME] == {"value": "fiftyone", "origin": "default"}
    assert s["FIFTYONE_DATABASE_URI"] == {"value": None, "origin": "default"}
    assert s["SUBSETTER_SERVER_SELECTION_TIMEOUT_MS"] == {"value": "10000", "origin": "default"}
    assert s["SUBSETTER_MIN_SERVER_VERSION"] == {"value": "4.4", "origin": "default"}
    # ~ expands to HOME (the test's own).
    assert s["SUBSETTER_HOME"] == {"value": f"{sub.home}/.subsetter", "origin": "default"}
    # The harness passes SUBSETTER_CACHE_DIR through, so it comes from the environment.
    assert s["SUBSETTER_CACHE_DIR"]["origin"] == "env SUBSETTER_CACHE_DIR"


def test_precedence(sub):
    write(sub.cwd / "job.yaml", JOB)
    # default
    assert settings(sub.run("config", "--json"))[NAME] == {"value": "fiftyone", "origin": "default"}
    # < job YAML
    s = settings(sub.run("config", "--json", "--job", "job.yaml"))
    assert s[NAME] == {"value": "fromyaml", "origin": "job.yaml:2:18"}
    # < .env
    write(sub.cwd / ".env", f"{NAME}=fromdotenv\n")
    s = settings(sub.run("config", "--json", "--job", "job.yaml"))
    assert s[NAME] == {"value": "fromdotenv", "origin": ".env:1"}
    # < environment
    s = settings(sub.run("config", "--json", "--job", "job.yaml", env={NAME: "fromenv"}))
    assert s[NAME] == {"value": "fromenv", "origin": f"env {NAME}"}
    # < flag
    for flag in (["--database-name", "fromflag"], ["--database-name=fromflag"]):
        s = settings(sub.run("config", "--json", "--job", "job.yaml", *flag, env={NAME: "fromenv"}))
        assert s[NAME] == {"value": "fromflag", "origin": "--database-name"}
    # Options may come before the command as well.
    s = settings(sub.run("--database-name", "fromflag", "--json", "config", "--job", "job.yaml"))
    assert s[NAME] == {"value": "fromflag", "origin": "--database-name"}


def test_text_output_shows_origins(sub):
    write(sub.cwd / "job.yaml", "# a job\nsettings:\n    min_server_version: '5.0'\n")
    write(sub.cwd / ".env", "# comment\n\nSUBSETTER_LOG_LEVEL=debug\n")
    r = sub.run("config", "--job", "job.yaml", "--server-selection-timeout-ms", "1234")
    assert r.rc == 0, r
    lines = {l.split()[0]: l for l in r.stdout.splitlines() if l.strip()}
    assert "5.0" in lines["SUBSETTER_MIN_SERVER_VERSION"]
    assert "(job.yaml:3:25)" in lines["SUBSETTER_MIN_SERVER_VERSION"], r
    assert "(.env:3)" in lines["SUBSETTER_LOG_LEVEL"], r
    assert "1234" in lines["SUBSETTER_SERVER_SELECTION_TIMEOUT_MS"]
    assert "(--server-selection-timeout-ms)" in lines["SUBSETTER_SERVER_SELECTION_TIMEOUT_MS"], r
    assert "(default)" in lines[NAME], r
    assert ".env file: .env (read)" in r.stdout, r


def test_env_file_option_and_variable(sub):
    write(sub.tmp / "other.env", f"\n{NAME}=fromother\n")
    write(sub.cwd / ".env", f"{NAME}=fromdotenv\n")
    s = settings(sub.run("config", "--json", "--env-file", sub.tmp / "other.env"))
    assert s[NAME] == {"value": "fromother", "origin": f"{sub.tmp / 'other.env'}:2"}
    r = sub.run("config", "--json", env={"SUBSETTER_ENV_FILE": sub.tmp / "other.env"})
    assert settings(r)[NAME]["value"] == "fromother"
    assert r.json()["env_file_found"] is True


def test_uri_password_is_hidden(sub):
    pw = "Sup3r-S3cret-pw"
    uri = f"mongodb://rw:{pw}@db.example.com:27017/?authSource=admin"
    r = sub.run("config", "--json", env={"FIFTYONE_DATABASE_URI": uri})
    s = settings(r)
    assert s["FIFTYONE_DATABASE_URI"] == {
        "value": "mongodb://rw:***@db.example.com:27017/?authSource=admin",
        "origin": "env FIFTYONE_DATABASE_URI"}
    assert pw not in r.out
    r = sub.run("config", env={"FIFTYONE_DATABASE_URI": uri})
    assert r.rc == 0 and "rw:***@db.example.com" in r.stdout and pw not in r.out, r
    # From .env and from the flag alike.
    write(sub.cwd / ".env", f"FIFTYONE_DATABASE_URI={uri}\n")
    r = sub.run("config", "--json")
    assert settings(r)["FIFTYONE_DATABASE_URI"]["origin"] == ".env:1"
    assert pw not in r.out, r
    r = sub.run("config", "--json", "--database-uri", uri)
    assert settings(r)["FIFTYONE_DATABASE_URI"]["value"].startswith("mongodb://rw:***@")
    assert pw not in r.out, r


def test_empty_uri_means_unset(sub):
    s = settings(sub.run("config", "--json", env={"FIFTYONE_DATABASE_URI": ""}))
    assert s["FIFTYONE_DATABASE_URI"]["value"] is None


def test_yaml_syntax_error(sub):
    write(sub.cwd / "job.yaml", "settings:\n  database_name: [unclosed\n")
    r = sub.run("config", "--job", "job.yaml")
    assert r.rc == 3, r
    assert "job.yaml:3:1:" in r.stderr, r
    r = sub.run("config", "--json", "--job", "job.yaml")
    assert r.rc == 3 and r.json()["error"]["code"] == "CONFIG", r
    assert r.json()["error"]["message"].startswith("job.yaml:3:1:"), r


def test_yaml_unknown_settings_key(sub):
    write(sub.cwd / "job.yaml", "settings:\n  database_name: x\n  databse_uri: mongodb://h/\n")
    r = sub.run("config", "--job", "job.yaml")
    assert r.rc == 3, r
    assert "job.yaml:3:3:" in r.stderr and "databse_uri" in r.stderr, r


def test_yaml_wrong_shapes(sub):
    for text, where in (("- a\n- b\n", "job.yaml:1:1:"),
                        ("settings: [a]\n", "job.yaml:1:11:"),
                        ("settings:\n  database_name: {a: 1}\n", "job.yaml:2:18:")):
        write(sub.cwd / "job.yaml", text)
        r = sub.run("config", "--job", "job.yaml")
        assert r.rc == 3, r
        assert where in r.stderr, r


def test_missing_job_file(sub):
    r = sub.run("config", "--job", "nope.yaml")
    assert r.rc == 3, r
    assert "nope.yaml" in r.stderr, r


def test_bad_dotenv_line(sub):
    write(sub.cwd / ".env", f"# settings\nOTHER_TOOL=1\n{NAME}=\"unterminated\n")
    r = sub.run("config")
    assert r.rc == 3, r
    assert ".env:3" in r.stderr, r
    r = sub.run("config", "--json")
    assert r.rc == 3, r
    assert r.json()["error"]["code"] == "CONFIG" and ".env:3" in r.json()["error"]["message"], r
    # Every command reads the configuration first.
    r = sub.run("doctor", env={"FIFTYONE_DATABASE_URI": "mongodb://127.0.0.1:1/"})
    assert r.rc == 3 and ".env:3" in r.stderr, r


def test_foreign_dotenv_keys_are_ignored(sub):
    write(sub.cwd / ".env", "FIFTYONE_DEFAULT_DATASET_DIR=/x\nSOMETHING_ELSE=1\n")
    r = sub.run("config", "--json")
    assert r.rc == 0, r
    assert r.json()["env_file_found"] is True


def test_missing_env_file(sub):
    r = sub.run("config", "--env-file", "missing.env")
    assert r.rc == 3, r
    assert "missing.env" in r.stderr, r
    r = sub.run("config", env={"SUBSETTER_ENV_FILE": sub.tmp / "missing.env"})
    assert r.rc == 3, r
    # The default ./.env is optional.
    r = sub.run("config", "--json")
    assert r.rc == 0 and r.json()["env_file_found"] is False, r


@pytest.mark.parametrize("var,value", [
    ("SUBSETTER_SERVER_SELECTION_TIMEOUT_MS", "abc"),
    ("SUBSETTER_SERVER_SELECTION_TIMEOUT_MS", "0"),
    ("SUBSETTER_SERVER_SELECTION_TIMEOUT_MS", "-5"),
    ("SUBSETTER_MIN_SERVER_VERSION", "latest"),
    ("SUBSETTER_LOG_LEVEL", "loud"),
    ("FIFTYONE_DATABASE_NAME", "a.b"),
    ("FIFTYONE_DATABASE_NAME", ""),
])
def test_bad_values(sub, var, value):
    r = sub.run("config", "--json", env={var: value})
    assert r.rc == 3, r
    j = r.json()
    assert j["error"]["code"] == "CONFIG" and j["error"]["exit"] == 3, j
    assert var in j["error"]["message"] and f"env {var}" in j["error"]["message"], j
    # A command that would connect fails the same way, before connecting.
    r = sub.run("doctor", env={var: value, "FIFTYONE_DATABASE_URI": "mongodb://127.0.0.1:1/"})
    assert r.rc == 3, r


def test_bad_value_from_flag_names_the_flag(sub):
    r = sub.run("config", "--server-selection-timeout-ms", "soon")
    assert r.rc == 3, r
    assert "--server-selection-timeout-ms" in r.stderr and "soon" in r.stderr, r
