// Package schema is the one place that says what the counter keeps in MySQL and what the
// application's database user may do. The app creates the table from it at start-up; the
// Pulumi program's init script grants exactly Privileges, so both always agree.
package schema

// Database is the default schema (MySQL database) the counter lives in.
const Database = "counter"

// Table holds one row (id = 1) whose value is the last number handed out.
const Table = "counter"

// Privileges is the least the application user needs, granted on Database.* only:
// CREATE so the first replica can create Table idempotently; no DROP, ALTER, DELETE, GRANT.
const Privileges = "SELECT, INSERT, UPDATE, CREATE"

// CreateTable is idempotent and safe when several replicas run it at once.
// The primary key keeps a second seed row from ever existing.
const CreateTable = "CREATE TABLE IF NOT EXISTS " + Table + ` (
  id    TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  value BIGINT UNSIGNED  NOT NULL
) ENGINE=InnoDB`

// Seed inserts the single row once; concurrent or repeated seeds are no-ops.
const Seed = "INSERT IGNORE INTO " + Table + " (id, value) VALUES (1, 0)"
