package pgsum

import (
	"fmt"
	"strings"

	"github.com/cutover/cutover/internal/pg"
)

// Algorithm names the checksum in reports and in the state.
const Algorithm = "md5(row text, floats as float8send) summed as 2×64 bits"

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
// count and the two sums as text.
func Query(t *pg.Table, r Range) string {
	q := "SELECT count(*), " +
		"coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text, " +
		"coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text " +
		"FROM (SELECT md5(" + RowText(t) + ") AS h FROM ONLY " + t.QName()
	if w := r.Where(); w != "" {
		q += " WHERE " + w
	}
	return q + ") s"
}
