"""The deployment files in deploy/ and the scaling page say things that are true: the compose
file parses, every `masai` command in it is one the CLI accepts, the config it ships loads,
no secret is written into it, and docs/scaling.md links only to files that exist."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from masai.cli import parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
CONFIG = DEPLOY / "config.toml"
SCALING = ROOT / "docs" / "scaling.md"
# Pages that link to the scaling page (each must reach it with a link that resolves).
LINKING = ["README.md", "docs/deploying.md", "docs/runs.md", "docs/server-contract.md"]

LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.M | re.S)


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def _masai_commands() -> list[tuple[str, list[str]]]:
    """(service, argv without the leading `masai`) for every service that runs masai."""
    found = []
    for name, service in _services().items():
        command = service.get("command")
        if command is None:
            continue
        argv = _argv(command)
        if argv and argv[0] == "masai":
            found.append((name, argv[1:]))
    return found


def test_the_compose_file_has_redis_api_servers_and_workers() -> None:
    services = _services()
    redis = services["redis"]
    assert str(redis["image"]).startswith(("redis:7", "valkey/"))
    assert "--appendonly" in _argv(redis["command"])  # runs survive a Redis restart
    assert "healthcheck" in redis
    roles = [argv[0] for _, argv in _masai_commands()]
    assert roles.count("serve") >= 2  # two API servers: a client can reconnect to the other
    assert roles.count("worker") >= 1
    for name, _ in _masai_commands():
        service = services[name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


@pytest.mark.parametrize(("service", "argv"), _masai_commands(), ids=lambda v: str(v))
def test_every_masai_command_in_the_compose_file_parses(service: str, argv: list[str]) -> None:
    args = parser().parse_args(argv)  # (argparse exits on a flag it does not know)
    assert args.backend and args.backend.startswith("redis://"), service
    assert args.config == "/app/config.toml", service
    if args.command == "serve":
        assert args.host == "0.0.0.0"  # (reachable from the other containers)


def test_the_compose_file_holds_no_secret() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for _, argv in _masai_commands():
        assert "--api-key" not in argv  # keys come from the environment, never the file
    for name, service in _services().items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        for key, value in environment.items():
            if re.search(r"KEY|SECRET|PASSWORD|TOKEN", key):
                assert re.fullmatch(r"\$\{\w+(:?[?-][^}]*)?\}", str(value)), (name, key)
    # No password in a Redis URL, no key-looking literal anywhere.
    assert not re.search(r"rediss?://[^/\s@]*:[^/\s@]+@", text)
    assert not re.search(r"\b(sk-[A-Za-z0-9]{16,}|[0-9a-f]{32,})\b", text)
    api_keys = _services()["api-1"]["environment"]["MASAI_API_KEYS"]
    assert str(api_keys).startswith("${MASAI_API_KEYS:?")  # required, and fails loudly


def test_the_dockerfile_installs_the_extras_and_drops_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.12-slim", text, re.M)
    assert '".[server,redis,cli]"' in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    build = _compose()["x-masai"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / source).exists(), source  # (the build context is the repository)


def test_the_shipped_config_loads_and_names_agents() -> None:
    from masai.server import ServerSettings, load_config

    registry, server = load_config(str(CONFIG))
    assert registry.targets
    assert any(target.kind == "agent" for target in registry.targets.values())
    assert registry.default is None or registry.default in registry.targets
    settings = ServerSettings.build(server)
    assert not settings.api_keys  # (keys are never in the shipped file)


def _links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))  # (not inside code blocks)
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link)]


def _anchors(page: Path) -> set[str]:
    """GitHub/MkDocs-style anchors of a page's headings."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("page", ["docs/scaling.md", "deploy/README.md", *LINKING])
def test_links_to_repository_files_resolve(page: str) -> None:
    source = ROOT / page
    for link in _links(source):
        path, _, anchor = link.partition("#")
        target = (source.parent / path).resolve() if path else source
        assert target.exists(), f"{page}: {link} does not exist"
        if anchor and target.suffix == ".md":
            assert anchor in _anchors(target), f"{page}: no heading #{anchor} in {path or page}"


@pytest.mark.parametrize("page", LINKING)
def test_the_other_pages_link_to_the_scaling_page(page: str) -> None:
    links = [link.partition("#")[0] for link in _links(ROOT / page)]
    assert any(Path(link).name == "scaling.md" for link in links), page


def test_the_scaling_page_names_every_worker_flag_with_its_default() -> None:
    page = SCALING.read_text(encoding="utf-8")
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    worker = commands.choices["worker"]
    for action in worker._actions:
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        if flag in (None, "--help", "--log-level", "--backend", "--config"):
            continue
        row = next((line for line in page.splitlines() if f"`masai worker {flag}`" in line), None)
        assert row is not None, f"{flag} is missing from the settings table"
        default = f"{action.default:g}" if isinstance(action.default, float) else action.default
        assert f"| {default}" in row, (flag, default, row)


@pytest.mark.parametrize(
    "code",
    [m.group(2) for m in FENCE.finditer(SCALING.read_text(encoding="utf-8")) if m[1] == "bash"],
    ids=lambda c: c.split("\n", 1)[0][:40],
)
def test_the_scaling_pages_commands_parse(code: str) -> None:
    for line in code.splitlines():
        words = shlex.split(line.strip()) if line.strip().startswith("masai ") else []
        if words:
            parser().parse_args(words[1:])
