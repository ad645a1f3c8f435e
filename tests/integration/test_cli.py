"""The command line itself: version, help, usage errors. No server needed."""
import re

EXIT_CODES = {
    0: "success", 1: "internal error", 2: "usage error", 3: "configuration error",
    4: "database unreachable", 5: "authentication failed", 6: "TLS failure",
    7: "server too old", 8: "lacks a privilege", 9: "a database command failed",
    10: "local file system error", 11: "embedded mongod could not be found",
    12: "embedded mongod is not running",
}


def test_version(sub):
    r = sub.run("--version")
    assert r.rc == 0, r
    assert re.match(r"subsetter \d+\.\d+\.\d+\n", r.stdout), r
    assert "libmongoc 1." in r.stdout and "libyaml" in r.stdout, r
    assert sub.run("version").stdout == r.stdout


def test_help_lists_commands_and_exit_codes(sub):
    r = sub.run("--help")
    assert r.rc == 0, r
    assert r.stdout.startswith("usage: subsetter"), r
    for cmd in ("doctor", "db", "schema", "config", "help", "version"):
        assert re.search(rf"^  {cmd}\s+\S", r.stdout, re.M), f"{cmd} not listed:\n{r}"
    for code, text in EXIT_CODES.items():
        assert re.search(rf"^\s+{code}\s+.*{re.escape(text)}", r.stdout, re.M), \
            f"exit code {code} ({text}) not listed:\n{r}"
    for flag in ("--json", "--env-file", "--job", "--database-uri", "--database-name"):
        assert flag in r.stdout
    assert sub.run("help").stdout == r.stdout


def test_help_command(sub):
    r = sub.run("help", "doctor")
    assert r.rc == 0, r
    assert r.stdout.startswith("usage: subsetter doctor"), r
    assert sub.run("doctor", "--help").stdout == r.stdout
    for cmd, first in (("db", "usage: subsetter db start|stop|status|uri"),
                       ("schema", "usage: subsetter schema apply|status"),
                       ("config", "usage: subsetter config")):
        r = sub.run("help", cmd)
        assert r.rc == 0 and r.stdout.startswith(first), r


def test_help_unknown_command(sub):
    r = sub.run("help", "frobnicate")
    assert r.rc == 2, r
    assert "frobnicate" in r.stderr, r


def test_no_command_is_a_usage_error(sub):
    r = sub.run()
    assert r.rc == 2, r
    assert "usage: subsetter" in r.stderr and r.stdout == "", r


def test_unknown_command(sub):
    r = sub.run("frobnicate")
    assert r.rc == 2, r
    assert "no command named 'frobnicate'" in r.stderr, r
    assert r.stdout == "", r


def test_unknown_option(sub):
    for args in (("--frobnicate",), ("doctor", "--frobnicate"), ("config", "-x")):
        r = sub.run(*args)
        assert r.rc == 2, r
        assert "unknown option" in r.stderr and args[-1] in r.stderr, r


def test_option_missing_value(sub):
    r = sub.run("config", "--database-name")
    assert r.rc == 2, r
    assert "--database-name" in r.stderr and "needs a value" in r.stderr, r


def test_db_bad_action(sub):
    for args in (("db", "frobnicate"), ("db",), ("db", "start", "extra")):
        r = sub.run(*args, env={"SUBSETTER_HOME": sub.tmp / "sh"})
        assert r.rc == 2, r
        assert "expected start, stop, status or uri" in r.stderr, r


def test_db_bad_action_json(sub):
    r = sub.run("db", "frobnicate", "--json", env={"SUBSETTER_HOME": sub.tmp / "sh"})
    assert r.rc == 2, r
    j = r.json()
    assert j["ok"] is False
    assert j["error"]["code"] == "USAGE" and j["error"]["exit"] == 2, j
    assert "frobnicate" in j["error"]["message"]


def test_schema_bad_action(sub):
    r = sub.run("schema", "frobnicate")
    assert r.rc == 2, r
    assert "expected apply or status" in r.stderr, r


def test_unexpected_argument(sub):
    for cmd in ("doctor", "config"):
        r = sub.run(cmd, "extra", env={"FIFTYONE_DATABASE_URI": "mongodb://127.0.0.1:1/"})
        assert r.rc == 2, r
        assert "unexpected argument 'extra'" in r.stderr, r
