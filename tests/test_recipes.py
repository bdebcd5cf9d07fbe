"""The recipes in docs/recipes, run as written, so the documentation and the tests cannot drift.

- Dockerfiles: no container daemon here, so the ``RUN rdstrust ...`` step of each Dockerfile runs
  with bash against an image-like directory tree (``$JAVA_HOME`` pointing into it, a copy of a
  real cacerts inside), and keytool and the JVM judge the result. The apt-get / pip steps are not
  run (they need the network and root on a real image), but their consistency is checked.
- CI: the shell steps of the GitHub Actions workflow and the GitLab CI job run with bash, with the
  CI system's variables filled in; the gate fails on stores without the new CAs, passes once they
  have them, and the second run is answered from the bundle cache (``304 Not Modified``).
- Kubernetes: no kubectl or cluster here. The manifests are parsed and checked offline (required
  fields, references between them, the trust-manager ``Bundle`` against the fields of its CRD);
  the initContainer's command runs as written and psql connects with the application's settings.
- Frameworks: the ``jdbc:postgresql:`` URLs of frameworks.md go to the real pgjdbc driver.

Every download goes to a local HTTPS mirror of the fixture bundle (``RDSTRUST_BUNDLE_URL``); real
images and pipelines take the official bundle with the same command lines.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, missing, require_tool
from pgserver import PgServer, pg_server  # noqa: F401  (session fixture)
from recipe_parts import (
    RECIPES,
    Instruction,
    bash,
    dockerfile,
    fenced_blocks,
    github_expressions,
    keytool_fingerprints,
    load_yaml,
    load_yaml_all,
    recipe_env,
)
from tls_server import HTTPSServer, Reply, SeenRequest

from rdstrust.bundle import read_bundle

G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
CHAIN = FIXTURES / "chains" / "rsa2048-g1-us-east-1"
BUNDLE_PATH = "/global/global-bundle.pem"
DEBIAN_CACERTS = Path("/etc/ssl/certs/java/cacerts")
PGJDBC = Path("/usr/share/java/postgresql.jar")
PASSWORD = "s3cret-truststore"
ETAG = '"g1-fixture"'


def g1_fingerprints() -> set[str]:
    return {c.sha256 for c in read_bundle(G1).certificates}


@pytest.fixture
def mirror() -> Iterator[HTTPSServer]:
    """The fixture bundle over HTTPS, with an ETag, answering 304 to a matching If-None-Match."""
    data = G1.read_bytes()

    def handle(request: SeenRequest) -> Reply:
        if request.headers.get("if-none-match") == ETAG:
            return Reply(304)
        return Reply(body=data, headers={"ETag": ETAG})

    with HTTPSServer("rsa2048-g1-us-east-1") as server:
        server.route(BUNDLE_PATH, handle)
        yield server


def env_for(mirror: HTTPSServer, home: Path, **extra: str) -> dict[str, str]:
    return recipe_env(home, mirror.url(BUNDLE_PATH), mirror.ca_file, **extra)


def rdstrust_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return bash(shlex.join(["rdstrust", *args]), env, Path.cwd())


# --- Container images -------------------------------------------------------------------------


def rdstrust_run_step(path: Path) -> str:
    """The Dockerfile's one ``RUN rdstrust ...`` step, after checking how rdstrust got there."""
    steps = dockerfile(path)
    runs = [s.args for s in steps if s.name == "RUN"]
    ours = [r for r in runs if r.split()[0] == "rdstrust"]
    assert len(ours) == 1, runs
    # rdstrust is installed into /opt/rdstrust and put on PATH before the step that uses it
    install = [r for r in runs if "pip install --no-cache-dir rdstrust" in r]
    assert len(install) == 1 and "python3 -m venv /opt/rdstrust" in install[0], runs
    assert Instruction("ENV", "PATH=/opt/rdstrust/bin:$PATH") in steps
    order = [s.args for s in steps]
    assert order.index(install[0]) < order.index("PATH=/opt/rdstrust/bin:$PATH")
    assert order.index("PATH=/opt/rdstrust/bin:$PATH") < order.index(ours[0])
    # nothing after it touches the trust store: it is the image's last RUN
    assert runs[-1] == ours[0]
    for flag in ("--java-cacerts", "--no-backup", "--no-cache"):
        assert flag in ours[0].split(), ours[0]
    return ours[0]


