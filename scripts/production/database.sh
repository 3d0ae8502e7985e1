#!/usr/bin/env bash
# A PostgreSQL role and database of the same name for an AiiDA profile, through `su postgres`
# (no sudo needed). The password is read from standard input, never from the command line, so it
# does not appear in `ps` or in logs.
#
#   database.sh create NAME < password-file   create role NAME and database NAME (idempotent)
#   database.sh drop NAME                     drop database NAME and role NAME
set -euo pipefail

usage() {
    echo "usage: $0 create|drop NAME" >&2
    exit 2
}
(($# == 2)) || usage
name=$2
[[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || {
    echo "database.sh: NAME must match [a-z_][a-z0-9_]*, got '$name'" >&2
    exit 2
}

psql_admin() { su postgres -c 'psql -X -q -v ON_ERROR_STOP=1 -d postgres' >/dev/null; }
exists() { [[ $(su postgres -c "psql -X -tA -d postgres -c \"SELECT 1 FROM $1 WHERE $2 = '$name'\"") == 1 ]]; }

case $1 in
create)
    IFS= read -r password
    [[ $password =~ ^[A-Za-z0-9]+$ ]] || {
        echo 'database.sh: the password must be alphanumeric' >&2
        exit 2
    }
    if exists pg_roles rolname; then
        printf "ALTER ROLE %s WITH LOGIN PASSWORD '%s';\n" "$name" "$password" | psql_admin
    else
        printf "CREATE ROLE %s WITH LOGIN PASSWORD '%s';\n" "$name" "$password" | psql_admin
    fi
    if ! exists pg_database datname; then
        printf "CREATE DATABASE %s OWNER %s ENCODING 'UTF8' LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8' TEMPLATE template0;\n" \
            "$name" "$name" | psql_admin
    fi
    ;;
drop)
    printf 'DROP DATABASE IF EXISTS %s WITH (FORCE);\nDROP ROLE IF EXISTS %s;\n' "$name" "$name" | psql_admin
    ;;
*) usage ;;
esac
