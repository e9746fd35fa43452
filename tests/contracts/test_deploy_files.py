"""The deployment files agree with the code: docker-compose.yml, the Dockerfiles, the
Kubernetes manifests and docs/configuration.md (no Docker engine here, so structure only).
"""

from __future__ import annotations

import base64
import importlib.util
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
import yaml
from sqlalchemy.engine import make_url

import secmaster_common.kafka
from secmaster import stack_cli
from secmaster_common.events.topics import ALL_TOPICS, dlq
from secmaster_common.services import installed_services, service_role_dsn
from secmaster_common.settings import CommonSettings

REPO = Path(__file__).resolve().parents[2]
SERVICES = [s.name for s in installed_services()]
ONE_SHOT = {"topics", *(f"migrate-{s}" for s in SERVICES)}


def _load_config_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "config_table", REPO / "scripts" / "config_table.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


config_table = _load_config_table()
SETTINGS: dict[str, type[CommonSettings]] = dict(config_table.service_settings())


# --- docker-compose.yml --------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?P<op>:?-)?(?P<default>[^}]*)\}")


def interpolate(value: str) -> str:
    """The value compose would use with no variable set in the shell: `${VAR:-default}`
    becomes the default. A bare `${VAR}` would become an empty string in compose, which
    is never what we want, so it fails here."""

    def sub(m: re.Match[str]) -> str:
        assert m["op"], f"{m[0]} has no default: `docker compose up` on a fresh clone needs one"
        return m["default"]

    return _INTERPOLATION.sub(sub, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def services_of(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A compose service's environment as a mapping (both compose spellings); a name
    without a value (passed through from the shell) maps to None."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = [item.split("=", 1) if "=" in item else [item, None] for item in env]
        env = dict(pairs)
    return {k: None if v is None else interpolate(str(v)) for k, v in env.items()}


def test_compose_defines_broker_database_topics_migrations_and_every_service(
    compose: dict[str, Any],
) -> None:
    expected = {"kafka", "postgres", *ONE_SHOT, *SERVICES}
    assert set(SERVICES) == {"ingestion", "enrichment", "pricing", "indexer"}
    missing = expected - set(services_of(compose))
    assert not missing, f"docker-compose.yml lacks {sorted(missing)}"


def test_kafka_is_apache_kafka_in_kraft_mode_reachable_at_the_address_services_use(
    compose: dict[str, Any],
) -> None:
    kafka = services_of(compose)["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = environment(kafka)
    assert set(str(env["KAFKA_PROCESS_ROLES"]).split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in k for k in env)
    # kafka-storage refuses a cluster id that is not a base64url-encoded 16-byte UUID.
    cluster_id = str(env["CLUSTER_ID"])
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    advertised = {a.split("://", 1)[1] for a in str(env["KAFKA_ADVERTISED_LISTENERS"]).split(",")}
    for name in [*SERVICES, "topics"]:
        bootstrap = environment(services_of(compose)[name])["KAFKA_BOOTSTRAP_SERVERS"]
        assert bootstrap in advertised, f"{name} dials {bootstrap}, kafka advertises {advertised}"


def test_every_long_running_container_has_a_healthcheck_and_only_steps_are_one_shot(
    compose: dict[str, Any],
) -> None:
    services = services_of(compose)
    one_shot = {name for name, svc in services.items() if svc.get("restart") == "no"}
    assert one_shot == ONE_SHOT
    for name, svc in services.items():
        if name in one_shot:
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and not svc["healthcheck"].get("disable"), f"{name} has no healthcheck"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_healthcheck_and_published_port_match_its_http_port(
    compose: dict[str, Any], svc: str
) -> None:
    service = services_of(compose)[svc]
    env = environment(service)
    port = int(
        env.get(f"{svc.upper()}_HTTP_PORT")
        or SETTINGS[svc].model_fields[f"{svc}_http_port"].default
    )
    probe = " ".join(service["healthcheck"]["test"])
    assert re.search(rf"http://127\.0\.0\.1:{port}/(healthz|readyz)\b", probe), probe
    published = {str(p).rsplit(":", 1)[-1] for p in service["ports"]}
    assert str(port) in published
    # Bound to loopback (the settings default) the published port would answer nothing.
    assert env["HTTP_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_environment_names_are_fields_of_its_settings_class_and_validate(
    compose: dict[str, Any], svc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_cls = SETTINGS[svc]
    env = environment(services_of(compose)[svc])
    unknown = sorted(k for k in env if k.lower() not in settings_cls.model_fields)
    assert not unknown, f"{svc} sets {unknown}, which {settings_cls.__name__} never reads"
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    settings = settings_cls()
    assert settings.kafka_enable_idempotence is True
    assert settings.http_host == "0.0.0.0"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_connects_as_its_app_role_with_the_password_postgres_was_given(
    compose: dict[str, Any], svc: str
) -> None:
    services = services_of(compose)
    dsn = make_url(str(environment(services[svc])[f"{svc.upper()}_DATABASE_URL"]))
    postgres_env = environment(services["postgres"])
    assert dsn.username == f"{svc}_app"
    assert (dsn.host, dsn.database) == ("postgres", postgres_env["POSTGRES_DB"])
    # 20-passwords.sh sets the role's password from this variable on first start.
    assert dsn.password == postgres_env[f"{svc.upper()}_APP_PASSWORD"]


@pytest.mark.parametrize("svc", SERVICES)
def test_service_starts_after_kafka_topics_and_its_own_migration(
    compose: dict[str, Any], svc: str
) -> None:
    depends = services_of(compose)[svc]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["topics"]["condition"] == "service_completed_successfully"
    assert depends[f"migrate-{svc}"]["condition"] == "service_completed_successfully"


def _migrate_options() -> dict[str, Any]:
    app = typer.Typer()
    stack_cli.register(app)
    group = typer.main.get_group(app)
    command = group.commands["migrate"]
    return {opt: p for p in command.params for opt in p.opts}


@pytest.mark.parametrize("svc", SERVICES)
def test_migrate_step_runs_secmaster_migrate_for_its_service_as_its_migrator(
    compose: dict[str, Any], svc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = services_of(compose)
    step = services[f"migrate-{svc}"]
    assert step["command"] == ["migrate", "--only", svc]
    assert step["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert step["build"]["dockerfile"] == "deploy/docker/migrate.Dockerfile"
    options = _migrate_options()
    assert "--only" in options
    assert options["--database-url"].envvar == "DATABASE_URL"

    env = environment(step)
    password_var = f"{svc.upper()}_MIGRATOR_PASSWORD"
    assert set(env) == {"DATABASE_URL", password_var}
    admin = make_url(str(env["DATABASE_URL"]))
    postgres_env = environment(services["postgres"])
    assert (admin.username, admin.password) == ("postgres", postgres_env["POSTGRES_PASSWORD"])
    # The variable the step sets is the one `secmaster migrate` reads for the role, and it
    # carries the password Postgres set for that role.
    monkeypatch.setenv(password_var, str(env[password_var]))
    migrator = make_url(service_role_dsn(str(env["DATABASE_URL"]), svc, "migrator"))
    assert migrator.username == f"{svc}_migrator"
    assert migrator.password == postgres_env[password_var]


def _run_topics_command(code: str, bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    calls: list[tuple[str, list[str], int]] = []

    async def record(servers: str, topics: Any, *, partitions: int = 4, **_: Any) -> None:
        calls.append((servers, list(topics), partitions))

    monkeypatch.setattr(secmaster_common.kafka, "ensure_topics", record)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.delenv("TOPIC_PREFIX", raising=False)
    exec(compile(code, "<topics step>", "exec"), {})
    return calls


EVERY_TOPIC = {*ALL_TOPICS, *(dlq(t) for t in ALL_TOPICS)}


def test_topics_step_creates_every_topic_and_its_dlq_twin(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    step = services_of(compose)["topics"]
    assert step["entrypoint"] == ["python", "-c"]
    bootstrap = str(environment(step)["KAFKA_BOOTSTRAP_SERVERS"])
    calls = _run_topics_command(step["command"][0], bootstrap, monkeypatch)
    assert len(calls) == 1
    servers, topics, partitions = calls[0]
    assert servers == bootstrap
    assert set(topics) == EVERY_TOPIC
    assert partitions >= 1
    assert step["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_postgres_16_runs_the_init_sql_and_knows_every_role_password(
    compose: dict[str, Any],
) -> None:
    postgres = services_of(compose)["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    assert postgres["image"].split(":")[1].startswith("16")
    initdb = "/docker-entrypoint-initdb.d"
    mounted: set[str] = set()
    for volume in postgres["volumes"]:
        source, target = str(volume).split(":")[:2]
        if target == initdb:
            mounted |= {p.name for p in (REPO / source).iterdir()}
        elif target.startswith(initdb + "/"):
            assert (REPO / source).is_file(), f"{source} is mounted but does not exist"
            mounted.add(target.rsplit("/", 1)[1])
    assert {"10-schemas-and-roles.sql", "20-passwords.sh"} <= mounted
    env = environment(postgres)
    for svc in SERVICES:
        for kind in ("APP", "MIGRATOR"):
            assert env.get(f"{svc.upper()}_{kind}_PASSWORD"), f"{svc} {kind} password unset"


def test_committed_passwords_are_visibly_development_defaults(compose: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    passwords = [m for m in _INTERPOLATION.finditer(text) if "PASSWORD" in m["name"]]
    assert passwords
    for m in passwords:
        assert "dev-only" in m["default"], f"{m[0]} does not look like a development default"


# --- Dockerfiles ----------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in logical]


def _package_name(pyproject: Path) -> str:
    return str(tomllib.loads(pyproject.read_text())["project"]["name"])


def _workspace_member_pyprojects() -> set[str]:
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    return {
        str(p.relative_to(REPO))
        for pattern in globs["members"]
        for p in REPO.glob(f"{pattern}/pyproject.toml")
    }


def _check_uv_build(instructions: list[tuple[str, str]], package: str) -> None:
    syncs = [i for i, (op, args) in enumerate(instructions) if op == "RUN" and "uv sync" in args]
    assert syncs, "no `uv sync`"
    for i in syncs:
        args = shlex.split(instructions[i][1])
        assert "--frozen" in args and "--no-dev" in args
        assert args[args.index("--package") + 1] == package
    # The dependency layer runs before the sources arrive: uv must see every member then.
    copied_before = {
        src
        for op, args in instructions[: syncs[0]]
        if op == "COPY"
        for src in shlex.split(args)[:-1]
    }
    missing = _workspace_member_pyprojects() - copied_before
    assert not missing, f"copy {sorted(missing)} before the first `uv sync`"
    base_images = [args.split()[0] for op, args in instructions if op == "FROM"]
    assert all(b.startswith("python:3.11") for b in base_images), base_images
    user = [args for op, args in instructions if op == "USER"]
    assert user and user[-1] not in {"root", "0"}, "the container must not run as root"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_dockerfile_builds_its_package_with_uv_and_runs_its_app(
    compose: dict[str, Any], svc: str
) -> None:
    path = REPO / "deploy" / "docker" / f"{svc}.Dockerfile"
    instructions = dockerfile_instructions(path)
    _check_uv_build(instructions, _package_name(REPO / "services" / svc / "pyproject.toml"))
    cmd = [args for op, args in instructions if op == "CMD"][-1]
    assert yaml.safe_load(cmd) == ["python", "-m", f"{svc}.app"]
    assert importlib.util.find_spec(f"{svc}.app") is not None
    port = SETTINGS[svc].model_fields[f"{svc}_http_port"].default
    assert [args for op, args in instructions if op == "EXPOSE"] == [str(port)]
    healthcheck = [args for op, args in instructions if op == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "/healthz" in healthcheck[0]
    assert f"{svc.upper()}_HTTP_PORT" in healthcheck[0]
    assert services_of(compose)[svc]["build"]["dockerfile"] == str(path.relative_to(REPO))


def test_migrate_dockerfile_installs_the_secmaster_cli_with_the_init_sql() -> None:
    instructions = dockerfile_instructions(REPO / "deploy" / "docker" / "migrate.Dockerfile")
    _check_uv_build(instructions, _package_name(REPO / "pyproject.toml"))
    copied = {shlex.split(args)[0].rstrip("/") for op, args in instructions if op == "COPY"}
    # `secmaster` lives in src/; bootstrap_sql() finds deploy/postgres/ beside the libs.
    assert {"src", "libs", "services", "deploy/postgres"} <= copied
    entrypoint = [args for op, args in instructions if op == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint[-1]) == ["secmaster"]


# --- Kubernetes -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc and {"apiVersion", "kind", "metadata"} <= set(doc), path.name
            docs.append(doc)
    return docs


def _named(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from doc["spec"]["template"]["spec"]["containers"]


def test_k8s_everything_lives_in_the_namespace_the_manifests_create(
    k8s: list[dict[str, Any]],
) -> None:
    namespaces = set(_named(k8s, "Namespace"))
    assert namespaces == {"secmaster"}
    for doc in k8s:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "secmaster", doc["metadata"]["name"]


@pytest.mark.parametrize("svc", SERVICES)
def test_k8s_deployment_probes_readyz_and_healthz_on_its_http_port(
    k8s: list[dict[str, Any]], svc: str
) -> None:
    deployment = _named(k8s, "Deployment")[svc]
    (container,) = _containers(deployment)
    assert container["command"] == ["python", "-m", f"{svc}.app"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    http_port = int(env[f"{svc.upper()}_HTTP_PORT"])

    def probe_port(probe: dict[str, Any]) -> int:
        port = probe["httpGet"]["port"]
        return int(ports[port]) if isinstance(port, str) else int(port)

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probe_port(container["readinessProbe"]) == http_port
    assert probe_port(container["livenessProbe"]) == http_port
    service = _named(k8s, "Service")[svc]
    assert (
        service["spec"]["selector"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("svc", SERVICES)
def test_k8s_deployment_environment_names_are_settings_fields_with_existing_sources(
    k8s: list[dict[str, Any]], svc: str
) -> None:
    configmaps = _named(k8s, "ConfigMap")
    secrets = _named(k8s, "Secret")
    fields = SETTINGS[svc].model_fields
    (container,) = _containers(_named(k8s, "Deployment")[svc])
    names = [e["name"] for e in container.get("env", [])]
    for source in container.get("envFrom", []):
        names += list(configmaps[source["configMapRef"]["name"]]["data"])
    unknown = sorted(n for n in names if n.lower() not in fields)
    assert not unknown, f"{svc} gets {unknown}, which {SETTINGS[svc].__name__} never reads"
    assert configmaps["secmaster-config"]["data"]["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref and not ref.get("optional"):
            assert ref["key"] in secrets[ref["name"]]["stringData"], ref


@pytest.mark.parametrize("svc", SERVICES)
def test_k8s_migrate_job_runs_secmaster_migrate_for_its_service(
    k8s: list[dict[str, Any]], svc: str
) -> None:
    (container,) = _containers(_named(k8s, "Job")[f"migrate-{svc}"])
    assert container["command"] == ["secmaster", "migrate", "--only", svc]
    names = {e["name"] for e in container["env"]}
    assert names == {"DATABASE_URL", f"{svc.upper()}_MIGRATOR_PASSWORD"}


def test_k8s_topics_job_creates_every_topic_and_its_dlq_twin(
    k8s: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (container,) = _containers(_named(k8s, "Job")["topics"])
    assert container["command"][:2] == ["python", "-c"]
    calls = _run_topics_command(container["command"][2], "kafka:9092", monkeypatch)
    assert [set(topics) for _, topics, _ in calls] == [EVERY_TOPIC]


# --- docs/configuration.md ------------------------------------------------------------


def test_configuration_page_is_what_the_settings_classes_say_now() -> None:
    current = config_table.render()
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == current, f"docs/configuration.md is stale: run `{config_table.COMMAND}`"


def test_readme_configuration_tables_are_what_the_settings_classes_say_now() -> None:
    readme = (REPO / "README.md").read_text()
    assert config_table.README_START in readme and config_table.README_END in readme
    assert readme == config_table.readme_with_tables(readme, config_table.render()), (
        f"the README's configuration tables are stale: run `{config_table.COMMAND}`"
    )


def test_configuration_page_lists_every_variable_with_its_default_and_meaning() -> None:
    rendered = config_table.render()
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in rendered.splitlines()
        if line.startswith("| `")
    }
    for cls in [CommonSettings, *SETTINGS.values()]:
        for name, field in cls.model_fields.items():
            row = rows.get(name.upper())
            assert row, f"{name.upper()} ({cls.__name__}) is missing from the page"
            assert field.description and field.description in row.replace("\\|", "|")
    assert rows["KAFKA_ENABLE_IDEMPOTENCE"].split("|")[3].strip() == "`false`"
    for svc in SERVICES:
        assert f"{svc.upper()}_MIGRATOR_PASSWORD" in rows


def test_role_password_names_on_the_page_are_the_ones_the_code_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for row in config_table.role_password_vars(SERVICES):
        svc, kind, _ = row.name.lower().split("_")
        monkeypatch.setenv(row.name, "s3cret")
        dsn = make_url(service_role_dsn("postgresql://postgres@db/x", svc, kind))
        assert (dsn.username, dsn.password) == (f"{svc}_{kind}", "s3cret")
