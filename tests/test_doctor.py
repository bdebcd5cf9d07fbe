"""``rdstrust doctor``: its prediction for each pgjdbc configuration must be what the real pgjdbc
does against a real PostgreSQL server, row by row; URL and option parsing for every driver.

The JVM rows run pgjdbc (Debian's libpostgresql-jdbc-java) in two JVMs: the system JDK (whose
cacerts does not trust the test CA) and a small runtime made with ``jlink`` whose own ``cacerts``
does (and a hard-linked copy whose cacerts does not), so that the JVM's silent fallback from a
missing ``javax.net.ssl.trustStore`` to ``cacerts`` is visible: the same missing file connects in
one runtime and fails in the other, exactly as doctor predicts. ``user.home`` is always given
with ``-Duser.home`` (the JVM ignores ``$HOME``), so no test reads or writes a real home.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mysqlserver import MySQLServer, mysql_server  # noqa: F401  (session fixture)
from pgserver import PgServer, pg_server  # noqa: F401  (session fixture)
from support import FIXTURES, missing, require_tool
from test_verify import G1, NEW_CA, PASSWORD, certs, make_store
from typer.testing import CliRunner

from rdstrust.cli import app
from rdstrust.doctor import (
    DoctorOptions,
    Driver,
    Prediction,
    Resolution,
    SourceKind,
    parse_java_options,
    parse_jdbc_url,
    resolve,
)
from rdstrust.errors import UsageError

runner = CliRunner()
PGJDBC = Path("/usr/share/java/postgresql.jar")
#: The reference: only the CA of the chain the test server serves (rds-ca-rsa2048-g1 us-east-1).
ROOT = FIXTURES / "chains" / "rsa2048-g1-us-east-1" / "root.pem"
JAVA_FACTORY = "org.postgresql.ssl.DefaultJavaSSLFactory"

CONNECT = """
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class Connect {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0]);
             ResultSet r = c.createStatement().executeQuery("select 1")) {
            r.next();
            System.out.println("CONNECTED " + r.getInt(1));
        } catch (Exception e) {
            Throwable t = e;
            while (t.getCause() != null) { t = t.getCause(); }
            System.out.println("FAILED " + e + " / " + t);
            System.exit(1);
        }
    }
}
"""


# --- the real pgjdbc ---------------------------------------------------------------------------


@dataclass
class Lab:
    """Stores, homes and JVMs for the table, made once per session."""

    base: Path
    classes: Path
    #: JVM name -> java binary: "system" (cacerts lacks the CA), "rt-good", "rt-bad".
    javas: dict[str, str] = field(default_factory=dict)
    #: Why the jlink runtimes are missing (their rows then skip, or fail under CI).
    problem: str = ""

    def java(self, name: str) -> str:
        if name not in self.javas:
            missing(self.problem or f"the {name} runtime")
        return self.javas[name]

    def path(self, name: str) -> str:
        return str(self.base / name)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    if not PGJDBC.exists():
        missing("pgjdbc (Debian package libpostgresql-jdbc-java)")
    java, javac, jlink = (require_tool(t) for t in ("java", "javac", "jlink"))
    base = tmp_path_factory.mktemp("doctor")
    classes = base / "classes"
    classes.mkdir()
    (classes / "Connect.java").write_text(CONNECT)
    subprocess.run([javac, "-d", str(classes), str(classes / "Connect.java")], check=True)
    lab = Lab(base, classes, {"system": java})
    good, bad = certs(G1), certs(G1, drop=[NEW_CA])
    for name, infos in (("good", good), ("bad", bad)):
        (base / name).mkdir()
        for kind in ("pem", "jks", "pkcs12"):
            make_store(base / name, kind, infos)
    for home, store in (("home-good", "good"), ("home-bad", "bad")):
        (base / home / ".postgresql").mkdir(parents=True)
        shutil.copyfile(base / store / "store.pem", base / home / ".postgresql" / "root.crt")
    (base / "home-empty").mkdir()
    _runtimes(lab, jlink)
    return lab


def _runtimes(lab: Lab, jlink: str) -> None:
    # A private runtime has its own lib/security/cacerts, which the test may replace; the
    # system JDK's is never touched. Hard links make the second one cheap.
    good = lab.base / "rt-good"
    modules = (
        "java.sql,java.sql.rowset,java.naming,java.management,java.security.jgss,jdk.crypto.ec"
    )
    made = subprocess.run(
        [jlink, "--add-modules", modules, "--output", str(good), "--strip-debug",
         "--no-header-files", "--no-man-pages"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if made.returncode != 0:
        lab.problem = f"jlink could not make a runtime (JDK without jmods?): {made.stderr[-300:]}"
        return
    bad = lab.base / "rt-bad"
    subprocess.run(["cp", "-al", str(good), str(bad)], check=True)
    for runtime, store in ((good, "good"), (bad, "bad")):
        cacerts = runtime / "lib" / "security" / "cacerts"
        cacerts.unlink()  # a hard link (rt-bad) or jlink's copy: never the system file
        shutil.copyfile(lab.base / store / "store.jks", cacerts)
        lab.javas[runtime.name] = str(runtime / "bin" / "java")


def pgjdbc_connects(lab: Lab, java: str, url: str, options: list[str]) -> tuple[bool, str]:
    done = subprocess.run(
        [java, "-cp", f"{PGJDBC}:{lab.classes}", *options, "Connect", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode == 0 and "CONNECTED 1" in done.stdout, done.stdout + done.stderr


#: What a failure for trust reasons says (and a failure for any other reason does not).
TRUST_FAILURES = (
    "PKIX path",
    "trustAnchors parameter must be non-empty",
    "problem accessing trust store",
    "SSL root certificate",
    "Failed to store certificate",
    "Failed load keyStore",
    "Failed to find serverSslCert file",
)


def _trust_failure(output: str) -> bool:
    return "FAIL" in output and any(words in output for words in TRUST_FAILURES)


def doctor(
    url: str, options: list[str], *extra: str, java: str | None = None
) -> tuple[int, dict[str, object]]:
    args = ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--json", *extra]
    if options:
        args += ["--java-options", shlex.join(options)]
    if java is not None:
        args += ["--java", java]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1, 5), result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout)


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One pgjdbc configuration, what doctor must predict, and the exit code."""

    id: str
    params: dict[str, str]
    #: -D options; "{x}" is replaced by the lab path of x.
    options: tuple[str, ...]
    home: str
    java: str
    prediction: Prediction
    exit_code: int


