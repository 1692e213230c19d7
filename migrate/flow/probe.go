package flow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/internal/pg"
)

// probeBytes is how much of the largest table the database probe moves.
const probeBytes = 16 << 20

// probeDB measures a database as its copy and verify will treat it: a
// sample of the largest table streamed from the source (COPY text, as the
// copy does) into a table of the same columns in a scratch schema on the
// target (written to the WAL, as the copy's are), its primary key built
// after the load (as post-data does), and the sample checksummed on both
// sides at once (as verify does). The scratch schema is dropped after.
// Where the target refuses the schema or a column's type (no CREATE
// privilege, a missing extension), a temporary table of text columns
// stands in, which writes no WAL and builds no index: the basis says so. Into such a table, with only the source
// checksummed, the probe predicted 5.0 s for a part that took 11.5 s.
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
	if big == nil || big.Rows <= 0 || big.Bytes <= 0 || len(big.Columns) == 0 {
		return dbModel{Fixed: fixed, Basis: "probe (no rows)"}, nil
	}
	rows := max(int64(float64(big.Rows)*float64(probeBytes)/float64(big.Bytes)), 1000)
	cols := make([]string, len(big.Columns))
	defs := make([]string, len(big.Columns))  // the source's types
	texts := make([]string, len(big.Columns)) // text takes any column's COPY form
	for i, c := range big.Columns {
		cols[i] = pg.Ident(c.Name)
		typ := c.Type
		if c.UserType {
			typ = "text" // the target may not have the type yet
		}
		defs[i], texts[i] = cols[i]+" "+typ, cols[i]+" text"
	}
	sel := fmt.Sprintf("SELECT %s FROM ONLY %s LIMIT %d", strings.Join(cols, ", "), big.QName(), rows)
	scratch := pg.Ident(fmt.Sprintf("cutover_probe_%d", os.Getpid()))
	into, logged := scratch+".sample", true
	if _, err := tc.Exec(ctx, fmt.Sprintf("CREATE SCHEMA %s; CREATE TABLE %s (%s)", scratch, into, strings.Join(defs, ", "))); err != nil {
		logged = false
		into = "cutover_probe"
		if _, err := tc.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (%s)", into, strings.Join(texts, ", "))); err != nil {
			return dbModel{}, fmt.Errorf("target: %w", err)
		}
	} else {
		defer tc.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+scratch+" CASCADE")
	}
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
	_, err = tc.PgConn().CopyFrom(ctx, pr, "COPY "+into+" FROM STDIN")
	pr.CloseWithError(errors.New("done"))
	if serr := <-done; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return dbModel{}, err
	}
	copyS := time.Since(t1).Seconds()
	t2 := time.Now()
	indexed := false
	if logged && len(big.PK) > 0 {
		pk := make([]string, len(big.PK))
		for i, c := range big.PK {
			pk[i] = pg.Ident(c)
		}
		// A LIMIT sample of a table with a primary key holds no duplicates.
		if _, err := tc.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s)", into, strings.Join(pk, ", "))); err == nil {
			indexed = true
		}
	}
	indexS := time.Since(t2).Seconds()
	t3 := time.Now()
	sum := func(c *pgx.Conn, from string, n *int64) error {
		var s *string
		return c.QueryRow(ctx, "SELECT count(*), sum(hashtextextended(ROW(t.*)::text, 0))::text FROM ("+from+") t").Scan(n, &s)
	}
	var n, m int64
	serr := make(chan error, 1)
	go func() { serr <- sum(sc, sel, &n) }()
	terr := sum(tc, "SELECT * FROM "+into, &m)
	if err := <-serr; err != nil {
		return dbModel{}, fmt.Errorf("source: %w", err)
	}
	if terr != nil {
		return dbModel{}, fmt.Errorf("target: %w", terr)
	}
	verifyS := time.Since(t3).Seconds()
	// The sample's share of the table's bytes, by rows.
	sampleBytes := float64(big.Bytes) * float64(n) / float64(max(big.Rows, 1))
	if sampleBytes <= 0 {
		return dbModel{Fixed: fixed, Basis: "probe (empty sample)"}, nil
	}
	what := "primary key built"
	switch {
	case !logged:
		what = "into a temporary table: no WAL, no index"
	case !indexed:
		what = "no primary key"
	}
	return dbModel{PerByte: (copyS + indexS + verifyS) / sampleBytes, Fixed: fixed,
		Basis: fmt.Sprintf("probe (%d rows of %s: copy %.0f MB/s, %s in %.2f s, checksums of both sides %.0f MB/s; other indexes not sampled)",
			n, big, sampleBytes/copyS/1e6, what, indexS, sampleBytes/verifyS/1e6)}, nil
}
