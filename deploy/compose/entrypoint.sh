#!/bin/sh
# Renders the configuration with the Valkey password (from its secret) into a private tmpfs,
# gives PostgreSQL its password through PGPASSWORD (read by msgops' database driver, never
# written to the configuration), then runs msgops.
set -eu
umask 077
valkey_password=$(cat /run/secrets/valkey_password)
# make-secrets.sh makes it of hex digits only: nothing to escape in a URL or for sed.
sed "s|__VALKEY_PASSWORD__|${valkey_password}|" /etc/msgops/config.toml.in > /run/msgops/config.toml
PGPASSWORD=$(cat /run/secrets/postgres_password)
export PGPASSWORD
exec /usr/bin/msgops "$@"
