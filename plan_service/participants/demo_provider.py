"""The demo's identity provider: families sign in "strongly" as they would through Suomi.fi.

`./run demo` starts `tools/oidc-test-provider` (oidc-provider from the npm registry, the same
provider the sign-in tests use) on loopback when Node.js is there, and configures the service as
its relying party with PKCE, a signed request object, private_key_jwt and encrypted ID tokens.
Every demo family member with an account can sign in there by their demo username (any
password); the provider vouches for their identity code. Without Node.js the demo runs as before.
For local use only: the provider accepts any password.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

TOOL_DIR = Path(__file__).resolve().parents[2] / "tools" / "oidc-test-provider"
CLIENT_ID = "plan-service-demo"


def _keys(folder: Path) -> tuple[Path, dict[str, Any]]:
    """Our demo client keys (kept between runs) and fresh provider keys."""
    from joserfc.jwk import RSAKey

    def make(kid: str, use: str, alg: str) -> dict[str, Any]:
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": use, "alg": alg})
        return key.as_dict(private=True)

    folder.mkdir(parents=True, exist_ok=True)
    client = folder / "client-keys.json"
    if not client.exists():
        client.write_text(
            json.dumps(
                {
                    "keys": [
                        make("demo-sig", "sig", "PS256"),
                        make("demo-enc", "enc", "RSA-OAEP-256"),
                    ]
                }
            )
        )
        client.chmod(0o600)
    return client, {"keys": [make("demo-op", "sig", "PS256")]}


def start(base_dir: Path, address: str, port: int = 8900) -> subprocess.Popen | None:
    """Start the provider and point the settings at it (call before django.setup())."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None or os.environ.get("DEMO_OIDC") == "0":
        print("(No Node.js: the demo's test identity provider is off; passwords work.)")
        return None
    if not (TOOL_DIR / "node_modules" / ".package-lock.json").exists():
        subprocess.run(  # noqa: S603
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TOOL_DIR, check=True
        )
    folder = base_dir / ".demo-oidc"
    client_keys, provider_keys = _keys(folder)
    config = folder / "provider.json"
    public = [
        {k: v for k, v in key.items() if k in ("kty", "kid", "use", "alg", "n", "e")}
        for key in json.loads(client_keys.read_text())["keys"]
    ]
    config.write_text(
        json.dumps(
            {
                "port": port,
                "keys": provider_keys,
                "client": {
                    "client_id": CLIENT_ID,
                    "redirect_uris": [f"http://{address}/auth/oidc/callback/"],
                    "jwks": {"keys": public},
                },
                "accounts": {},
            }
        )
    )
    config.chmod(0o600)  # holds the provider's private keys
    process = subprocess.Popen(  # noqa: S603
        [node, "provider.mjs", str(config)],
        cwd=TOOL_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith("READY"):
        process.terminate()
        print("(The demo's test identity provider did not start; passwords work.)")
        return None
    os.environ.setdefault("OIDC_CITIZEN_ISSUER", f"http://127.0.0.1:{port}")
    os.environ.setdefault("OIDC_CITIZEN_CLIENT_ID", CLIENT_ID)
    os.environ.setdefault("OIDC_CLIENT_KEYS", str(client_keys))
    return process


def publish_accounts(base_dir: Path) -> list[str]:
    """Give the provider every demo family member with an account (after seeding)."""
    from plan_service.participants.models import Person

    config = base_dir / ".demo-oidc" / "provider.json"
    data = json.loads(config.read_text())
    people = Person.objects.filter(user__isnull=False).select_related("user")
    data["accounts"] = {
        p.user.username: {
            "urn:oid:1.2.246.21": p.identity_code,
            "given_name": p.given_name,
            "family_name": p.family_name,
        }
        for p in people
    }
    config.write_text(json.dumps(data))
    return sorted(data["accounts"])