def _row(id: str, params: str, options: str, home: str, java: str, pred: str, code: int) -> Row:
    pairs = dict(p.split("=", 1) for p in params.split("&") if p)
    return Row(id, pairs, tuple(options.split()), home, java, Prediction(pred), code)


VF = "sslmode=verify-full"
JF = f"sslmode=verify-full&sslfactory={JAVA_FACTORY}"
TS = "-Djavax.net.ssl.trustStore={%s}"
PW = f"-Djavax.net.ssl.trustStorePassword={PASSWORD}"
ROWS = [
    # pgjdbc's default factory (LibPQFactory): ~/.postgresql/root.crt or sslrootcert, PEM only
    _row("libpq-root.crt", VF, "", "home-good", "system", "connects", 0),
    _row("libpq-root.crt-lacks-ca", VF, "", "home-bad", "system", "fails", 1),
    _row("libpq-no-root.crt", VF, "", "home-empty", "system", "fails", 5),
    _row("libpq-sslrootcert", VF + "&sslrootcert={good/store.pem}", "", "home-empty", "system",
         "connects", 0),
    _row("libpq-sslrootcert-lacks-ca", VF + "&sslrootcert={bad/store.pem}", "", "home-good",
         "system", "fails", 1),
    _row("libpq-sslrootcert-is-jks", VF + "&sslrootcert={good/store.jks}", "", "home-empty",
         "system", "fails", 5),
    _row("libpq-ignores-truststore", VF, TS % "good/store.jks" + " " + PW, "home-empty",
         "system", "fails", 5),
    _row("ssl=true-means-verify-full", "ssl=true", "", "home-empty", "system", "fails", 5),
    _row("ssl=true-root.crt", "ssl=true", "", "home-good", "system", "connects", 0),
    _row("require-no-root.crt", "sslmode=require", "", "home-empty", "system",
         "connects without verification", 1),
    _row("require-root.crt-lacks-ca", "sslmode=require", "", "home-bad", "system",
         "connects without verification", 1),
    _row("nonvalidating", VF + "&sslfactory=org.postgresql.ssl.NonValidatingFactory", "",
         "home-bad", "system", "connects without verification", 1),
    # DefaultJavaSSLFactory: the JVM's trust store
    _row("jvm-jks", JF, TS % "good/store.jks" + " " + PW, "home-empty", "system", "connects", 0),
    _row("jvm-jks-lacks-ca", JF, TS % "bad/store.jks" + " " + PW, "home-good", "system",
         "fails", 1),
    _row("jvm-pkcs12-no-password", JF, TS % "good/pkcs12.p12", "home-empty", "system",
         "connects", 0),
    _row("jvm-pkcs12-typed-jks", JF, TS % "good/pkcs12.p12" + " -Djavax.net.ssl.trustStoreType=JKS",
         "home-empty", "system", "connects", 0),
    _row("jvm-pkcs12-typed-jceks", JF,
         TS % "good/pkcs12.p12" + " -Djavax.net.ssl.trustStoreType=JCEKS", "home-empty",
         "system", "fails", 5),
    _row("jvm-jks-typed-jceks", JF, TS % "good/store.jks" + " -Djavax.net.ssl.trustStoreType=JCEKS",
         "home-empty", "system", "connects", 0),
    _row("jvm-pem-as-truststore", JF, TS % "good/store.pem", "home-good", "system", "fails", 5),
    _row("jvm-wrong-password", JF, TS % "good/store.jks" + " -Djavax.net.ssl.trustStorePassword=x",
         "home-empty", "system", "fails", 5),
    _row("jvm-require-still-checks-chain", f"sslmode=require&sslfactory={JAVA_FACTORY}",
         TS % "bad/store.jks", "home-good", "system", "fails", 1),
    _row("jvm-truststore-NONE", JF, "-Djavax.net.ssl.trustStore=NONE", "home-empty", "rt-good",
         "fails", 1),
    # The missing trustStore file: the JVM silently falls back to cacerts.
    _row("jvm-missing-file-cacerts-trusts", JF, TS % "no-such.jks", "home-empty", "rt-good",
         "connects", 0),
    _row("jvm-missing-file-cacerts-lacks", JF, TS % "no-such.jks", "home-empty", "rt-bad",
         "fails", 1),
    _row("jvm-missing-file-password-for-cacerts", JF, TS % "no-such.jks" + " -Djavax.net.ssl."
         "trustStorePassword=other", "home-empty", "rt-good", "fails", 5),
    _row("jvm-unset-cacerts", JF, "", "home-empty", "rt-good", "connects", 0),
    _row("jvm-unset-cacerts-lacks", JF, "", "home-empty", "rt-bad", "fails", 1),
]  # fmt: skip


