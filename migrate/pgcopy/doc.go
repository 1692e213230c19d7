// Package pgcopy copies a PostgreSQL database into another (`cutover db
// copy`) and compares two of them (`cutover db verify`).
//
// One consistent snapshot: a coordinator transaction exports it, every
// worker and pg_dump import it, and it stays open until the data is copied
// (and verified). The schema comes from pg_dump's pre-data and post-data
// sections, applied entry by entry; the data streams from source COPY TO
// into target COPY FROM through pgconn, one transaction per table or key
// range, largest first over a bounded pool; then indexes build in
// parallel (primary keys as unique indexes attached as constraints), the
// remaining post-data runs in dump order, sequences take their snapshot
// values, and ANALYZE runs. Every committed unit is recorded in the state,
// so --resume redoes only what did not commit.
//
// Verification checksums key ranges inside both servers (package
// checksum/pgsum) and compares sequences and the definitions of indexes,
// constraints, triggers and row-level security.
package pgcopy
