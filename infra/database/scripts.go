package database

import (
	"fmt"
	"strings"

	"github.com/counter-mysql/counter-mysql/app/schema"
)

// Environment variables the init script reads; deliberately not MYSQL_USER/MYSQL_PASSWORD,
// with which the image would grant the user ALL on the database.
const (
	envAppUser          = "APP_DB_USER"
	envAppPassword      = "APP_DB_PASSWORD"
	envExporterPassword = "EXPORTER_DB_PASSWORD"
)

// exporterHost is the exporter account's host: the sidecar shares the pod's network
// namespace and connects to 127.0.0.1, so the account is useless from anywhere else, even
// with its password (skip-name-resolve: hosts are matched by address).
const exporterHost = "127.0.0.1"

// exporterPrivileges are what mysqld_exporter's collectors need, and nothing in any
// database: PROCESS for the InnoDB tables of information_schema and other users' threads
// in the processlist, REPLICATION CLIENT for the replica status, and the performance_schema
// tables of its optional collectors (SHOW GLOBAL STATUS and VARIABLES need nothing).
var exporterPrivileges = []string{"PROCESS, REPLICATION CLIENT ON *.*", "SELECT ON performance_schema.*"}

// exporterAccount is the SQL that makes the exporter's account exactly what it must be:
// created if missing (a stack deployed before it existed), with the password the Secret
// has now (a rotation), its connection cap, and exactly exporterPrivileges. password is
// the shell expansion that stands for the password in the script at hand.
func exporterAccount(password string) []string {
	account := fmt.Sprintf("'%s'@'%s'", ExporterUser, exporterHost)
	limit := fmt.Sprintf("WITH MAX_USER_CONNECTIONS %d", ExporterMaxConnections)
	sql := []string{
		fmt.Sprintf("CREATE USER IF NOT EXISTS %s IDENTIFIED BY '%s' %s;", account, password, limit),
		fmt.Sprintf("ALTER USER %s IDENTIFIED BY '%s' %s;", account, password, limit),
		fmt.Sprintf("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s;", account),
	}
	for _, p := range exporterPrivileges {
		sql = append(sql, fmt.Sprintf("GRANT %s TO %s;", p, account))
	}
	return sql
}

// createAccounts runs once, when the image's entrypoint initialises an empty data
// directory. It is sourced by the entrypoint (so docker_process_sql exists) and creates
// the application's user with exactly schema.Privileges on schema.Database, and the
// exporter's account.
func createAccounts() string {
	grant := fmt.Sprintf("GRANT %s ON %s.* TO '${%s}'@'%%';", schema.Privileges, schema.Database, envAppUser)
	lines := []string{
		"# Creates the counter app's least-privilege user (see app/schema) and the metrics exporter's.",
		"# Passwords are alphanumeric, so they need no quoting beyond the SQL string.",
		"docker_process_sql <<-EOSQL",
		fmt.Sprintf("\tCREATE USER IF NOT EXISTS '${%s}'@'%%' IDENTIFIED BY '${%s}';", envAppUser, envAppPassword),
		"\t" + grant,
	}
	for _, s := range exporterAccount("${" + envExporterPassword + "}") {
		lines = append(lines, "\t"+s)
	}
	return strings.Join(append(lines, "EOSQL", ""), "\n")
}

// initDir is a memory-backed emptyDir, private to the MySQL container, for the accounts file.
const initDir = "/run/mysql-init"

// startScript is the MySQL container's command (arguments: data directory, init
// directory, then the image's entrypoint and mysqld). On a data directory that is already
// initialised, it writes the accounts file and passes it to mysqld with --init-file, so
// MySQL's accounts follow the Secret on every start: root, the app user and the exporter
// get the Secret's current passwords (a kept volume from an earlier stack, a rotation), the
// app user exactly schema.Privileges on schema.Database and the exporter exporterAccount.
// A fresh data directory is left to the image's entrypoint, which sets the same passwords
// itself (and runs createAccounts); an init file there would change root's password under
// the entrypoint's feet.
//
// The passwords go from the environment (the Secret) into the file on a private emptyDir
// through shell builtins: never into a ConfigMap, an image layer, a process's arguments or
// a log. init_file runs one statement per line.
func startScript() string {
	grant := fmt.Sprintf(`GRANT %s ON %s.* TO '%%s'@'%%%%';\n`, schema.Privileges, schema.Database)
	// Inside double quotes, so the shell expands $exporter (printf is a builtin: the
	// password is in no process's arguments).
	var exporter []string
	for _, s := range exporterAccount("$exporter") {
		exporter = append(exporter, `    printf '%s\n' "`+s+`"`)
	}
	lines := []string{
		`set -eu`,
		`datadir=$1 initdir=$2`,
		`shift 2`,
		`if [ -d "$datadir/mysql" ]; then`,
		`  umask 077`,
		`  file=$initdir/accounts.sql`,
		`  sq() { printf '%s' "$1" | sed "s/'/''/g"; }`, // SQL string quoting (passwords are alphanumeric anyway)
		`  root=$(sq "$MYSQL_ROOT_PASSWORD") user=$(sq "$` + envAppUser + `") app=$(sq "$` + envAppPassword + `") exporter=$(sq "$` + envExporterPassword + `")`,
		`  {`,
		`    printf "ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY '%s';\n" "$root"`,
		`    printf "ALTER USER IF EXISTS 'root'@'%%' IDENTIFIED BY '%s';\n" "$root"`,
		`    printf "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\n" "$user" "$app"`,
		`    printf "ALTER USER '%s'@'%%' IDENTIFIED BY '%s';\n" "$user" "$app"`,
		`    printf "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '%s'@'%%';\n" "$user"`,
		`    printf "` + grant + `" "$user"`,
	}
	lines = append(append(lines, exporter...),
		`  } > "$file"`,
		`  set -- "$@" --init-file="$file"`,
		`fi`,
		`exec "$@"`,
	)
	return strings.Join(lines, "\n")
}

// probe is a shell command that runs a MySQL client as root without the password in any
// process's arguments (ps, /proc/<pid>/cmdline) or relying on the deprecated MYSQL_PWD:
// the shell's builtin printf writes it to a private option file on the /tmp emptyDir.
// Each probe has its own file, so concurrent probes never read a half-written one.
func probe(name, client string, args ...string) string {
	file := "/tmp/" + name + ".cnf"
	return fmt.Sprintf(`umask 077 && printf '[client]\nuser=root\npassword=%%s\nhost=127.0.0.1\n' "$MYSQL_ROOT_PASSWORD" > %s && exec %s --defaults-extra-file=%s %s`,
		file, client, file, strings.Join(args, " "))
}

// ping answers as soon as the server accepts TCP connections (the entrypoint's temporary,
// networkless bootstrap server does not count); it succeeds even if the password is wrong,
// which is right for liveness. The readiness probe runs a real query.
func pingProbe(name string) string { return probe(name, "mysqladmin", "ping") }

var readyProbe = probe("readiness", "mysql", `--execute="SELECT 1"`)
