package pgcopy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/testenv"
)

// env is two real PostgreSQL clusters: a source and a target.
type env struct {
	src, dst *testenv.PG
	state    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{src: testenv.StartPostgres(t, testenv.PGOptions{}), dst: testenv.StartPostgres(t, testenv.PGOptions{}), state: t.TempDir()}
	return e
}

// opts copies database db of the source into database db of the target,
// created empty (as RDS gives it), owned by a non-superuser login role.
func (e *env) opts(t *testing.T, db string) Options {
	t.Helper()
	e.dst.Psql(t, "postgres", "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='app') THEN CREATE ROLE app LOGIN PASSWORD 'app-secret'; END IF; END$$")
	e.dst.Psql(t, "postgres", "CREATE DATABASE "+db+" OWNER app")
	e.dst.Psql(t, db, "ALTER SCHEMA public OWNER TO app")
	return Options{
		Source:   pg.Endpoint{DSN: e.src.AdminDSN(db)},
		Target:   pg.Endpoint{DSN: e.dst.DSN("app", "app-secret", db)},
		StateDir: filepath.Join(e.state, db),
		Jobs:     2,
		PgDump:   filepath.Join(e.src.Bin, "pg_dump"),
		Log:      io.Discard,
	}
}

func mustCopy(t *testing.T, o Options) *Report {
	t.Helper()
	rep, err := Copy(context.Background(), o)
	if err != nil {
		t.Fatalf("db copy: %v\n%s", err, rep.Markdown())
	}
	return rep
}

func loadJira(t *testing.T, p *testenv.PG, db, file string) {
	t.Helper()
	p.Psql(t, "postgres", "CREATE DATABASE "+db)
	p.PsqlFile(t, db, filepath.Join("../../testdata/jira-db", file))
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}
