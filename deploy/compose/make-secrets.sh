#!/usr/bin/env bash
# Makes what the compose file reads from secrets/: a TLS certificate for the proxy and the
# instances (names: localhost, msgops, msgops-a, msgops-b, and $MSGOPS_HOST if set), an admin API
# token, and the PostgreSQL and Valkey passwords. Provider keys are yours to put there:
# secrets/twilio.account_sid, secrets/twilio.auth_token, secrets/sendgrid.api_key (empty files
# leave a provider not configured). Nothing is overwritten.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets backend-logs
random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
[ -s secrets/postgres_password ] || random > secrets/postgres_password
[ -s secrets/valkey_password ] || random > secrets/valkey_password
[ -s secrets/service.api_token ] || printf 'msgops_%s' "$(random)" > secrets/service.api_token
for f in twilio.account_sid twilio.auth_token sendgrid.api_key; do [ -e "secrets/$f" ] || : > "secrets/$f"; done
if [ ! -s secrets/tls.key ]; then
  names="DNS:localhost,DNS:msgops,DNS:msgops-a,DNS:msgops-b,IP:127.0.0.1"
  [ -n "${MSGOPS_HOST:-}" ] && names="$names,DNS:$MSGOPS_HOST"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=msgops" -addext "subjectAltName=$names" \
    -keyout secrets/tls.key -out secrets/tls.crt 2>/dev/null
fi
# Inside the containers each service's own user reads them (compose mounts the files as they
# are); on this host the folder is the owner's alone.
chmod 0700 secrets
chmod 0644 secrets/*
echo "secrets/ ready; SHA-256 fingerprint of the certificate:"
openssl x509 -noout -fingerprint -sha256 -in secrets/tls.crt
