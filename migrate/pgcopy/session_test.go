package pgcopy

import (
	"context"
	"testing"

	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/testenv"
)

// A checksum or copy session compiles no query: each of its many range
// queries would pay for it. Parallel workers stay the server's choice.
func TestRangeSessionsRunWithoutJIT(t *testing.T) {
	ctx := context.Background()
	p := testenv.StartPostgres(t, testenv.PGOptions{})
	s, err := openSide(ctx, pg.Endpoint{Side: "source", DSN: p.AdminDSN("postgres")}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(ctx)
	var jit, workers, serverWorkers string
	if err := s.tx.QueryRow(ctx, `SELECT current_setting('jit'), setting, reset_val FROM pg_settings
		WHERE name = 'max_parallel_workers_per_gather'`).Scan(&jit, &workers, &serverWorkers); err != nil {
		t.Fatal(err)
	}
	if jit != "off" || workers != serverWorkers {
		t.Fatalf("jit = %s, max_parallel_workers_per_gather = %s; want off and the server's %s", jit, workers, serverWorkers)
	}
}
