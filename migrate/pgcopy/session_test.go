package pgcopy

import (
	"context"
	"testing"

	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/testenv"
)

// A checksum or copy session compiles no query and starts no parallel
// workers: each of its many range queries would pay for them.
func TestRangeSessionsRunWithoutJITOrParallelWorkers(t *testing.T) {
	ctx := context.Background()
	p := testenv.StartPostgres(t, testenv.PGOptions{})
	s, err := openSide(ctx, pg.Endpoint{Side: "source", DSN: p.AdminDSN("postgres")}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(ctx)
	var jit, workers string
	if err := s.tx.QueryRow(ctx, "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')").Scan(&jit, &workers); err != nil {
		t.Fatal(err)
	}
	if jit != "off" || workers != "0" {
		t.Fatalf("jit = %s, max_parallel_workers_per_gather = %s; want off and 0", jit, workers)
	}
}
