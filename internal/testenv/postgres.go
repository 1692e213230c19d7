package testenv

import (
	"os"
	"testing"

	"github.com/cutover/cutover/internal/pgcluster"
)

// PG is a real PostgreSQL cluster started for a test (see package pgcluster).
type PG struct{ *pgcluster.Cluster }

// PGOptions tune a test cluster.
type PGOptions = pgcluster.Options

// StartPostgres starts a cluster for the test's lifetime; a missing
// PostgreSQL is a failure in CI and a skip elsewhere.
func StartPostgres(t testing.TB, o PGOptions) *PG {
	t.Helper()
	if pgcluster.Bin() == "" {
		Missing(t, "PostgreSQL server (initdb)", "apt-get install postgresql")
		return nil
	}
	base, err := os.MkdirTemp("", "cutover-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgcluster.Start(base, o)
	if err != nil {
		os.RemoveAll(base)
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return &PG{c}
}

// Psql runs SQL on db as the superuser and fails the test on error.
func (p *PG) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := p.Cluster.Psql(db, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// PsqlFile loads a SQL file into db and fails the test on error.
func (p *PG) PsqlFile(t testing.TB, db, file string) {
	t.Helper()
	if err := p.Cluster.PsqlFile(db, file); err != nil {
		t.Fatal(err)
	}
}

// Pgbench initialises pgbench tables at scale into db.
func (p *PG) Pgbench(t testing.TB, db string, scale int) {
	t.Helper()
	if err := p.Cluster.Pgbench(db, scale); err != nil {
		t.Fatal(err)
	}
}