def _fill(text: str, lab: Lab) -> str:
    while "{" in text:
        start = text.index("{")
        end = text.index("}", start)
        text = text[:start] + lab.path(text[start + 1 : end]) + text[end + 1 :]
    return text


@pytest.mark.jvm
@pytest.mark.postgres
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_prediction_matches_real_pgjdbc(row: Row, lab: Lab, pg_server: PgServer) -> None:  # noqa: F811
    params = {k: _fill(v, lab) for k, v in row.params.items()}
    url = pg_server.jdbc_url(host="localhost", connectTimeout="10", **params)
    options = [f"-Duser.home={lab.path(row.home)}"] + [_fill(o, lab) for o in row.options]
    java = lab.java(row.java)
    connected, output = pgjdbc_connects(lab, java, url, options)
    code, data = doctor(url, options, java=java)
    said = Prediction(str(data["prediction"]))
    # The table says what pgjdbc does; doctor and the real driver must both agree with it.
    assert connected is (row.prediction is not Prediction.FAILS), output
    assert connected or _trust_failure(output), output
    assert said is row.prediction, data["explanation"]
    assert code == row.exit_code == data["exit_code"], data["explanation"]


@pytest.mark.jvm
@pytest.mark.postgres
def test_missing_truststore_fallback_is_named(lab: Lab, pg_server: PgServer) -> None:  # noqa: F811
    url = pg_server.jdbc_url(host="localhost", sslmode="verify-full", sslfactory=JAVA_FACTORY)
    missing_store = lab.path("no-such.jks")
    code, data = doctor(
        url, [f"-Djavax.net.ssl.trustStore={missing_store}"], java=lab.java("rt-good")
    )
    assert code == 0
    source = data["source"]
    assert isinstance(source, dict)
    assert source["origin"] == "cacerts"
    assert source["path"] == str(Path(lab.java("rt-good")).parent.parent / "lib/security/cacerts")
    fallbacks = data["fallbacks"]
    assert isinstance(fallbacks, list) and len(fallbacks) == 1
    assert "silently uses cacerts" in fallbacks[0] and missing_store in fallbacks[0]


