// Package pg holds the PostgreSQL helpers every database command shares:
// connecting to a source or target (DSN parsing with PGPASSWORD and
// .pgpass, TLS including verify-full, IAM tokens for RDS made for every new
// connection), the session settings each side pins, DSN redaction so that
// no password reaches a log or report, classification of connection errors
// into exit codes, running pg_dump without putting a password on its
// command line, and the catalog queries (tables, columns, keys, sequences,
// extensions) that plan a copy.
//
// It does not copy or compare data: see migrate/pgcopy.
package pg
