package pgsum

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/internal/pg"
)

// Hash selects the per-row hash.
type Hash int

const (
	// HashText hashes each row's text with hashtextextended under two
	// seeds (PostgreSQL 11+; stable across versions, since hash
	// partitioning relies on it): several times cheaper than md5.
	HashText Hash = iota
	// MD5 hashes each row's text with md5 (any version).
	MD5
)

// Name names the checksum in reports and in the state.
func (h Hash) Name() string {
	if h == MD5 {
		return "sum of md5(row text) as 2×64 bits; floats as float8send"
	}
	return "sum of hashtextextended(row text, seed 0 and 1), 2×64 bits; floats as float8send"
}

// For picks the cheapest hash both servers have.
func For(sourceMajor, targetMajor int) Hash {
	if sourceMajor >= 11 && targetMajor >= 11 {
		return HashText
	}
	return MD5
}

// Between picks, as For, the hash for two connected servers.
func Between(ctx context.Context, src, dst *pgx.Conn) (Hash, error) {
	sm, err := pg.ServerMajor(ctx, src)
	if err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	dm, err := pg.ServerMajor(ctx, dst)
	if err != nil {
		return 0, fmt.Errorf("target: %w", err)
	}
	return For(sm, dm), nil
}

// RowText is the SQL expression of a row's text for table t.
func RowText(t *pg.Table) string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		if c.Float {
			parts[i] = "float8send(" + pg.Ident(c.Name) + "::float8)"
		} else {
			parts[i] = pg.Ident(c.Name)
		}
	}
	if len(parts) == 0 {
		return "''"
	}
	return "ROW(" + strings.Join(parts, ", ") + ")::text"
}

// Range is a key range [From, To) of SQL literals; "" is open.
type Range struct {
	Column   string
	From, To string
}

// Where returns the condition selecting the range ("" for a whole table).
func (r Range) Where() string {
	var c []string
	if r.From != "" {
		c = append(c, fmt.Sprintf("%s >= %s", pg.Ident(r.Column), r.From))
	}
	if r.To != "" {
		c = append(c, fmt.Sprintf("%s < %s", pg.Ident(r.Column), r.To))
	}
	return strings.Join(c, " AND ")
}

// Query returns the checksum query of range r of t: it yields the row
// count and the two sums as text. sum(bigint) accumulates in 128 bits.
func Query(t *pg.Table, r Range, h Hash) string {
	from := "ONLY " + t.QName()
	if w := r.Where(); w != "" {
		from += " WHERE " + w
	}
	return Over(t, from, h)
}

// Over is Query for the rows of from, a FROM item (with its WHERE clause,
// if any) whose columns are t's: a sample, or a copy of t elsewhere.
func Over(t *pg.Table, from string, h Hash) string {
	if h == MD5 {
		return "SELECT count(*), " +
			"coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)::text, " +
			"coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)::text " +
			"FROM (SELECT md5(" + RowText(t) + ") AS h FROM " + from + ") s"
	}
	return "SELECT count(*), coalesce(sum(hashtextextended(h, 0)), 0)::text, coalesce(sum(hashtextextended(h, 1)), 0)::text " +
		"FROM (SELECT " + RowText(t) + " AS h FROM " + from + ") s"
}
