package flow

import (
	"context"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/testenv"
)

// The database probe samples the largest table into a scratch schema with
// its primary key, and where the target's role may not create a schema it
// falls back to a temporary table, says so, and still measures.
func TestProbeDBWithAndWithoutCreate(t *testing.T) {
	src, dst := testenv.StartPostgres(t, testenv.PGOptions{}), testenv.StartPostgres(t, testenv.PGOptions{})
	src.Psql(t, "postgres", "CREATE DATABASE app")
	src.Psql(t, "app", `CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE big (id bigint PRIMARY KEY, m mood, body text);
INSERT INTO big SELECT i, 'ok', repeat('x', 200) FROM generate_series(1, 20000) i;
CREATE TABLE small (id int); ANALYZE`)
	dst.Psql(t, "postgres", "CREATE DATABASE app")
	dst.Psql(t, "postgres", "CREATE ROLE plain LOGIN PASSWORD 'pw'; REVOKE CREATE ON DATABASE app FROM PUBLIC")
	ctx := context.Background()
	sep := pg.Endpoint{Side: "source", DSN: src.AdminDSN("app")}
	conn, err := sep.Connect(ctx, pg.SourceParams())
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pg.Tables(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dsn, want string }{
		{dst.AdminDSN("app"), "in 2 key ranges at once: copy"},
		{dst.AdminDSN("app"), "primary key built"},
		{dst.DSN("plain", "pw", "app"), "in 1 key ranges at once"}, // a temporary table is its session's alone
		{dst.DSN("plain", "pw", "app"), "into a temporary table"},
	} {
		m, err := probeDB(ctx, sep, pg.Endpoint{Side: "target", DSN: c.dsn}, tables, 2)
		if err != nil {
			t.Fatalf("%s: %v", c.want, err)
		}
		if m.PerByte <= 0 || !strings.Contains(m.Basis, c.want) || !strings.Contains(m.Basis, "public.big") {
			t.Errorf("want %q: %+v", c.want, m)
		}
	}
	if out := dst.Psql(t, "app", "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cutover_probe%'"); strings.TrimSpace(out) != "0" {
		t.Errorf("scratch schema left: %s", out)
	}
}
