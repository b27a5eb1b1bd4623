#!/usr/bin/env bash
# The stand-in's entrypoint, with the official postgres image's contract for `postgres [OPTIONS]`:
#
# - started as root, it makes PGDATA the postgres user's and runs itself again as that user;
# - on an empty PGDATA it runs initdb: superuser POSTGRES_USER (default postgres) with the password
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_INITDB_ARGS,
#   connections from any address with POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), then
#   creates POSTGRES_DB (default: the user's name) and runs /docker-entrypoint-initdb.d/*.sql and
#   *.sh, on a temporary server that listens on its Unix socket only;
# - then PostgreSQL runs in the foreground, listening on every address.
# Any other command runs as given.
set -Eeuo pipefail

if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi
if [[ "${1:-}" != postgres ]]; then
  exec "$@"
fi

if [[ "$(id -u)" == 0 ]]; then
  install -d -o postgres -g postgres -m 0700 "$PGDATA"
  chmod 0700 "$PGDATA"
  chown postgres:postgres "$PGDATA" "$(dirname "$PGDATA")"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" && "$auth" != trust ]]; then
    cat >&2 <<'MESSAGE'
Error: the database is uninitialized and the superuser password is not set.
       Set POSTGRES_PASSWORD to a non-empty value (or POSTGRES_HOST_AUTH_METHOD=trust to allow
       every connection without a password, which is not safe beyond a test machine).
MESSAGE
    exit 1
  fi
  echo "===> initdb: superuser ${user}, database ${database}"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS holds several options
  initdb --username="$user" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-}
  printf '\n# Added by docker-entrypoint.sh: clients on any address.\nhost all all all %s\n' \
    "$auth" >> "$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses='' -p 5432" --wait start
  if [[ "$database" != postgres ]]; then
    psql --username="$user" --dbname=postgres --set=ON_ERROR_STOP=1 --no-psqlrc \
      --command="CREATE DATABASE \"${database//\"/\"\"}\""
  fi
  for script in /docker-entrypoint-initdb.d/*; do
    case "$script" in
      *.sql) psql --username="$user" --dbname="$database" --set=ON_ERROR_STOP=1 --no-psqlrc --file="$script" ;;
      *.sh) bash "$script" ;;
      *) ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop
  echo "===> initdb done"
fi

exec "$@"
