package state

import (
	"context"
	"fmt"
)

// DBItem is the progress of one unit of a database copy: the schema, a
// table, a chunk of a table, a post-data statement. A copy records each
// unit when it is committed on the target, so that --resume skips it.
type DBItem struct {
	Kind      string // "pre-data", "table", "chunk", "post-data", "sequences", "analyze"
	Name      string // table or item name
	Chunk     int    // chunk number, -1 for whole items
	KeyFrom   string // chunk bounds as SQL literals ("" = open)
	KeyTo     string
	Status    string // "planned", "done"
	Rows      int64
	Bytes     int64
	DurationS float64
	RunID     int64
}

// Key identifies an item within a pair.
func (it DBItem) Key() string { return fmt.Sprintf("%s\x00%s\x00%d", it.Kind, it.Name, it.Chunk) }

// DBItems returns the recorded items of pair by Key.
func (s *State) DBItems(ctx context.Context, pair int64) (map[string]DBItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, name, chunk, key_from, key_to, status, rows, bytes, duration_s, run_id
		FROM db_items WHERE pair_id=?`, pair)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]DBItem{}
	for rows.Next() {
		var it DBItem
		if err := rows.Scan(&it.Kind, &it.Name, &it.Chunk, &it.KeyFrom, &it.KeyTo, &it.Status, &it.Rows, &it.Bytes, &it.DurationS, &it.RunID); err != nil {
			return nil, err
		}
		out[it.Key()] = it
	}
	return out, rows.Err()
}

// PutDBItem records (or updates) an item.
func (s *State) PutDBItem(ctx context.Context, pair int64, it DBItem) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO db_items(pair_id, kind, name, chunk, key_from, key_to, status, rows, bytes, duration_s, run_id)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(pair_id, kind, name, chunk) DO UPDATE SET key_from=excluded.key_from, key_to=excluded.key_to,
		status=excluded.status, rows=excluded.rows, bytes=excluded.bytes, duration_s=excluded.duration_s, run_id=excluded.run_id`,
		pair, it.Kind, it.Name, it.Chunk, it.KeyFrom, it.KeyTo, it.Status, it.Rows, it.Bytes, it.DurationS, it.RunID)
	if err != nil {
		return fmt.Errorf("state: record %s %s: %w", it.Kind, it.Name, err)
	}
	return nil
}

// ClearDB forgets the progress of pair (a fresh copy starts).
func (s *State) ClearDB(ctx context.Context, pair int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM db_items WHERE pair_id=?`, pair)
	return err
}

// ChunkSum is the checksum of one key range of a table on one side.
type ChunkSum struct {
	Table   string
	Chunk   int
	KeyFrom string
	KeyTo   string
	Side    string // "source" or "target"
	Rows    int64
	Sum     string
}

// PutChunkSums records the checksums a verify computed, replacing the
// table's earlier ones.
func (s *State) PutChunkSums(ctx context.Context, pair, run int64, sums []ChunkSum) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, c := range sums {
		if _, err := tx.ExecContext(ctx, `INSERT INTO db_sums(pair_id, tbl, chunk, key_from, key_to, side, rows, sum, run_id)
			VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(pair_id, tbl, chunk, side) DO UPDATE SET key_from=excluded.key_from,
			key_to=excluded.key_to, rows=excluded.rows, sum=excluded.sum, run_id=excluded.run_id`,
			pair, c.Table, c.Chunk, c.KeyFrom, c.KeyTo, c.Side, c.Rows, c.Sum, run); err != nil {
			return fmt.Errorf("state: record checksums: %w", err)
		}
	}
	return tx.Commit()
}

// ChunkSums returns the recorded checksums of pair.
func (s *State) ChunkSums(ctx context.Context, pair int64) ([]ChunkSum, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tbl, chunk, key_from, key_to, side, rows, sum FROM db_sums WHERE pair_id=? ORDER BY tbl, chunk, side`, pair)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ChunkSum
	for rows.Next() {
		var c ChunkSum
		if err := rows.Scan(&c.Table, &c.Chunk, &c.KeyFrom, &c.KeyTo, &c.Side, &c.Rows, &c.Sum); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
