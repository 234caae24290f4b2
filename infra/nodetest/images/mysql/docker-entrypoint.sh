#!/bin/sh
# The MySQL stand-in image's entrypoint (infra/nodetest/images): the documented contract of
# the official mysql image's docker-entrypoint.sh, written for MariaDB 10.11 and POSIX sh
# (dash). The package documentation lists what it leaves out.
set -e

_ep_log() {
	_ep_type=$1
	shift
	printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$_ep_type" "$*"
}
mysql_note() { _ep_log Note "$@"; }
mysql_warn() { _ep_log Warn "$@" >&2; }
mysql_error() {
	_ep_log ERROR "$@" >&2
	exit 1
}

# file_env VAR [DEFAULT]: VAR, or the content of the file named by VAR_FILE, or DEFAULT.
file_env() {
	eval "_ep_val=\${$1:-} _ep_file=\${$1_FILE:-}"
	if [ -n "$_ep_val" ] && [ -n "$_ep_file" ]; then
		mysql_error "Both $1 and $1_FILE are set (but are exclusive)"
	fi
	if [ -z "$_ep_val" ]; then
		_ep_val=${2:-}
		if [ -n "$_ep_file" ]; then
			_ep_val=$(cat "$_ep_file")
		fi
	fi
	export "$1=$_ep_val"
	unset "$1_FILE"
}

# mysql_get_config NAME MYSQLD...: the value the server would use for option NAME.
mysql_get_config() {
	_ep_name=$1
	shift
	"$@" --verbose --help 2>/dev/null | sed -n "/^$_ep_name[[:space:]]/{s/^$_ep_name[[:space:]]*//p;q}"
}

# sql_string VALUE: VALUE escaped for a single-quoted SQL string.
sql_string() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }

# docker_process_sql [--dont-use-mysql-root-password] [CLIENT-ARGS...] < SQL: runs SQL as
# root over the socket, in MYSQL_DATABASE unless the arguments say --database=OTHER. The
# password reaches the client through an option file on a pipe, never in its arguments.
docker_process_sql() {
	_ep_root=$MYSQL_ROOT_PASSWORD
	if [ "${1:-}" = --dont-use-mysql-root-password ]; then
		_ep_root=
		shift
	fi
	if [ -n "${MYSQL_DATABASE:-}" ]; then
		set -- --database="$MYSQL_DATABASE" "$@"
	fi
	if [ -n "$_ep_root" ]; then
		mysql --defaults-extra-file=/dev/fd/3 --protocol=socket -uroot -hlocalhost --socket="$SOCKET" --comments "$@" 3<<-EOF
			[client]
			password="$_ep_root"
		EOF
	else
		mysql --protocol=socket -uroot -hlocalhost --socket="$SOCKET" --comments "$@"
	fi
}

# docker_process_init_files FILE...: *.sh run (if executable) or sourced, *.sql and
# *.sql.gz piped to the client.
docker_process_init_files() {
	echo
	for _ep_f; do
		[ -e "$_ep_f" ] || continue # an unmatched glob: no files
		case "$_ep_f" in
		*.sh)
			if [ -x "$_ep_f" ]; then
				mysql_note "$0: running $_ep_f"
				"$_ep_f"
			else
				mysql_note "$0: sourcing $_ep_f"
				. "$_ep_f"
			fi
			;;
		*.sql)
			mysql_note "$0: running $_ep_f"
			docker_process_sql <"$_ep_f"
			echo
			;;
		*.sql.gz)
			mysql_note "$0: running $_ep_f"
			# dash has no pipefail: check the archive before piping it.
			gzip -t "$_ep_f" || mysql_error "$_ep_f is not a valid gzip file"
			gzip -dc "$_ep_f" | docker_process_sql
			echo
			;;
		*) mysql_warn "$0: ignoring $_ep_f" ;;
		esac
		echo
	done
}

mysql_check_config() {
	if ! _ep_errors=$("$@" --verbose --help 2>&1 >/dev/null); then
		mysql_error "mysqld failed while attempting to check config
	command was: $* --verbose --help
	$_ep_errors"
	fi
}

