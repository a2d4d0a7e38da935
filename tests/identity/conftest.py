"""A real OpenID provider on loopback: oidc-provider (a certified implementation) from the npm
registry, started by the tests with PKCE, private_key_jwt, signed request objects and encrypted
ID tokens required. Keys are made here: the provider's signing keys (so a test can also forge a
token with them) and ours (a signing and an encryption key)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from django.core.cache import cache
from joserfc.jwk import KeySet, RSAKey

NODE_DIR = Path(__file__).resolve().parents[2] / "tools" / "oidc-test-provider"
CLIENT_ID = "plan-service-test"
REDIRECT_URI = "http://testserver/auth/oidc/callback/"


def node_install() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node/npm are missing: the OpenID provider tests cannot run in CI")
        pytest.skip("node/npm not installed: the OpenID provider cannot run")
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    with (NODE_DIR / ".install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not marker.exists():
            command = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
            subprocess.run(  # noqa: S603
                [npm, command, "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
                timeout=600,
            )


def rsa_key(kid: str, use: str, alg: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": use, "alg": alg}, private=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Provider:
    """One running provider process and what the tests need to know of it."""

    port: int
    keys: list[RSAKey]
    client_keys: KeySet
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    config_path: Path | None = None
    redirect_uris: list[str] = field(default_factory=lambda: [REDIRECT_URI])

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        assert self.config_path is not None
        self.config_path.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "keys": {"keys": [k.as_dict(private=True) for k in self.keys]},
                    "client": {
                        "client_id": CLIENT_ID,
                        "redirect_uris": self.redirect_uris,
                        "jwks": {"keys": [k.as_dict(private=False) for k in self.client_keys]},
                    },
                    "accounts": self.accounts,
                }
            )
        )

    def add_account(self, login: str, claims: dict[str, Any]) -> None:
        self.accounts[login] = claims
        self.write_config()

    def start(self, tmp: Path) -> None:
        self.config_path = tmp / f"provider-{self.port}.json"
        self.write_config()
        self.process = subprocess.Popen(  # noqa: S603
            [shutil.which("node") or "node", "provider.mjs", str(self.config_path)],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("READY"), f"provider did not start: {line!r}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart_with(self, keys: list[RSAKey], tmp: Path) -> None:
        self.stop()
        self.keys = keys
        self.start(tmp)


@pytest.fixture(scope="module")
def provider_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """One provider process per test module (starting node costs a second or two)."""
    node_install()
    client_keys = KeySet(
        [rsa_key("rp-sig", "sig", "PS256"), rsa_key("rp-enc", "enc", "RSA-OAEP-256")]
    )
    p = Provider(port=free_port(), keys=[rsa_key("op-1", "sig", "PS256")], client_keys=client_keys)
    p.start(tmp_path_factory.mktemp("oidc"))
    yield p
    p.stop()


@pytest.fixture
def provider(provider_process: Provider, settings: Any) -> Iterator[Provider]:
    """The provider, and the service configured as its relying party with nothing cached."""
    p = provider_process
    settings.OIDC_CITIZEN_ISSUER = p.issuer
    settings.OIDC_CITIZEN_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_KEYS = json.dumps(
        {"keys": [k.as_dict(private=True) for k in p.client_keys.keys]}
    )
    cache.clear()
    yield p
    cache.clear()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"', re.I)


def authenticate_at_provider(authorize_url: str, login: str) -> str:
    """Drive the provider's own login and consent forms as a browser would; return the URL it
    finally redirects to (our callback with code, state and iss)."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        url = authorize_url
        for _ in range(12):
            response = browser.get(url)
            if response.status_code in (302, 303):
                location = urljoin(url, response.headers["location"])
                if location.startswith(REDIRECT_URI):
                    return location
                url = location
                continue
            assert response.status_code == 200, response.text[:500]
            action = _FORM.search(response.text)
            assert action is not None, response.text[:500]
            prompt = "login" if 'name="login"' in response.text else "consent"
            data = {"prompt": prompt}
            if prompt == "login":
                data |= {"login": login, "password": "any"}
            posted = browser.post(urljoin(url, action.group(1)), data=data)
            assert posted.status_code in (302, 303), posted.text[:500]
            url = urljoin(url, posted.headers["location"])
            if url.startswith(REDIRECT_URI):
                return url
    raise AssertionError("the provider never redirected back")


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"
