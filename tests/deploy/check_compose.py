"""The compose deployment, read as Docker Compose reads it (PyYAML), checked for what makes it
work: two msgops instances with the same configuration, each with its own data volume, every
secret they name defined, the proxy sending to both, and the configuration (rendered as the
entrypoint renders it) naming the shared Valkey and PostgreSQL of the same file.

    python tests/deploy/check_compose.py deploy/compose
"""

import pathlib
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml


def fail(message: str) -> None:
    print(f"check_compose: {message}", file=sys.stderr)
    sys.exit(1)


def main(folder: pathlib.Path, msgops: str | None) -> None:
    compose = yaml.safe_load((folder / "compose.yaml").read_text())
    services = compose["services"]
    instances = [name for name, s in services.items() if s.get("image") == "msgops:local"]
    if len(instances) != 2:
        fail(f"two msgops instances expected, found {instances}")
    defined = set(compose.get("secrets", {}))
    for name in instances:
        s = services[name]
        volumes = s.get("volumes", [])
        if not any(v.endswith(":/etc/msgops/config.toml.in:ro") for v in volumes):
            fail(f"{name} does not mount the shared configuration read-only")
        if not any(v.startswith(f"{name}:/var/lib/msgops") for v in volumes):
            fail(f"{name} has no data volume of its own")
        named = {x["source"] if isinstance(x, dict) else x for x in s.get("secrets", [])}
        if not named <= defined:
            fail(f"{name} names undefined secrets {sorted(named - defined)}")
        targets = {x.get("target", x["source"]) if isinstance(x, dict) else x for x in s["secrets"]}
        for needed in ("tls.crt", "tls.key", "service.api_token", "postgres_password", "valkey_password"):
            if needed not in targets:
                fail(f"{name} lacks the secret {needed}")
        if s["environment"].get("CREDENTIALS_DIRECTORY") != "/run/secrets":
            fail(f"{name} does not read its credentials from the secrets")
        if set(s.get("depends_on", {})) != {"valkey", "postgres"}:
            fail(f"{name} does not wait for valkey and postgres")
        if "--tls-cert" not in s.get("command", []) and "--tls-cert" not in (
            folder / "Dockerfile"
        ).read_text():
            fail(f"{name} does not serve HTTPS")
    for volume in instances + ["postgres"]:
        if volume not in compose.get("volumes", {}):
            fail(f"volume {volume} is not declared")

    nginx = (folder / "nginx.conf").read_text()
    upstream = re.search(r"upstream msgops \{(.*?)\}", nginx, re.S)
    if not upstream:
        fail("nginx.conf has no upstream msgops")
    servers = re.findall(r"server\s+([\w-]+):5024", upstream.group(1))
    if sorted(servers) != sorted(instances):
        fail(f"the proxy sends to {servers}, the instances are {instances}")
    if "proxy_buffering off" not in nginx or "proxy_ssl_verify on" not in nginx:
        fail("the proxy must pass events unbuffered and verify the instances' certificate")

    # The configuration as entrypoint.sh renders it, with a test password.
    entry = (folder / "entrypoint.sh").read_text()
    placeholder = re.search(r's\|(__\w+__)\|', entry).group(1)
    template = (folder / "msgops.toml").read_text()
    if placeholder not in template:
        fail(f"msgops.toml has no {placeholder} for the entrypoint to fill")
    rendered = template.replace(placeholder, "0123abcd")
    config = tomllib.loads(rendered)
    if not config["state"]["backend"].startswith("redis://:0123abcd@valkey:"):
        fail(f"[state] backend does not name the compose file's valkey: {config['state']['backend']}")
    if config["state"].get("instances") != len(instances):
        fail("[state] instances is not the number of instances")
    if not config["history"]["url"].startswith("postgres://msgops@postgres:"):
        fail("[history] url does not name the compose file's postgres (its password comes from PGPASSWORD)")
    if ":" in config["history"]["url"].split("//", 1)[1].split("@", 1)[0]:
        fail("[history] url holds a password: it belongs in the secret")
    if config["credentials"]["store"] != "systemd-creds":
        fail("the instances must read credentials from $CREDENTIALS_DIRECTORY")
    env = services["postgres"]["environment"]
    if env["POSTGRES_USER"] != "msgops" or env["POSTGRES_DB"] != "msgops":
        fail("postgres's user and database are not the configuration's")

    if msgops:
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "config.toml"
            path.write_text(rendered)
            checked = subprocess.run(
                [msgops, "config", "check", str(path)], capture_output=True, text=True
            )
            if checked.returncode != 0:
                fail(f"msgops refuses the rendered configuration: {checked.stdout}{checked.stderr}")
            if "0123abcd" in checked.stdout + checked.stderr:
                fail("msgops printed the Valkey password")
    print(f"check_compose: {len(instances)} instances, proxy, valkey, postgres: ok")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
