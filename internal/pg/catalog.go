package pg

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Querier is a connection or transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// userObject excludes system schemas and objects that belong to an extension.
const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'`

// Table is a table with rows to copy: an ordinary table or a partition
// (partitioned parents hold no rows).
type Table struct {
	OID         uint32
	Schema      string
	Name        string
	Partitioned bool // a partitioned parent: no data of its own
	Partition   bool
	Bytes       int64 // pg_table_size
	Rows        int64 // planner estimate
	Pages       int64 // heap pages
	Columns     []Column
	PK          []string // primary key columns, in key order (nil: none)
	Key         *Key     // a single-column integer key to split on
}

// Column is a column that COPY carries (not generated).
type Column struct {
	Name     string
	Type     string // format_type
	Float    bool   // float4 or float8: hashed from its binary form
	UserType bool   // of a type outside pg_catalog (or an array of one)
}

// Key is an integer or numeric(p,0) primary key column.
type Key struct {
	Column  string
	Numeric bool
}

// QName is the table's quoted, schema-qualified name.
func (t *Table) QName() string { return Ident(t.Schema, t.Name) }

// String is the table's name for people: schema.name without quotes.
func (t *Table) String() string { return t.Schema + "." + t.Name }

// ColumnList is the quoted, comma-separated list of copied columns.
func (t *Table) ColumnList() string {
	s := ""
	for i, c := range t.Columns {
		if i > 0 {
			s += ", "
		}
		s += Ident(c.Name)
	}
	return s
}

var numericScale0 = regexp.MustCompile(`^numeric\(\d+,0\)$`)

// Tables lists the user tables of the database, largest first.
func Tables(ctx context.Context, q Querier) ([]*Table, error) {
	rows, err := q.Query(ctx, `
SELECT c.oid, n.nspname, c.relname, c.relkind = 'p', c.relispartition,
       pg_table_size(c.oid), greatest(c.reltuples, 0)::bigint,
       pg_relation_size(c.oid) / current_setting('block_size')::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND `+userSchemas+`
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	byOID := map[uint32]*Table{}
	var out []*Table
	for rows.Next() {
		t := &Table{}
		if err := rows.Scan(&t.OID, &t.Schema, &t.Name, &t.Partitioned, &t.Partition, &t.Bytes, &t.Rows, &t.Pages); err != nil {
			return nil, err
		}
		byOID[t.OID] = t
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	rows, err = q.Query(ctx, `
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod),
       t.oid IN ('float4'::regtype, 'float8'::regtype),
       t.typnamespace <> 'pg_catalog'::regnamespace
         OR (t.typelem <> 0 AND (SELECT e.typnamespace FROM pg_type e WHERE e.oid = t.typelem) <> 'pg_catalog'::regnamespace)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attrelid, a.attnum`, oids(out))
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var c Column
		if err := rows.Scan(&oid, &c.Name, &c.Type, &c.Float, &c.UserType); err != nil {
			return nil, err
		}
		byOID[oid].Columns = append(byOID[oid].Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	rows, err = q.Query(ctx, `
SELECT i.indrelid, array_agg(a.attname ORDER BY k.ord), array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indisprimary AND i.indrelid = ANY($1)
GROUP BY i.indrelid`, oids(out))
	if err != nil {
		return nil, fmt.Errorf("list primary keys: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var cols, types []string
		if err := rows.Scan(&oid, &cols, &types); err != nil {
			return nil, err
		}
		t := byOID[oid]
		t.PK = cols
		if len(cols) == 1 {
			switch {
			case types[0] == "smallint" || types[0] == "integer" || types[0] == "bigint":
				t.Key = &Key{Column: cols[0]}
			case numericScale0.MatchString(types[0]):
				t.Key = &Key{Column: cols[0], Numeric: true}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list primary keys: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].String() < out[j].String()
	})
	return out, nil
}

func oids(ts []*Table) []uint32 {
	o := make([]uint32, len(ts))
	for i, t := range ts {
		o[i] = t.OID
	}
	return o
}

// Sequence is a user sequence and its state.
type Sequence struct {
	Schema, Name string
	LastValue    int64
	IsCalled     bool
}

// Sequences lists the user sequences with their values as the transaction
// (or snapshot) of q sees them.
func Sequences(ctx context.Context, q Querier) ([]Sequence, error) {
	rows, err := q.Query(ctx, `
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND `+userSchemas+`
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list sequences: %w", err)
	}
	seqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sequence, error) {
		var s Sequence
		err := r.Scan(&s.Schema, &s.Name)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sequences: %w", err)
	}
	for i := range seqs {
		s := &seqs[i]
		if err := q.QueryRow(ctx, "SELECT last_value, is_called FROM "+Ident(s.Schema, s.Name)).Scan(&s.LastValue, &s.IsCalled); err != nil {
			return nil, fmt.Errorf("read sequence %s.%s: %w", s.Schema, s.Name, err)
		}
	}
	return seqs, nil
}

// Schemas lists the user schemas of the database (not those of extensions).
func Schemas(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.Query(ctx, `
SELECT n.nspname FROM pg_namespace n
WHERE `+userSchemas+` AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DBInfo is what the preflight compares between the two databases.
type DBInfo struct {
	Major      int
	Encoding   string
	Collate    string
	Ctype      string
	Extensions map[string]string // name → version (installed)
	Available  map[string]bool   // extensions the server could install
}

// Info reads the database's version, encoding, collation and extensions.
func Info(ctx context.Context, q Querier) (*DBInfo, error) {
	d := &DBInfo{Extensions: map[string]string{}, Available: map[string]bool{}}
	var num int
	err := q.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, pg_encoding_to_char(encoding), datcollate, datctype
FROM pg_database WHERE datname = current_database()`).Scan(&num, &d.Encoding, &d.Collate, &d.Ctype)
	if err != nil {
		return nil, fmt.Errorf("read database settings: %w", err)
	}
	d.Major = num / 10000
	rows, err := q.Query(ctx, `SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, err
		}
		d.Extensions[n] = v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT name FROM pg_available_extensions`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		d.Available[n] = true
	}
	return d, rows.Err()
}

// UserRelations counts the tables, views, sequences and foreign tables in
// user schemas: a target that holds any is not empty.
func UserRelations(ctx context.Context, q Querier) (int, []string, error) {
	rows, err := q.Query(ctx, `
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND `+userSchemas+`
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1`)
	if err != nil {
		return 0, nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, nil, err
	}
	return len(names), names[:min(len(names), 5)], nil
}
