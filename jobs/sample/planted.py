"""Planted PII and secrets, and look-alikes that must survive, for the redaction's precision and
recall (tests), its benchmark and the demo's commits.

Secrets are generated from a seed in the shapes their issuers use (AWS, GitHub, GitLab, Slack,
Stripe, SendGrid, OpenAI tokens, JWTs, PEM private keys, passwords in assignments and URLs),
so none is a real credential and none is written in this repository's source. Look-alikes are
what code is full of: hashes, UUIDs, version strings, documentation addresses, private IPs,
passwords read from the environment.
"""

from __future__ import annotations

import base64
import json
import random
import string
from typing import NamedTuple

ALNUM = string.ascii_letters + string.digits


class Planted(NamedTuple):
    """A text with its file name; ``secrets``: (kind, value) that redaction must remove (none for a
    look-alike, whose text must come out unchanged)."""

    name: str
    filename: str
    text: str
    secrets: tuple[tuple[str, str], ...]


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def private_key(rng: random.Random) -> str:
    body = "\n".join(_chars(rng, ALNUM + "+/", 64) for _ in range(6))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"


def secrets(rng: random.Random) -> list[Planted]:
    """One case per shape a key, token, password, email or IP address takes in code."""
    upper = string.ascii_uppercase + string.digits
    aws_id = "AKIA" + _chars(rng, upper, 16)
    aws_secret = _chars(rng, ALNUM + "/+", 40)
    github = "ghp_" + _chars(rng, ALNUM, 36)
    gitlab = "glpat-" + _chars(rng, ALNUM + "_-", 20)
    slack = f"xoxb-{_chars(rng, string.digits, 11)}-{_chars(rng, string.digits, 12)}-{_chars(rng, string.ascii_lowercase + string.digits, 24)}"
    stripe = "sk_live_" + _chars(rng, ALNUM, 24)
    sendgrid = f"SG.{_chars(rng, ALNUM + '_-', 22)}.{_chars(rng, ALNUM + '_-', 43)}"
    openai = f"sk-{_chars(rng, ALNUM, 20)}T3BlbkFJ{_chars(rng, ALNUM, 20)}"
    jwt = ".".join(
        [
            _b64url({"alg": "HS256", "typ": "JWT"}),
            _b64url({"sub": str(rng.randint(10**6, 10**7)), "name": "svc-reporter", "iat": 1700000000}),
            _chars(rng, ALNUM + "_-", 43),
        ]
    )
    key = private_key(rng)
    password = _chars(rng, string.ascii_lowercase, 6) + _chars(rng, string.digits, 4) + "!Qz"
    url_password = _chars(rng, ALNUM, 14)
    first, last = rng.choice(["jane", "arjun", "mei", "oskar"]), rng.choice(["roe", "patel", "lin", "berg"])
    email = f"{first}.{last}@{rng.choice(['acme-corp.io', 'gmail.com', 'posteo.de'])}"
    ipv4 = f"{rng.choice([34, 52, 104, 151])}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    ipv6 = f"2a00:1450:{rng.randint(4096, 65535):x}:81c::{rng.randint(256, 4095):x}"
    return [
        Planted("aws access key id", "deploy.py", f'AWS_ACCESS_KEY_ID = "{aws_id}"\n', (("key", aws_id),)),
        Planted("aws secret key", "settings.py", f'aws_secret_access_key = "{aws_secret}"\n', (("key", aws_secret),)),
        Planted("github token", "release.sh", f"export GH_TOKEN={github}\n", (("key", github),)),
        Planted("gitlab token", ".gitlab-ci.yml", f"  GITLAB_TOKEN: {gitlab}\n", (("key", gitlab),)),
        Planted("slack bot token", "notify.js", f"const slack = new WebClient('{slack}');\n", (("key", slack),)),
        Planted("stripe live key", "billing.rb", f'Stripe.api_key = "{stripe}"\n', (("key", stripe),)),
        Planted("sendgrid key", "mail.go", f'client := sendgrid.NewSendClient("{sendgrid}")\n', (("key", sendgrid),)),
        Planted("openai key", "chat.py", f'client = OpenAI(api_key="{openai}")\n', (("key", openai),)),
        Planted("jwt", "api_test.py", f'headers = {{"Authorization": "Bearer {jwt}"}}\n', (("key", jwt),)),
        Planted("private key", "id_rsa.pem", key, tuple(("key", line) for line in key.splitlines()[1:-1])),
        Planted("password in python", "db.py", f'DB_PASSWORD = "{password}"\n', (("password", password),)),
        Planted("password in yaml", "config.yaml", f"database:\n  password: {password}\n", (("password", password),)),
        Planted(
            "password in a url",
            "remote.py",
            f'REMOTE = "https://deploy:{url_password}@git.acme-corp.io/app.git"\n',
            (("password", url_password),),
        ),
        Planted("email in a comment", "util.c", f"/* Maintainer: Jane Roe <{email}> */\n", (("email", email),)),
        Planted("email in a message", "", f"Fix the parser\n\nReported-by: {email}\n", (("email", email),)),
        Planted("public ipv4", "nginx.conf", f"    proxy_pass http://{ipv4}:8080;\n", (("ip_address", ipv4),)),
        Planted("public ipv6", "hosts.py", f'UPSTREAM = "{ipv6}"\n', (("ip_address", ipv6),)),
    ]


