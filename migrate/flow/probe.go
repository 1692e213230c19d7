package flow

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum/pgsum"
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
// stands in, which writes no WAL and builds no index: the basis says so.
// Into such a table, with only the source checksummed, the probe predicted
// 5.0 s for a part that took 11.5 s.
func probeDB(ctx context.Context, src, dst pg.Endpoint, tables []*pg.Table, jobs int) (dbModel, error) {
	var big *pg.Table
	for _, t := range tables {
		if !t.Partitioned && (big == nil || t.Bytes > big.Bytes) {
			big = t
		}
	}
	t0 := time.Now()
	first, err := connectPair(ctx, src, dst)
	if err != nil {
		return dbModel{}, err
	}
	defer first.close(ctx)
	sc, tc := first.src, first.dst
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
	// The copy splits a table with an integer key into ranges, copied and
	// checksummed by jobs workers at once: the sample too, where it can
	// (a temporary table is seen by its own session only).
	ranges := []string{""}
	if logged && big.Key != nil && jobs > 1 {
		ranges = keyRanges(ctx, sc, big, rows, jobs)
	}
	pairs := []connPair{first}
	for range ranges[1:] {
		p, err := connectPair(ctx, src, dst)
		if err != nil {
			return dbModel{}, err
		}
		defer p.close(ctx)
		pairs = append(pairs, p)
	}
	sels := make([]string, len(ranges))
	each := (rows + int64(len(ranges)) - 1) / int64(len(ranges)) // the last range is open-ended
	for i, r := range ranges {
		sels[i] = fmt.Sprintf("SELECT %s FROM ONLY %s %s LIMIT %d", strings.Join(cols, ", "), big.QName(), r, each)
	}
	t1 := time.Now()
	if err := eachRange(ctx, pairs, len(sels), func(ctx context.Context, p connPair, i int) error {
		return copyRange(ctx, p, sels[i], into)
	}); err != nil {
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
	// The sample is checksummed with verify's own query, under the hash
	// verify picks for these servers.
	h, err := pgsum.Between(ctx, sc, tc)
	if err != nil {
		return dbModel{}, err
	}
	t3 := time.Now()
	var n atomic.Int64
	if err := eachRange(ctx, pairs, len(sels), func(ctx context.Context, p connPair, i int) error {
		sum := func(c *pgx.Conn, from string, rows *int64) error {
			var s0, s1 string
			return c.QueryRow(ctx, pgsum.Over(big, from, h)).Scan(rows, &s0, &s1)
		}
		var ns, nt int64
		serr := make(chan error, 1)
		go func() { serr <- sum(p.src, "("+sels[i]+") t", &ns) }()
		terr := sum(p.dst, into+" "+ranges[i], &nt)
		if err := <-serr; err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if terr != nil {
			return fmt.Errorf("target: %w", terr)
		}
		n.Add(ns)
		return nil
	}); err != nil {
		return dbModel{}, err
	}
	verifyS := time.Since(t3).Seconds()
	// The sample's share of the table's bytes, by rows.
	sampleBytes := float64(big.Bytes) * float64(n.Load()) / float64(max(big.Rows, 1))
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
		Basis: fmt.Sprintf("probe (%d rows of %s in %d key ranges at once: copy %.0f MB/s, %s in %.2f s, checksums of both sides %.0f MB/s; other indexes not sampled)",
			n.Load(), big, len(ranges), sampleBytes/copyS/1e6, what, indexS, sampleBytes/verifyS/1e6)}, nil
}

// connPair is a connection to each side, as each copy worker has.
type connPair struct{ src, dst *pgx.Conn }

func connectPair(ctx context.Context, src, dst pg.Endpoint) (connPair, error) {
	sc, err := src.Connect(ctx, pg.SourceParams())
	if err != nil {
		return connPair{}, err
	}
	tc, err := dst.Connect(ctx, pg.TargetParams(""))
	if err != nil {
		sc.Close(context.WithoutCancel(ctx))
		return connPair{}, err
	}
	pg.ForRanges(ctx, sc) // as the copy's and verify's sessions
	pg.ForRanges(ctx, tc)
	return connPair{sc, tc}, nil
}

func (p connPair) close(ctx context.Context) {
	p.src.Close(context.WithoutCancel(ctx))
	p.dst.Close(context.WithoutCancel(ctx))
}

// eachRange runs fn for each of n ranges, each on its own connections, all
// at once.
func eachRange(ctx context.Context, pairs []connPair, n int, fn func(context.Context, connPair, int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		g.Go(func() error { return fn(gctx, pairs[i], i) })
	}
	return g.Wait()
}

// copyRange streams the rows of sel from the source into the table into on
// the target, as COPY text, the copy's format.
func copyRange(ctx context.Context, p connPair, sel, into string) error {
	_, err, serr := pg.Stream(ctx, p.src.PgConn(), p.dst.PgConn(), "COPY ("+sel+") TO STDOUT", "COPY "+into+" FROM STDIN", nil)
	return cmp.Or(err, serr)
}

// keyRanges splits the first rows rows of t, in key order, into up to jobs
// ranges of its integer key, as WHERE clauses (the last one open-ended: the
// sample's LIMIT ends it); one range (no clause) when no bounds can be read.
func keyRanges(ctx context.Context, c *pgx.Conn, t *pg.Table, rows int64, jobs int) []string {
	key := pg.Ident(t.Key.Column)
	rows = min(rows, max(t.Rows, 1)) // the planner's estimate: a small table has fewer rows than the sample wants
	var bounds []string
	for i := range jobs {
		var b string
		err := c.QueryRow(ctx, fmt.Sprintf("SELECT %s::text FROM ONLY %s ORDER BY %s LIMIT 1 OFFSET %d", key, t.QName(), key, rows*int64(i)/int64(jobs))).Scan(&b)
		if err != nil || !integerText.MatchString(b) {
			break
		}
		if len(bounds) == 0 || b != bounds[len(bounds)-1] {
			bounds = append(bounds, b)
		}
	}
	if len(bounds) < 2 {
		return []string{""}
	}
	out := make([]string, len(bounds))
	for i, b := range bounds {
		out[i] = fmt.Sprintf("WHERE %s >= %s", key, b)
		if i+1 < len(bounds) {
			out[i] += fmt.Sprintf(" AND %s < %s", key, bounds[i+1])
		}
	}
	return out
}

var integerText = regexp.MustCompile(`^-?[0-9]+$`)