def fake_jdk(home: Path) -> None:
    """A JDK home in the image tree whose bin/java runs this machine's java.

    A wrapper script, not a symlink: rdstrust finds java.home from java's real path, and a
    symlink would lead it to the machine's own JDK and its real cacerts.
    """
    real = require_tool("java")
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f'#!/bin/sh\nexec {shlex.quote(real)} "$@"\n')
    java.chmod(0o755)
    (home / "lib" / "security").mkdir(parents=True)


def jvm_verdict(env: dict[str, str], store: Path, password: str | None) -> int:
    """``rdstrust verify --jvm`` on the fixture server chain: rdstrust's and the JVM's verdict."""
    spec = f"{store},storepass:none" if password is None else f"{store},storepass:env=STOREPASS"
    proc = rdstrust_cli(
        {**env, "STOREPASS": password or ""},
        *("verify", "-s", spec, "--bundle", str(G1), "--require", "rds-ca-rsa2048-g1"),
        *("--region", "us-east-1", "--chain", str(CHAIN / "server.pem")),
        *("--server-name", "localhost", "--jvm", "--java", require_tool("java")),
    )
    return proc.returncode


def no_litter(tree: Path) -> None:
    leftovers = [p for p in tree.rglob("*") if p.name.endswith((".bak", ".tmp"))]
    assert not leftovers, leftovers


