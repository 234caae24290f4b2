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

// CreateSeeded creates the table with its single row (id = 1, value 0) in one atomic
// statement (CREATE TABLE ... SELECT is atomic DDL on MySQL 8.0.21+ and MariaDB 10.6+), so
// a table without its row always means the row was lost, never a set-up cut short. The
// row is seeded only here: re-seeding an existing table at 0 would hand out every number
// again. When several replicas run it at once, one creates the table and the others fail
// with ER_TABLE_EXISTS_ERROR (1050). The primary key keeps a second row from ever existing.
const CreateSeeded = "CREATE TABLE " + Table + ` (
  id    TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  value BIGINT UNSIGNED  NOT NULL
) ENGINE=InnoDB SELECT 1 AS id, 0 AS value`

// MaxValue is the largest number the counter hands out: the API's numbers are int64 (JSON
// readers commonly parse them as such), while the column would go on to 2^64-1.
const MaxValue = 1<<63 - 1
