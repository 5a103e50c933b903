#!/usr/bin/env bash
# Installs (Debian packages) and starts local PostgreSQL and RabbitMQ on 127.0.0.1 for the
# sample system's end-to-end script. Idempotent: safe to run again.
# PostgreSQL: user postgres / password postgres on 127.0.0.1:5432.
# RabbitMQ:   user guest / password guest on 127.0.0.1:5672.
set -euo pipefail

say() { printf '[dev-deps] %s\n' "$*" >&2; }

need=()
command -v pg_lsclusters >/dev/null 2>&1 || need+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}"
    exit 3
  fi
  say "installing ${need[*]} from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

run_as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "starting PostgreSQL"
  cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
  if [ -z "$cluster" ]; then
    say "no PostgreSQL cluster found; creating one"
    ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_createcluster "$ver" main >/dev/null
    cluster="$ver main"
  fi
  # shellcheck disable=SC2086
  pg_ctlcluster $cluster start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { say "PostgreSQL did not come up on 127.0.0.1:5432"; exit 3; }
run_as_postgres "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null

if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  say "starting RabbitMQ"
  if command -v service >/dev/null 2>&1 && [ -x /etc/init.d/rabbitmq-server ]; then
    service rabbitmq-server start >/dev/null
  else
    rabbitmq-server -detached
  fi
  for _ in $(seq 1 120); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
rabbitmq-diagnostics -q ping >/dev/null 2>&1 || { say "RabbitMQ did not come up"; exit 3; }
say "PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672 are up"