@pytest.mark.jvm
@pytest.mark.postgres
def test_jvm_ignores_home_variable(lab: Lab, pg_server: PgServer) -> None:  # noqa: F811
    """pgjdbc's root.crt lies under user.home, which the JVM takes from the password database:
    HOME pointing at a home with a good root.crt changes nothing, for pgjdbc and for doctor."""
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    if (real_home / ".postgresql" / "root.crt").exists():
        pytest.skip(f"{real_home}/.postgresql/root.crt exists; this test needs it absent")
    url = pg_server.jdbc_url(host="localhost", sslmode="verify-full")
    env = {**os.environ, "HOME": lab.path("home-good")}
    done = subprocess.run(
        [lab.java("system"), "-cp", f"{PGJDBC}:{lab.classes}", "Connect", url],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert str(real_home / ".postgresql" / "root.crt") in done.stdout
    result = runner.invoke(
        app,
        ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--json"],
        env={"HOME": lab.path("home-good")},
    )
    assert result.exit_code == 5, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["source"]["path"] == str(real_home / ".postgresql" / "root.crt")
    assert data["prediction"] == "fails"
    # ... and --home (the application's user) is what doctor then reads
    result = runner.invoke(
        app,
        ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--home", lab.path("home-good")],
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Prediction: connects." in result.stdout


@pytest.mark.jvm
@pytest.mark.postgres
def test_live_host_chain(lab: Lab, pg_server: PgServer) -> None:  # noqa: F811
    """With --host the served chain is validated against the source too (and the host name
    only when the driver checks it)."""
    url = pg_server.jdbc_url(host="localhost", sslmode="verify-full")
    target = ["--host", f"127.0.0.1:{pg_server.port}", "--server-name", "localhost"]
    for home, code in (("home-good", 0), ("home-bad", 1)):
        options = [f"-Duser.home={lab.path(home)}"]
        got, data = doctor(url, options, *target)
        assert got == code, data["explanation"]
        report = data["verify"]
        assert isinstance(report, dict) and report["path"]["trusted"] is (code == 0)
    # A name the certificate does not carry: verify-full fails, verify-ca does not check it.
    wrong = ["--host", f"127.0.0.1:{pg_server.port}", "--server-name", "other.example"]
    options = [f"-Duser.home={lab.path('home-good')}"]
    assert doctor(url, options, *wrong)[0] == 1
    url_ca = pg_server.jdbc_url(host="localhost", sslmode="verify-ca")
    assert doctor(url_ca, options, *wrong)[0] == 0


# --- parsing: every driver, no server -------------------------------------------------------------


def _resolve(url: str, options: str = "", home: Path | None = None) -> Resolution:
    return resolve(
        DoctorOptions(jdbc_url=url, java_options=(options,) if options else (), home=home)
    )


@pytest.mark.parametrize(
    ("url", "mode", "verification", "names"),
    [
        ("jdbc:postgresql://db/x", "prefer", False, False),
        ("jdbc:postgresql://db/x?ssl=true", "verify-full", True, True),
        ("jdbc:postgresql://db/x?ssl", "verify-full", True, True),
        ("jdbc:postgresql://db/x?ssl=false", "prefer", False, False),
        ("jdbc:postgresql://db/x?sslmode=VERIFY-CA", "verify-ca", True, False),
        ("jdbc:postgresql://db/x?sslmode=verify-full&sslmode=require", "require", False, False),
        ("jdbc:postgresql://db/x?sslmode=disable", "disable", False, False),
    ],
)
def test_pgjdbc_modes(url: str, mode: str, verification: bool, names: bool, tmp_path: Path) -> None:
    resolved = _resolve(url, home=tmp_path)
    assert (resolved.mode, resolved.verification, resolved.hostname_check) == (
        mode, verification, names,
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["prefer", "verify-full"])
def test_custom_factory_is_unknown(mode: str) -> None:
    url = f"jdbc:postgresql://db/x?sslmode={mode}&sslfactory=com.example.MyFactory"
    result = runner.invoke(app, ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--json"])
    assert result.exit_code == 5, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["prediction"] == "unknown" and data["source"]["kind"] == "uncheckable"
    assert (
        "leaves every certificate check to sslfactory=com.example.MyFactory" in data["explanation"]
    )


def test_pgjdbc_refuses_unknown_sslmode() -> None:
    with pytest.raises(UsageError, match="Invalid sslmode value"):
        _resolve("jdbc:postgresql://db/x?sslmode=bogus")


def test_pgjdbc_sslrootcert_is_url_decoded(tmp_path: Path) -> None:
    resolved = _resolve("jdbc:postgresql://db/x?sslmode=verify-ca&sslrootcert=%2Fa+b%2Fc.pem")
    assert resolved.source is not None and resolved.source.path == "/a b/c.pem"


def test_user_home_property_beats_home_option(tmp_path: Path) -> None:
    resolved = _resolve(
        "jdbc:postgresql://db/x?sslmode=verify-full", "-Duser.home=/srv/app", home=tmp_path
    )
    assert resolved.source is not None
    assert resolved.source.path == "/srv/app/.postgresql/root.crt"
    resolved = _resolve("jdbc:postgresql://db/x?sslmode=verify-full", home=tmp_path)
    assert resolved.source is not None
    assert resolved.source.path == str(tmp_path / ".postgresql" / "root.crt")


def test_java_options_order_and_quoting() -> None:
    props = parse_java_options(
        "-Djavax.net.ssl.trustStore=/tool.jks -Xmx1g",
        "-Djavax.net.ssl.trustStore='/with space.jks' -Dflag",
    )
    assert props == {"javax.net.ssl.trustStore": "/with space.jks", "flag": ""}
    with pytest.raises(UsageError, match="split like a shell"):
        parse_java_options("-Dx='unterminated")


def test_env_option_reads_jvm_variables(tmp_path: Path) -> None:
    url = "jdbc:postgresql://db/x?sslmode=verify-full&sslrootcert=" + str(tmp_path / "none.pem")
    env = {
        "JAVA_TOOL_OPTIONS": "-Djavax.net.ssl.trustStore=/a.jks",
        "JDK_JAVA_OPTIONS": "-Djavax.net.ssl.trustStore=/b.jks",
    }
    result = runner.invoke(
        app, ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--env", "--json"], env=env
    )
    assert result.exit_code == 5, result.stdout + result.stderr
    assert "ignores it" in json.loads(result.stdout)["notes"][0]
    # without --env the variables are not read
    result = runner.invoke(
        app, ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--json"], env=env
    )
    assert json.loads(result.stdout)["notes"] == []


@pytest.mark.parametrize(
    ("url", "mode", "kind", "path"),
    [
        ("jdbc:mysql://db:3306/x", "PREFERRED", None, None),
        ("jdbc:mysql://db/x?useSSL=false", "DISABLED", None, None),
        ("jdbc:mysql://db/x?useSSL=true&requireSSL=true", "REQUIRED", None, None),
        (
            "jdbc:mysql://db/x?useSSL=true&verifyServerCertificate=true"
            "&trustCertificateKeyStoreUrl=file:/etc/app/t.p12&trustCertificateKeyStoreType=PKCS12",
            "VERIFY_CA", SourceKind.DRIVER_KEYSTORE, "/etc/app/t.p12",
        ),
        (
            "jdbc:mysql://db/x?sslMode=verify_identity&trustCertificateKeyStoreUrl=file:///t%20s.jks",
            "VERIFY_IDENTITY", SourceKind.DRIVER_KEYSTORE, "/t s.jks",
        ),
        (
            "jdbc:mysql://db/x?sslMode=VERIFY_IDENTITY&trustCertificateKeyStoreUrl=https://h/t.jks",
            "VERIFY_IDENTITY", SourceKind.UNCHECKABLE, None,
        ),
        (
            "jdbc:mysql://db/x?sslMode=VERIFY_CA&fallbackToSystemTrustStore=false",
            "VERIFY_CA", SourceKind.EMPTY, None,
        ),
        ("jdbc:mysql:replication://a:3306,b:3306/x?sslMode=DISABLED", "DISABLED", None, None),
    ],
)  # fmt: skip
def test_connector_j(url: str, mode: str, kind: SourceKind | None, path: str | None) -> None:
    resolved = _resolve(url, "-Djavax.net.ssl.trustStore=/jvm.jks")
    assert resolved.driver is Driver.MYSQL and resolved.mode == mode
    source = resolved.source
    assert (source.kind if source else None) is kind
    assert (source.path if source else None) == path


def test_connector_j_opens_the_jvm_store_itself(tmp_path: Path) -> None:
    """Connector/J reads javax.net.ssl.trustStore itself: a missing file fails (no silent
    cacerts fallback as in the JVM), and without a password it loads with an empty one."""
    store = make_store(tmp_path, "jks", certs(ROOT))
    url = "jdbc:mysql://db/x?sslMode=VERIFY_IDENTITY"
    resolved = _resolve(
        url, f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStorePassword=pw"
    )
    source = resolved.source
    assert source is not None
    assert source.kind is SourceKind.DRIVER_KEYSTORE and source.path == str(store)
    assert source.password_present and resolved.hostname_check
    base = ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--json", "--java-options"]
    for options, code, words in (
        (
            f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStorePassword={PASSWORD}",
            0,
            "",
        ),
        (
            f"-Djavax.net.ssl.trustStore={store}",
            5,
            "needs a password, and the loader is given none",
        ),
        (f"-Djavax.net.ssl.trustStore={tmp_path / 'none.jks'}", 5, "does not exist"),
    ):
        result = runner.invoke(app, [*base, options])
        assert result.exit_code == code, result.stdout + result.stderr
        data = json.loads(result.stdout)
        assert data["fallbacks"] == [] and words in str(data["problem"])


@pytest.mark.parametrize(
    ("url", "mode", "kind", "path"),
    [
        ("jdbc:mariadb://db/x", "disable", None, None),
        ("jdbc:mariadb://db/x?useSsl=true&trustServerCertificate=true", "trust", None, None),
        ("jdbc:mariadb://db/x?sslMode=trust", "trust", None, None),
        ("jdbc:mariadb://db/x?useSSL=true&serverSslCert=/etc/rds.pem", "verify-full",
         SourceKind.PEM_FILE, "/etc/rds.pem"),
        ("jdbc:mariadb://db/x?sslMode=verify-ca&serverSslCert=file:///etc/rds.pem", "verify-ca",
         SourceKind.PEM_FILE, "/etc/rds.pem"),
        ("jdbc:mariadb://db/x?sslMode=verify-full&serverSslCert=classpath:rds.pem", "verify-full",
         SourceKind.UNCHECKABLE, None),
        ("jdbc:mariadb://db/x?useSsl&disableSslHostnameVerification=true&serverSslCert=/a%20b",
         "verify-ca", SourceKind.PEM_FILE, "/a%20b"),
    ],
)  # fmt: skip
def test_mariadb(url: str, mode: str, kind: SourceKind | None, path: str | None) -> None:
    resolved = _resolve(url)
    assert resolved.driver is Driver.MARIADB and resolved.mode == mode
    source = resolved.source
    assert (source.kind if source else None) is kind
    assert (source.path if source else None) == path


def test_mariadb_sslmode_warns_about_2x() -> None:
    resolved = _resolve("jdbc:mariadb://db/x?sslMode=verify-full&serverSslCert=/r.pem")
    assert any("2.x ignores sslMode" in n for n in resolved.notes)


def test_mariadb_inline_pem_is_checked() -> None:
    pem = ROOT.read_text().strip()
    url = "jdbc:mariadb://db/x?sslMode=verify-full&serverSslCert=" + pem
    result = runner.invoke(app, ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["source"]["kind"] == "inline-pem"
    # and without the CA it does not
    other = (FIXTURES / "chains" / "rsa2048-g1-eu-west-1" / "root.pem").read_text().strip()
    url = "jdbc:mariadb://db/x?sslMode=verify-full&serverSslCert=" + other
    result = runner.invoke(app, ["doctor", "--jdbc-url", url, "--bundle", str(ROOT), "--json"])
    assert result.exit_code == 1, result.stdout + result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db/x",
        "jdbc:oracle:thin:@db:1521:x",
        "jdbc:postgresql://db/x?sslrootcert=%zz",
        "jdbc:mysql:db",
        "jdbc:mysql://db/x?sslMode=SOMETIMES",
        "jdbc:mariadb://db/x?sslMode=maybe",
    ],
)
def test_bad_urls_are_usage_errors(url: str) -> None:
    result = runner.invoke(app, ["doctor", "--jdbc-url", url, "--bundle", str(ROOT)])
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("rdstrust: error: ")
    assert "Traceback" not in result.stderr


def test_password_never_shown(tmp_path: Path) -> None:
    url = "jdbc:postgresql://db/x?password=hunter2&sslmode=require"
    options = "-Djavax.net.ssl.trustStorePassword=s3cret"
    result = runner.invoke(
        app,
        ["doctor", "--jdbc-url", url, "--java-options", options, "--bundle", str(ROOT), "--json"],
    )
    assert "hunter2" not in result.stdout + result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert "password=***" in result.stdout


def test_hostile_values_are_escaped() -> None:
    url = "jdbc:postgresql://db/x?sslmode=verify-full&sslrootcert=/tmp/\x1b[2J.pem"
    result = runner.invoke(app, ["doctor", "--jdbc-url", url, "--bundle", str(ROOT)])
    assert result.exit_code == 5
    assert "\x1b" not in result.stdout + result.stderr
    assert "\\x1b[2J" in result.stdout


def test_bad_bundle_is_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "b.pem"
    bad.write_text("<html>not a bundle</html>")
    result = runner.invoke(
        app, ["doctor", "--jdbc-url", "jdbc:postgresql://db/x", "--bundle", str(bad)]
    )
    assert result.exit_code == 3, result.stdout + result.stderr


_KEYS = st.sampled_from(
    ["sslmode", "ssl", "sslfactory", "sslrootcert", "sslMode", "useSSL", "useSsl",
     "verifyServerCertificate", "requireSSL", "trustCertificateKeyStoreUrl",
     "fallbackToSystemTrustStore", "serverSslCert", "trustServerCertificate", "x"]
)  # fmt: skip
_QUERIES = st.lists(st.tuples(_KEYS, st.text(max_size=30)), max_size=6).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)


@given(st.sampled_from(["postgresql", "mysql", "mariadb"]), _QUERIES, st.text(max_size=60))
def test_resolve_answers_or_refuses(driver: str, query: str, options: str) -> None:
    """Any URL and options either resolve to an answer or raise the project's usage error."""
    opts = DoctorOptions(
        jdbc_url=f"jdbc:{driver}://h/d?{query}",
        java_options=(options,),
        home=Path("/nonexistent-home"),
        java_home=Path("/nonexistent-jdk"),
    )
    try:
        resolved = resolve(opts)
    except UsageError:
        return
    assert resolved.verification or resolved.source is None
    assert not resolved.hostname_check or resolved.verification


@given(st.text(max_size=200))
def test_parser_parses_or_refuses(text: str) -> None:
    for prefix in ("", "jdbc:postgresql://h/d?", "jdbc:mysql://h/d?", "jdbc:mariadb://h/d?"):
        try:
            parsed = parse_jdbc_url(prefix + text)
        except UsageError:
            continue
        assert isinstance(parsed.shown, str)


# --- MariaDB Connector/J (Debian's 2.7), against a real MariaDB server ---------------------------


@dataclass(frozen=True)
class MyRow:
    """One MariaDB Connector/J configuration and what doctor must predict."""

    id: str
    query: str
    options: tuple[str, ...]
    java: str
    prediction: Prediction
    exit_code: int


def _my(id: str, query: str, options: str, java: str, pred: str, code: int) -> MyRow:
    return MyRow(id, query, tuple(options.split()), java, Prediction(pred), code)


MY_ROWS = [
    _my("serverSslCert", "useSsl=true&serverSslCert={good/store.pem}", "", "system",
        "connects", 0),
    _my("serverSslCert-lacks-ca", "useSsl=true&serverSslCert={bad/store.pem}", "", "system",
        "fails", 1),
    _my("serverSslCert-beats-truststore", "useSsl=true&serverSslCert={bad/store.pem}",
        TS % "good/store.jks", "system", "fails", 1),
    _my("jvm-truststore", "useSsl=true", TS % "good/store.jks" + " " + PW, "system",
        "connects", 0),
    _my("jvm-truststore-lacks-ca", "useSsl=true", TS % "bad/store.jks" + " " + PW, "system",
        "fails", 1),
    _my("jvm-missing-file-cacerts-trusts", "useSsl=true", TS % "no-such.jks", "rt-good",
        "connects", 0),
    _my("jvm-missing-file-cacerts-lacks", "useSsl=true", TS % "no-such.jks", "rt-bad",
        "fails", 1),
    _my("serverSslCert-is-jks", "useSsl=true&serverSslCert={good/store.jks}", "", "system",
        "fails", 5),
    _my("serverSslCert-missing", "useSsl=true&serverSslCert={no-such.pem}",
        TS % "good/store.jks", "system", "fails", 5),
    _my("trustServerCertificate", "useSsl=true&trustServerCertificate=true&serverSslCert="
        "{bad/store.pem}", "", "system", "connects without verification", 1),
]  # fmt: skip


@pytest.fixture(scope="module")
def my_classes(lab: Lab) -> Path:
    from test_mysql import MARIADB_JAR, MY_CONNECT

    if not MARIADB_JAR.exists():
        missing("MariaDB Connector/J (Debian package libmariadb-java)")
    classes = lab.base / "myconnect"
    if not classes.exists():
        classes.mkdir()
        (classes / "MyConnect.java").write_text(MY_CONNECT)
        javac = require_tool("javac")
        subprocess.run([javac, "-d", str(classes), str(classes / "MyConnect.java")], check=True)
    return classes


@pytest.mark.jvm
@pytest.mark.parametrize("row", MY_ROWS, ids=[r.id for r in MY_ROWS])
def test_prediction_matches_real_mariadb_connector_j(
    row: MyRow,
    lab: Lab,
    my_classes: Path,
    mysql_server: MySQLServer,  # noqa: F811
) -> None:
    from test_mysql import MARIADB_JAR

    url = mysql_server.jdbc_url(host="localhost") + "?" + _fill(row.query, lab)
    options = [_fill(o, lab) for o in row.options]
    java = lab.java(row.java)
    done = subprocess.run(
        [java, *options, "-cp", f"{MARIADB_JAR}:{my_classes}", "MyConnect", url,
         mysql_server.user],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "RDSTRUST_TEST_DB_PASSWORD": mysql_server.password},
    )  # fmt: skip
    connected = done.returncode == 0 and "OK TLS" in done.stdout
    code, data = doctor(url, options, java=java)
    assert connected is (row.prediction is not Prediction.FAILS), done.stdout + done.stderr
    assert connected or _trust_failure(done.stdout), done.stdout + done.stderr
    assert Prediction(str(data["prediction"])) is row.prediction, data["explanation"]
    assert code == row.exit_code, data["explanation"]