def look_alikes(rng: random.Random) -> list[Planted]:
    """Text that looks like a secret, an address or an IP and is none: must come out unchanged."""
    sha1 = _chars(rng, "0123456789abcdef", 40)
    sha256 = _chars(rng, "0123456789abcdef", 64)
    uuid = "-".join(_chars(rng, "0123456789abcdef", n) for n in (8, 4, 4, 4, 12))
    cases = [
        ("git sha", "CHANGELOG.md", f"Reverts commit {sha1}.\n"),
        ("sha256 checksum", "release.py", f'SHA256 = "{sha256}"\n'),
        ("uuid", "models.py", f'DEFAULT_ID = "{uuid}"\n'),
        ("four-part version", "setup.py", 'version = "2.4.1.3"\n'),
        ("dotted version", "pom.xml", "<version>10.0.0.1</version> <!-- v10.0.0.1 -->\n"),
        ("pinned version", "requirements.txt", "protobuf==3.20.1.2\n"),
        ("example address", "README.md", "Write to user@example.com or noreply@docs.example.org.\n"),
        ("git remote", "Makefile", "REMOTE = git@github.com:octo/pyutils.git\n"),
        ("retina image", "app.css", ".logo { background: url(logo@2x.png); }\n"),
        ("npm version spec", "package.json", '"dependencies": {"lodash": "lodash@4.17.21"}\n'),
        ("decorator", "views.py", "@app.route('/login')\ndef login():\n    pass\n"),
        ("private ipv4", "docker-compose.yml", "    ports: ['127.0.0.1:8080:80']\n    dns: 10.0.0.2\n"),
        ("lan ipv4", "hosts", "192.168.1.10 printer\n"),
        ("netmask", "net.py", 'NETMASK = "255.255.255.0"\n'),
        ("documentation ipv4", "docs.rst", "Point it at 203.0.113.7 (a documentation address).\n"),
        ("link-local ipv6", "net.py", 'GATEWAY = "fe80::1"\n'),
        ("c++ scope", "main.cpp", "std::vector<int> v; a::b::c();\n"),
        ("password from the environment", "db.py", 'password = os.environ["DB_PASSWORD"]\n'),
        ("empty password", "db.py", 'password = ""\n'),
        ("templated password", "db.py", 'password = "${DB_PASSWORD}"\n'),
        ("password placeholder", "config.yaml", "password: <your password here>\n"),
        ("password prompt", "cli.py", "password = getpass.getpass()\n"),
        ("key armor in code", "pem.py", 'if line.startswith("-----BEGIN RSA PRIVATE KEY-----"):\n    keys += 1\n'),
        ("token from a header", "auth.py", 'token = request.headers["X-Token"]\n'),
    ]
    return [Planted(name, filename, text, ()) for name, filename, text in cases]


def planted_set(seed: int = 14) -> list[Planted]:
    rng = random.Random(seed)
    return secrets(rng) + look_alikes(rng)
