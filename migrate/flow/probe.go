package flow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cutover/cutover/internal/pg"
)

// probeBytes is how much of the largest table the database probe moves.
const probeBytes = 16 << 20

// probeDB measures a database: a sample of the largest table streamed from
// the source into a temporary table on the target (COPY text, as the copy
// does), and the checksum of the same sample on the source (as verify
// does). The temporary table vanishes with the session.
func probeDB(ctx context.Context, src, dst pg.Endpoint, tables []*pg.Table) (dbModel, error) {
	var big *pg.Table
	for _, t := range tables {
		if !t.Partitioned && (big == nil || t.Bytes > big.Bytes) {
			big = t
		}
	}
	t0 := time.Now()
	sc, err := src.Connect(ctx, pg.SourceParams())
	if err != nil {
		return dbModel{}, err
	}
	defer sc.Close(context.WithoutCancel(ctx))
	tc, err := dst.Connect(ctx, pg.TargetParams(""))
	if err != nil {
		return dbModel{}, err
	}
	defer tc.Close(context.WithoutCancel(ctx))
	fixed := time.Since(t0).Seconds() // two connections: what each worker pays once
	if big == nil || big.Rows <= 0 || big.Bytes <= 0 {
		return dbModel{Fixed: fixed, Basis: "probe (no rows)"}, nil
	}
	rows := max(int64(float64(big.Rows)*float64(probeBytes)/float64(big.Bytes)), 1000)
	if _, err := tc.Exec(ctx, "CREATE TEMP TABLE cutover_probe (line text)"); err != nil {
		return dbModel{}, fmt.Errorf("target: %w", err)
	}
	sel := fmt.Sprintf("SELECT ROW(t.*)::text FROM ONLY %s t LIMIT %d", big.QName(), rows)
	t1 := time.Now()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		_, err := sc.PgConn().CopyTo(ctx, bw, "COPY ("+sel+") TO STDOUT")
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	_, err = tc.PgConn().CopyFrom(ctx, pr, "COPY cutover_probe FROM STDIN")
	pr.CloseWithError(errors.New("done"))
	if serr := <-done; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return dbModel{}, err
	}
	copyS := time.Since(t1).Seconds()
	t2 := time.Now()
	var n int64
	var sum *string
	if err := sc.QueryRow(ctx, "SELECT count(*), sum(hashtextextended(l, 0))::text FROM ("+sel+") s(l)").Scan(&n, &sum); err != nil {
		return dbModel{}, fmt.Errorf("source: %w", err)
	}
	verifyS := time.Since(t2).Seconds()
	// The sample's share of the table's bytes, by rows.
	sampleBytes := float64(big.Bytes) * float64(n) / float64(max(big.Rows, 1))
	if sampleBytes <= 0 {
		return dbModel{Fixed: fixed, Basis: "probe (empty sample)"}, nil
	}
	// Copy and verify run one after the other; index builds and the rest
	// of post-data are not in the sample (the first rehearsal measures them).
	return dbModel{PerByte: (copyS + verifyS) / sampleBytes, Fixed: fixed,
		Basis: fmt.Sprintf("probe (%d rows of %s: copy %.0f MB/s, checksum %.0f MB/s; index builds not sampled)",
			n, big, sampleBytes/copyS/1e6, sampleBytes/verifyS/1e6)}, nil
}
