package database

import "github.com/counter-mysql/counter-mysql/app/schema"

// NodeTestContainer is the MySQL container as podSpec runs it, in plain values. It exists
// for the real-node test tier (infra/nodetest), which runs the image under runc without a
// cluster; the Pulumi program does not use it.
type NodeTestContainer struct {
	// Command replaces the image's entrypoint; the pod sets no args.
	Command []string
	// Env is what the pod sets, with the Secret's values given to NodeTest.
	Env []string
	// Files are the ConfigMaps' files by their path in the container (mounted read-only).
	Files map[string]string
	// Writable are the mount paths of the data volume and the emptyDirs: the only writable
	// paths under the read-only root filesystem.
	Writable []string
	// Probes are the startup, liveness and readiness probes' exec commands.
	Probes map[string][]string
}

// NodeTest returns the container for the given sizing and passwords. It is the MySQL
// container only: the node tier runs no metrics sidecar (its image is not offline).
func NodeTest(size Sizing, rootPassword, appPassword, exporterPassword string) NodeTestContainer {
	sh := func(command string) []string { return []string{"sh", "-c", command} }
	return NodeTestContainer{
		Command: containerCommand(),
		Env: []string{
			"MYSQL_ROOT_PASSWORD=" + rootPassword,
			"MYSQL_DATABASE=" + schema.Database,
			envAppUser + "=" + AppUser,
			envAppPassword + "=" + appPassword,
			envExporterPassword + "=" + exporterPassword,
		},
		Files: map[string]string{
			"/etc/mysql/conf.d/counter.cnf":                 myCnf(size),
			"/docker-entrypoint-initdb.d/" + initScriptName: createAccounts(),
		},
		Writable: []string{volumeMount, "/var/run/mysqld", "/tmp", initDir},
		Probes: map[string][]string{
			"startup":   sh(pingProbe("startup")),
			"liveness":  sh(pingProbe("liveness")),
			"readiness": sh(readyProbe),
		},
	}
}

// containerCommand is the MySQL container's command: startScript in front of the image's
// entrypoint.
func containerCommand() []string {
	return []string{"sh", "-c", startScript(), "mysql-start", dataDir, initDir, "docker-entrypoint.sh", "mysqld"}
}
