package database

import "fmt"

// dataDir is a subdirectory of the volume: a fresh ext4 volume has lost+found at its root,
// which makes mysqld --initialize refuse to start.
const (
	volumeMount = "/var/lib/mysql"
	dataDir     = volumeMount + "/data"
)

// myCnf is the server configuration, written for durability first: every commit is on
// disk (redo log and binlog) before the client hears OK, so a crash or a deleted pod
// loses nothing acknowledged.
func myCnf(size Sizing) string {
	return fmt.Sprintf(`[mysqld]
datadir = %s
# Flush the redo log and the binary log at every commit.
innodb_flush_log_at_trx_commit = 1
sync_binlog = 1
# Accounts are matched by address only; no DNS lookups on connect.
skip-name-resolve
max_connections = %d
innodb_buffer_pool_size = %dM
# Keep binlogs 3 days so they cannot fill the volume.
binlog_expire_logs_seconds = 259200
`, dataDir, size.MaxConnections, size.bufferPoolMiB())
}