@pytest.mark.jvm
def test_debian_jdk17_dockerfile(mirror: HTTPSServer, tmp_path: Path) -> None:
    keytool = require_tool("keytool")
    if not DEBIAN_CACERTS.is_file():
        missing(f"{DEBIAN_CACERTS} (Debian package ca-certificates-java)")
    step = rdstrust_run_step(RECIPES / "Dockerfile.jdk17-debian")
    # The image as Debian lays it out: the JDK's cacerts is a symlink to ca-certificates-java's JKS
    tree = tmp_path / "image"
    jks = tree / "etc/ssl/certs/java/cacerts"
    jks.parent.mkdir(parents=True)
    shutil.copyfile(DEBIAN_CACERTS, jks)
    java_home = tree / "usr/lib/jvm/java-17-openjdk-amd64"
    fake_jdk(java_home)
    cacerts = java_home / "lib/security/cacerts"
    cacerts.symlink_to(jks)
    before, _ = keytool_fingerprints(keytool, jks, "changeit")
    assert before and not before & g1_fingerprints()
    env = env_for(mirror, tmp_path / "root", JAVA_HOME=str(java_home))
    assert jvm_verdict(env, jks, "changeit") == 1  # the image as it comes does not trust RDS

    proc = bash(step, env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert cacerts.is_symlink() and cacerts.resolve() == jks  # written through the link
    after, _ = keytool_fingerprints(keytool, cacerts, "changeit")
    assert after == before | g1_fingerprints()  # every Debian CA kept, the RDS CAs added
    assert jvm_verdict(env, jks, "changeit") == 0
    no_litter(tree)
    assert not (tmp_path / "root").exists()  # --no-cache: no download cache in the layer


def passwordless_cacerts(path: Path) -> None:
    """A JDK 18+ cacerts: password-less PKCS12 (no MAC, certificates not encrypted), made by
    keytool from Debian's CA list the way the JDK's build makes its own."""
    if not DEBIAN_CACERTS.is_file():
        missing(f"{DEBIAN_CACERTS} (Debian package ca-certificates-java)")
    proc = subprocess.run(
        [
            *(require_tool("keytool"), "-importkeystore", "-noprompt"),
            *("-srckeystore", str(DEBIAN_CACERTS), "-srcstorepass", "changeit"),
            *("-destkeystore", str(path), "-deststoretype", "PKCS12"),
            *("-deststorepass", "changeit"),
            "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
            "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.jvm
def test_jdk21_dockerfile_keeps_cacerts_passwordless(mirror: HTTPSServer, tmp_path: Path) -> None:
    keytool = require_tool("keytool")
    step = rdstrust_run_step(RECIPES / "Dockerfile.jdk21")
    assert "FROM eclipse-temurin:21-jre" in (RECIPES / "Dockerfile.jdk21").read_text()
    java_home = tmp_path / "image/opt/java/openjdk"  # the Temurin image's JAVA_HOME
    fake_jdk(java_home)
    cacerts = java_home / "lib/security/cacerts"
    passwordless_cacerts(cacerts)
    before, listing = keytool_fingerprints(keytool, cacerts, None)
    assert "NOT been verified" not in listing  # no MAC: password-less, as on JDK 18+
    env = env_for(mirror, tmp_path / "root", JAVA_HOME=str(java_home))
    assert jvm_verdict(env, cacerts, None) == 1

    proc = bash(step, env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    after, listing = keytool_fingerprints(keytool, cacerts, None)
    assert after == before | g1_fingerprints()
    assert "NOT been verified" not in listing, listing  # still password-less
    assert jvm_verdict(env, cacerts, None) == 0
    no_litter(tmp_path / "image")
    assert not (tmp_path / "root").exists()


# --- CI ---------------------------------------------------------------------------------------

TRUSTSTORE = "src/main/resources/truststore.p12"
PEM_STORE = "config/rds-ca.pem"


def workspace_with_old_stores(workspace: Path, env: dict[str, str]) -> None:
    """A repository whose committed stores trust only rds-ca-2019 (made by rdstrust itself)."""
    for store in (TRUSTSTORE, PEM_STORE):
        (workspace / store).parent.mkdir(parents=True, exist_ok=True)
    proc = bash(
        f"rdstrust merge -b {shlex.quote(str(OLD))} -s {TRUSTSTORE} -s {PEM_STORE} "
        "--storepass-env TRUSTSTORE_PASSWORD",
        {**env, "TRUSTSTORE_PASSWORD": PASSWORD},
        workspace,
    )
    assert proc.returncode == 0, proc.stderr


def bring_stores_up_to_date(workspace: Path, env: dict[str, str]) -> None:
    proc = bash(
        f"rdstrust merge -b {shlex.quote(str(G1))} -s {TRUSTSTORE} -s {PEM_STORE} "
        "--storepass-env TRUSTSTORE_PASSWORD",
        {**env, "TRUSTSTORE_PASSWORD": PASSWORD},
        workspace,
    )
    assert proc.returncode == 0, proc.stderr


def export_lines(variables: dict[str, str]) -> str:
    """Shell lines exporting ``variables`` in order, expanded by the shell (``$CI_PROJECT_DIR``)."""
    return "".join(f'export {name}="{value}"\n' for name, value in variables.items())


def github_steps(workspace: Path) -> tuple[str, list[str]]:
    """The workflow's env exports and the scripts of its ``run:`` steps (pip install excepted)."""
    workflow = load_yaml(RECIPES / "github-actions.yml")
    values = {
        "github.workspace": str(workspace),
        "github.run_id": "4242",
        "secrets.TRUSTSTORE_PASSWORD": PASSWORD,
    }
    prelude = export_lines(
        {k: github_expressions(str(v), values) for k, v in workflow["env"].items()}
    )
    job = workflow["jobs"]["truststore-gate"]
    scripts = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        if step["run"].strip() == "python -m pip install rdstrust":
            continue  # this checkout's rdstrust is already on PATH
        step_env = {k: github_expressions(str(v), values) for k, v in step.get("env", {}).items()}
        scripts.append(export_lines(step_env) + github_expressions(step["run"], values))
    cache = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@"))
    # the cached path is the RDSTRUST_CACHE_DIR the steps use
    assert workflow["env"]["RDSTRUST_CACHE_DIR"].endswith("/" + cache["with"]["path"])
    return prelude, scripts


def gitlab_steps(workspace: Path) -> tuple[str, list[str]]:
    job = load_yaml(RECIPES / "gitlab-ci.yml")["rds-truststore-gate"]
    # CI_PROJECT_DIR comes from GitLab, TRUSTSTORE_PASSWORD from the project's CI/CD variables
    predefined = {"CI_PROJECT_DIR": str(workspace), "TRUSTSTORE_PASSWORD": PASSWORD}
    prelude = export_lines({**predefined, **job["variables"]})
    before = [line for line in job["before_script"] if "pip install" not in line]
    assert len(before) == len(job["before_script"]) - 1
    assert job["variables"]["RDSTRUST_CACHE_DIR"].endswith(
        "/" + job["cache"]["paths"][0].rstrip("/")
    )
    return prelude, before + job["script"]


def run_gate(prelude: str, scripts: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the steps in order, like the CI system: stop at the first that fails."""
    output = ""
    for script in scripts:
        proc = bash(prelude + script, env, cwd)
        output += proc.stdout + proc.stderr
        if proc.returncode != 0:
            return proc.returncode, output
    return 0, output


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_ci_gate_fails_then_passes_and_caches_the_bundle(
    mirror: HTTPSServer, tmp_path: Path, ci: str
) -> None:
    workspace = tmp_path / "workspace"
    env = env_for(mirror, tmp_path / "home")
    workspace_with_old_stores(workspace, env)
    prelude, scripts = (github_steps if ci == "github" else gitlab_steps)(workspace)
    assert any("rdstrust update --check" in " ".join(s.split()) for s in scripts)

    code, output = run_gate(prelude, scripts, env, workspace)
    assert code == 1, output  # the gate: the committed stores lack the new CAs
    assert "does not trust" in output or "out-of-date" in output, output
    cache = workspace / ".rdstrust-cache"
    assert cache.is_dir() and any(cache.rglob("*.bundle")), "the bundle was not cached"
    stores = {p: (workspace / p).read_bytes() for p in (TRUSTSTORE, PEM_STORE)}

    bring_stores_up_to_date(workspace, env)
    if ci == "gitlab":
        # what GitLab's Docker executor can restore: a cache others may write, which rdstrust
        # refuses; the job's chmod line makes it private again
        for path in (cache, *cache.rglob("*")):
            path.chmod(path.stat().st_mode | 0o022)
    code, output = run_gate(prelude, scripts, env, workspace)
    assert code == 0, output
    # the second run asked with the cached ETag and got 304: the cache worked
    last = mirror.seen(BUNDLE_PATH)[-1]
    assert last.headers.get("if-none-match") == ETAG, output
    # --check never writes a store
    assert stores != {p: (workspace / p).read_bytes() for p in (TRUSTSTORE, PEM_STORE)}
    bring_stores_up_to_date(workspace, env)  # idempotent: nothing left to add
    code, _ = run_gate(prelude, scripts, env, workspace)
    assert code == 0


def test_check_gate_writes_nothing(mirror: HTTPSServer, tmp_path: Path) -> None:
    """The gate step only reads: stores lacking the CAs stay byte for byte as committed."""
    workspace = tmp_path / "workspace"
    env = env_for(mirror, tmp_path / "home")
    workspace_with_old_stores(workspace, env)
    before = {p: (workspace / p).read_bytes() for p in (TRUSTSTORE, PEM_STORE)}
    prelude, scripts = github_steps(workspace)
    assert run_gate(prelude, scripts, env, workspace)[0] == 1
    assert before == {p: (workspace / p).read_bytes() for p in (TRUSTSTORE, PEM_STORE)}


# --- Kubernetes -------------------------------------------------------------------------------


def check_object(doc: dict[str, object]) -> None:
    for field in ("apiVersion", "kind", "metadata", "spec"):
        assert field in doc, f"{doc.get('kind')}: {field} is missing"
    metadata = doc["metadata"]
    assert isinstance(metadata, dict) and metadata.get("name"), doc


def deployment() -> dict:  # type: ignore[type-arg]
    docs = load_yaml_all(RECIPES / "k8s-initcontainer.yaml")
    assert len(docs) == 1
    doc = docs[0]
    check_object(doc)
    assert (doc["apiVersion"], doc["kind"]) == ("apps/v1", "Deployment")
    spec = doc["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    return doc  # type: ignore[no-any-return]


def test_initcontainer_manifest_is_consistent() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["truststore"]
    (init,) = pod["initContainers"]
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert mounts == {"truststore": "/truststore"}
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    for container in pod["containers"]:
        for mount in container["volumeMounts"]:
            assert mount["name"] in volumes
            assert mount.get("readOnly") is True  # the application only reads the stores
    # every password the command names comes from the container's env, from a Secret
    command = init["command"]
    env = {e["name"]: e for e in init["env"]}
    for var in re.findall(r"storepass:env=(\w+)", " ".join(command)):
        assert "secretKeyRef" in env[var]["valueFrom"], var
    # the application reads the files the initContainer writes
    written = {a.split(",")[0] for a in command if a.startswith("/truststore/")}
    app_env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert app_env["PGSSLROOTCERT"] in written
    assert f"sslrootcert={app_env['PGSSLROOTCERT']}" in app_env["SPRING_DATASOURCE_URL"]


def run_initcontainer(mirror: HTTPSServer, tmp_path: Path, volume: Path) -> None:
    """The initContainer's command, as written, with /truststore mapped to ``volume``."""
    (init,) = deployment()["spec"]["template"]["spec"]["initContainers"]
    argv = [a.replace("/truststore/", f"{volume}/") for a in init["command"]]
    home = tmp_path / "no-home"  # read-only root file system: nothing may land in HOME
    env = env_for(mirror, home, TRUSTSTORE_PASSWORD=PASSWORD)
    proc = bash(shlex.join(argv), env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not home.exists()


def psql_with_app_env(pg: PgServer, volume: Path) -> subprocess.CompletedProcess[str]:
    pod = deployment()["spec"]["template"]["spec"]
    app_env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGSSLMODE"] = app_env["PGSSLMODE"]
    env["PGSSLROOTCERT"] = app_env["PGSSLROOTCERT"].replace("/truststore/", f"{volume}/")
    return subprocess.run(
        [require_tool("psql"), pg.dsn(host="localhost"), "-Atc", "select 1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.postgres
@pytest.mark.jvm
def test_initcontainer_writes_stores_the_application_can_use(
    mirror: HTTPSServer,
    tmp_path: Path,
    pg_server: PgServer,  # noqa: F811
) -> None:
    volume = tmp_path / "emptydir"
    volume.mkdir()
    run_initcontainer(mirror, tmp_path, volume)
    ok = psql_with_app_env(pg_server, volume)
    assert ok.returncode == 0 and ok.stdout.strip() == "1", ok.stderr
    # Java sees the PKCS12's anchors without the password (keytool asked without one)
    found, _ = keytool_fingerprints(require_tool("keytool"), volume / "rds-truststore.p12", None)
    assert found == g1_fingerprints()
    # and without the new CA the same settings fail: the volume holds only rds-ca-2019
    stale = tmp_path / "stale"
    stale.mkdir()
    env = env_for(mirror, tmp_path / "home")
    assert (
        rdstrust_cli(env, "merge", "-b", str(OLD), "-s", str(stale / "rds-ca.pem")).returncode == 0
    )
    bad = psql_with_app_env(pg_server, stale)
    assert bad.returncode != 0 and "certificate verify failed" in bad.stderr, bad.stderr


#: trust-manager's Bundle (trust.cert-manager.io/v1alpha1) as its CRD defines it:
#: deploy/crds/trust.cert-manager.io_bundles.yaml in github.com/cert-manager/trust-manager, read at
#: two revisions (0bd29a29: jks/pkcs12 take only `key`; 4f909162: also `password`, and a source
#: ConfigMap may be chosen by `selector` / `includeAllKeys`; sources 1 to 100 items, keys
#: non-empty). Each level: the fields allowed, and those this recipe must set.
BUNDLE_SCHEMA: dict[str, tuple[set[str], set[str]]] = {
    "spec": ({"sources", "target"}, {"sources", "target"}),
    "source": ({"configMap", "secret", "inLine", "useDefaultCAs"}, set()),
    "source.configMap": ({"name", "key", "selector", "includeAllKeys"}, {"name", "key"}),
    "target": ({"configMap", "secret", "additionalFormats", "namespaceSelector"}, set()),
    "target.configMap": ({"key"}, {"key"}),
    "target.additionalFormats": ({"jks", "pkcs12"}, set()),
    "target.additionalFormats.jks": ({"key", "password"}, {"key"}),
    "target.additionalFormats.pkcs12": ({"key", "password"}, {"key"}),
    "target.namespaceSelector": ({"matchLabels"}, set()),
}


def check_fields(where: str, value: object) -> None:
    allowed, required = BUNDLE_SCHEMA[where]
    assert isinstance(value, dict), where
    assert set(value) <= allowed, f"{where}: unknown fields {set(value) - allowed}"
    assert required <= set(value), f"{where}: missing {required - set(value)}"


def test_trust_manager_bundle_matches_its_schema() -> None:
    (bundle,) = load_yaml_all(RECIPES / "k8s-trust-manager.yaml")
    check_object(bundle)
    assert (bundle["apiVersion"], bundle["kind"]) == ("trust.cert-manager.io/v1alpha1", "Bundle")
    assert "namespace" not in bundle["metadata"]  # Bundles are cluster-scoped
    spec = bundle["spec"]
    check_fields("spec", spec)
    assert 1 <= len(spec["sources"]) <= 100
    for source in spec["sources"]:
        check_fields("source", source)
        assert len(source) == 1, source  # one kind of source per entry
        if "configMap" in source:
            check_fields("source.configMap", source["configMap"])
    target = spec["target"]
    check_fields("target", target)
    check_fields("target.configMap", target["configMap"])
    check_fields("target.additionalFormats", target["additionalFormats"])
    for kind in ("jks", "pkcs12"):
        check_fields(f"target.additionalFormats.{kind}", target["additionalFormats"][kind])
    keys = [target["configMap"]["key"], *(f["key"] for f in target["additionalFormats"].values())]
    assert all(isinstance(k, str) and k for k in keys) and len(set(keys)) == len(keys), keys
    check_fields("target.namespaceSelector", target["namespaceSelector"])
    labels = target["namespaceSelector"]["matchLabels"]
    assert all(isinstance(v, str) for v in labels.values())
    # negative control: the check refuses a field the CRD does not have
    with pytest.raises(AssertionError):
        check_fields("target.configMap", {"key": "ca.pem", "name": "x"})


def test_trust_manager_source_is_what_rdstrust_fetch_writes(
    mirror: HTTPSServer, tmp_path: Path
) -> None:
    """Step 1 in the manifest's comment: rdstrust's command runs, and the ConfigMap it feeds is
    the one the Bundle reads (name, key, trust namespace)."""
    text = (RECIPES / "k8s-trust-manager.yaml").read_text()
    commands = [
        ln.lstrip("# ").strip()
        for ln in text.splitlines()
        if ln.lstrip("# ").startswith("rdstrust fetch")
    ]
    assert len(commands) == 1
    proc = bash(commands[0], env_for(mirror, tmp_path / "home"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / shlex.split(commands[0])[shlex.split(commands[0]).index("-o") + 1]
    assert written.read_bytes() == G1.read_bytes()
    create = re.search(
        r"kubectl create configmap (\S+) -n (\S+) \\\n#\s+--from-file=([^=\s]+)=(\S+)", text
    )
    assert create, "the kubectl create configmap line is missing"
    name, namespace, key, source = create.groups()
    assert namespace == "cert-manager" and source == written.name
    (bundle,) = load_yaml_all(RECIPES / "k8s-trust-manager.yaml")
    assert {"configMap": {"name": name, "key": key}} in bundle["spec"]["sources"]


# --- Frameworks -------------------------------------------------------------------------------

PG_MANY = """
import java.sql.Connection;
import java.sql.DriverManager;

public class PgMany {
    public static void main(String[] args) {
        int failed = 0;
        for (String url : args) {
            try (Connection c = DriverManager.getConnection(url)) {
                c.createStatement().executeQuery("select 1").close();
                System.out.println("OK");
            } catch (Exception e) {
                failed++;
                System.out.println("FAIL " + e.getMessage().replace('\\n', ' '));
            }
        }
        System.exit(failed == 0 ? 0 : 1);
    }
}
"""


def framework_urls() -> dict[str, list[str]]:
    """The pgjdbc URLs frameworks.md gives, by factory: ``libpq`` (sslrootcert) and ``java``."""
    text = (RECIPES / "frameworks.md").read_text()
    urls = re.findall(
        r"jdbc:postgresql://mydb\.xxxx\.us-east-1\.rds\.amazonaws\.com:5432/\S+?(?=['`\s]|$)",
        text,
        re.M,
    )
    full = [u for u in urls if not u.endswith("...")]
    return {
        "libpq": sorted({u for u in full if "sslrootcert=" in u}),
        "java": sorted({u for u in full if "DefaultJavaSSLFactory" in u}),
    }


def local_url(url: str, pg: PgServer, stores: Path) -> str:
    url = re.sub(r"//[^/]+/\w+\?", f"//localhost:{pg.port}/postgres?", url)
    url = re.sub(r"sslrootcert=\S*/rds-ca\.pem", f"sslrootcert={stores}/rds-ca.pem", url)
    return f"{url}&user={pg.user}"


def java_tool_options(stores: Path) -> str:
    text = (RECIPES / "frameworks.md").read_text()
    (line,) = [
        ln for b in fenced_blocks(text, "sh") for ln in b.splitlines() if "JAVA_TOOL_OPTIONS=" in ln
    ]
    value = shlex.split(line.removeprefix("export "))[0].split("=", 1)[1]
    assert "trustStorePassword" not in value  # the JVM prints this variable on every start
    return value.replace("/etc/rds/", f"{stores}/")


def run_pgjdbc(
    urls: list[str], tmp_path: Path, tool_options: str | None
) -> subprocess.CompletedProcess[str]:
    program = tmp_path / "PgMany.java"
    program.write_text(PG_MANY)
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_TOOL_OPTIONS", "HOME")}
    env["HOME"] = str(tmp_path)  # no ~/.postgresql/root.crt to fall back on
    if tool_options is not None:
        env["JAVA_TOOL_OPTIONS"] = tool_options
    return subprocess.run(
        [require_tool("java"), "-cp", str(PGJDBC), str(program), *urls],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def stores_from(bundle: Path, directory: Path, mirror: HTTPSServer, home: Path) -> Path:
    directory.mkdir()
    env = env_for(mirror, home, TRUSTSTORE_PASSWORD=PASSWORD)
    proc = rdstrust_cli(
        env,
        *("merge", "-b", str(bundle), "--storepass-env", "TRUSTSTORE_PASSWORD"),
        *("-s", str(directory / "rds-ca.pem"), "-s", str(directory / "truststore.p12")),
    )
    assert proc.returncode == 0, proc.stderr
    return directory


@pytest.mark.postgres
@pytest.mark.jvm
def test_framework_jdbc_urls_with_real_pgjdbc(
    mirror: HTTPSServer,
    tmp_path: Path,
    pg_server: PgServer,  # noqa: F811
) -> None:
    if not PGJDBC.exists():
        missing("pgjdbc (Debian package libpostgresql-jdbc-java)")
    urls = framework_urls()
    # Spring Boot, Quarkus and Keycloak each give one of each kind
    assert len(urls["libpq"]) == 3 and len(urls["java"]) == 3, urls
    good = stores_from(G1, tmp_path / "good", mirror, tmp_path / "home")
    stale = stores_from(OLD, tmp_path / "stale", mirror, tmp_path / "home")

    libpq = [local_url(u, pg_server, good) for u in urls["libpq"]]
    ok = run_pgjdbc(libpq, tmp_path, None)
    assert ok.returncode == 0 and ok.stdout.split() == ["OK"] * len(libpq), ok.stdout + ok.stderr
    bad = run_pgjdbc([local_url(u, pg_server, stale) for u in urls["libpq"]], tmp_path, None)
    assert bad.returncode == 1 and "PKIX path building failed" in bad.stdout, bad.stdout

    java = [local_url(u, pg_server, good) for u in urls["java"]]
    ok = run_pgjdbc(java, tmp_path, java_tool_options(good))
    assert ok.returncode == 0 and ok.stdout.split() == ["OK"] * len(java), ok.stdout + ok.stderr
    assert "Picked up JAVA_TOOL_OPTIONS" in ok.stderr  # why the password stays out of it
    bad = run_pgjdbc(java, tmp_path, java_tool_options(stale))
    assert bad.returncode == 1 and "PKIX path building failed" in bad.stdout, bad.stdout