docker_setup_env() {
	DATADIR=$(mysql_get_config datadir "$@")
	DATADIR=${DATADIR%/}
	SOCKET=$(mysql_get_config socket "$@")
	[ -n "$DATADIR" ] && [ -n "$SOCKET" ] || mysql_error "no datadir or socket in the server configuration"

	file_env MYSQL_ROOT_HOST '%'
	file_env MYSQL_DATABASE
	file_env MYSQL_USER
	file_env MYSQL_PASSWORD
	file_env MYSQL_ROOT_PASSWORD

	DATABASE_ALREADY_EXISTS=
	if [ -d "$DATADIR/mysql" ]; then
		DATABASE_ALREADY_EXISTS=true
	fi
}

# The data directory (on a fresh volume a subdirectory may not exist yet) and the
# directories of the socket and the pid file.
docker_create_db_directories() {
	_ep_pid=$(mysql_get_config pid-file "$@")
	mkdir -p "$DATADIR" "$(dirname "$SOCKET")" "$(dirname "$_ep_pid")"
}

docker_verify_minimum_env() {
	if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		mysql_error "Database is uninitialized and password option is not specified
    You need to specify one of the following as an environment variable:
    - MYSQL_ROOT_PASSWORD
    - MYSQL_ALLOW_EMPTY_PASSWORD
    - MYSQL_RANDOM_ROOT_PASSWORD"
	fi
	if [ "$MYSQL_USER" = root ]; then
		mysql_error 'MYSQL_USER="root", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user
    Remove MYSQL_USER="root" and use one of the following to control the root user password:
    - MYSQL_ROOT_PASSWORD
    - MYSQL_ALLOW_EMPTY_PASSWORD
    - MYSQL_RANDOM_ROOT_PASSWORD'
	fi
	if [ -n "$MYSQL_USER" ] && [ -z "$MYSQL_PASSWORD" ]; then
		mysql_warn 'MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created'
	elif [ -z "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
		mysql_warn 'MYSQL_PASSWORD specified, but missing MYSQL_USER; MYSQL_PASSWORD will be ignored'
	fi
}

# MySQL's mysqld --initialize-insecure, done by MariaDB's installer: system tables, root
# without a password, no test database, no binary log of the bootstrap.
docker_init_database_dir() {
	mysql_note "Initializing database files"
	shift # mysqld: the installer finds mariadbd itself and passes it the other arguments
	mariadb-install-db --datadir="$DATADIR" --rpm --cross-bootstrap --skip-test-db \
		--auth-root-authentication-method=normal --default-time-zone=SYSTEM \
		--skip-log-bin "$@" >/dev/null
	mysql_note "Database files initialized"
}

docker_temp_server_start() {
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" &
	_ep_server=$!
	mysql_note "Waiting for server startup"
	_ep_i=0
	until echo 'SELECT 1' | docker_process_sql --dont-use-mysql-root-password --database=mysql >/dev/null 2>&1; do
		kill -0 "$_ep_server" 2>/dev/null || mysql_error "Unable to start server."
		_ep_i=$((_ep_i + 1))
		[ "$_ep_i" -lt 600 ] || mysql_error "Unable to start server: not up after 120 s."
		sleep 0.2
	done
}

# mysqladmin shutdown returns once the server has removed its pid file; wait reaps it.
docker_temp_server_stop() {
	if [ -n "$MYSQL_ROOT_PASSWORD" ]; then
		mysqladmin --defaults-extra-file=/dev/fd/3 -uroot --socket="$SOCKET" shutdown 3<<-EOF || mysql_error "Unable to shut down server."
			[client]
			password="$MYSQL_ROOT_PASSWORD"
		EOF
	else
		mysqladmin -uroot --socket="$SOCKET" shutdown || mysql_error "Unable to shut down server."
	fi
	wait "$_ep_server" || mysql_error "The temporary server exited with status $?."
}

docker_setup_db() {
	if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		MYSQL_ROOT_PASSWORD=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
		export MYSQL_ROOT_PASSWORD
		mysql_note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
	fi
	_ep_pw=$(sql_string "$MYSQL_ROOT_PASSWORD")
	_ep_root_create=
	if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != localhost ]; then
		_ep_host=$(sql_string "$MYSQL_ROOT_HOST")
		_ep_root_create="CREATE USER 'root'@'$_ep_host' IDENTIFIED BY '$_ep_pw' ;
GRANT ALL ON *.* TO 'root'@'$_ep_host' WITH GRANT OPTION ;"
	fi
	# The installer also makes root@127.0.0.1 and root@::1 without a password; MySQL's
	# --initialize makes root@localhost only.
	docker_process_sql --dont-use-mysql-root-password --database=mysql <<-EOSQL
		SET autocommit = 1;
		SET @@SESSION.SQL_LOG_BIN=0;
		DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';
		ALTER USER 'root'@'localhost' IDENTIFIED BY '$_ep_pw' ;
		GRANT ALL ON *.* TO 'root'@'localhost' WITH GRANT OPTION ;
		FLUSH PRIVILEGES ;
		$_ep_root_create
		DROP DATABASE IF EXISTS test ;
	EOSQL

	if [ -n "$MYSQL_DATABASE" ]; then
		mysql_note "Creating database $MYSQL_DATABASE"
		echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\` ;" | docker_process_sql --database=mysql
	fi
	if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
		mysql_note "Creating user $MYSQL_USER"
		echo "CREATE USER '$(sql_string "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_string "$MYSQL_PASSWORD")' ;" |
			docker_process_sql --database=mysql
		if [ -n "$MYSQL_DATABASE" ]; then
			mysql_note "Giving user $MYSQL_USER access to schema $MYSQL_DATABASE"
			echo "GRANT ALL ON \`$(printf '%s' "$MYSQL_DATABASE" | sed 's/_/\\_/g')\`.* TO '$(sql_string "$MYSQL_USER")'@'%' ;" |
				docker_process_sql --database=mysql
		fi
	fi
}

mysql_expire_root_user() {
	if [ -n "${MYSQL_ONETIME_PASSWORD:-}" ]; then
		echo "ALTER USER 'root'@'%' PASSWORD EXPIRE;" | docker_process_sql --database=mysql
	fi
}

# _mysql_want_help ARGS...: whether an argument makes mysqld print something and stop.
_mysql_want_help() {
	for _ep_arg; do
		case "$_ep_arg" in
		-'?' | --help | --print-defaults | -V | --version) return 0 ;;
		esac
	done
	return 1
}

_main() {
	case "${1:-}" in
	-*) set -- mysqld "$@" ;;
	esac
	case "${1:-}" in
	mysqld | mariadbd) ;;
	*) exec "$@" ;;
	esac
	if _mysql_want_help "$@"; then
		exec "$@"
	fi
	mysql_note "Entrypoint script for the MySQL stand-in (MariaDB $(mariadbd --version | sed -n 's/.*Ver \([^ ]*\).*/\1/p')) started."
	if [ "$(id -u)" = 0 ]; then
		mysql_error "running as root: this stand-in has no step-down to the mysql user; run it as uid 999"
	fi
	mysql_check_config "$@"
	docker_setup_env "$@"
	docker_create_db_directories "$@"

	if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
		docker_verify_minimum_env
		# Unreadable init files must fail now, not after a half-done initialisation.
		ls /docker-entrypoint-initdb.d/ >/dev/null
		docker_init_database_dir "$@"
		mysql_note "Starting temporary server"
		docker_temp_server_start "$@"
		mysql_note "Temporary server started."
		docker_setup_db
		# The glob sorts.
		docker_process_init_files /docker-entrypoint-initdb.d/*
		mysql_expire_root_user
		mysql_note "Stopping temporary server"
		docker_temp_server_stop
		mysql_note "Temporary server stopped"
		echo
		mysql_note "MySQL init process done. Ready for start up."
		echo
	fi
	exec "$@"
}

_main "$@"
