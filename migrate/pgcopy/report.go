package pgcopy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/report"
)

// Report is the JSON report of `db copy` and `db verify`.
type Report struct {
	Command string `json:"command"`
	Source  string `json:"source"` // redacted
	Target  string `json:"target"` // redacted
	report.Outcome
	Resumed      bool           `json:"resumed,omitempty"`
	Snapshot     string         `json:"snapshot,omitempty"` // what the copy's consistency rests on
	SnapshotHeld float64        `json:"snapshot_held_s"`    // how long the source kept the snapshot (holds back vacuum)
	Preflight    Preflight      `json:"preflight"`
	Phases       map[string]any `json:"phases_s"`
	Tables       []*TableReport `json:"tables"`
	Totals       Totals         `json:"totals"`
	Verify       *VerifyReport  `json:"verify,omitempty"`
}

// Preflight is what was checked before anything was written.
type Preflight struct {
	SourceVersion     int      `json:"source_version"`
	TargetVersion     int      `json:"target_version"`
	PgDumpVersion     int      `json:"pg_dump_version,omitempty"`
	SourceEncoding    string   `json:"source_encoding"`
	TargetEncoding    string   `json:"target_encoding"`
	SourceCollation   string   `json:"source_collation"`
	TargetCollation   string   `json:"target_collation"`
	MissingExtensions []string `json:"missing_extensions"`
	Warnings          []string `json:"warnings"`
	CopyFormat        string   `json:"copy_format,omitempty"`
}

// TableReport is one table's copy.
type TableReport struct {
	Name      string  `json:"name"`
	Rows      int64   `json:"rows"`
	Bytes     int64   `json:"bytes"` // COPY stream bytes
	DurationS float64 `json:"duration_s"`
	Chunks    int     `json:"chunks"`
	Split     string  `json:"split"` // whole, key, ctid
	Status    string  `json:"status"`
	Resumed   int     `json:"chunks_resumed,omitempty"` // chunks done by an earlier run
	Error     string  `json:"error,omitempty"`
}

// Totals sum the tables.
type Totals struct {
	Tables    int   `json:"tables"`
	Rows      int64 `json:"rows"`
	Bytes     int64 `json:"bytes"`
	Sequences int   `json:"sequences"`
	Indexes   int   `json:"indexes"`
	PostData  int   `json:"post_data_statements"`
}

// VerifyReport is the comparison of two databases.
type VerifyReport struct {
	Checksum      string     `json:"checksum"`
	TablesChecked int        `json:"tables_checked"`
	ChunksChecked int        `json:"chunks_checked"`
	RowsChecked   int64      `json:"rows_checked"`
	Mismatched    []Mismatch `json:"mismatched"`
	Sequences     []Mismatch `json:"sequences_mismatched"`
	Definitions   []string   `json:"definitions_differ"`
	DurationS     float64    `json:"duration_s"`
}

// Mismatch is a table, chunk or sequence that differs.
type Mismatch struct {
	Table      string `json:"table"`
	KeyColumn  string `json:"key_column,omitempty"`
	KeyFrom    string `json:"key_from,omitempty"`
	KeyTo      string `json:"key_to,omitempty"`
	SourceRows int64  `json:"source_rows"`
	TargetRows int64  `json:"target_rows"`
	What       string `json:"what"`
}

func (v *VerifyReport) differences() int {
	return len(v.Mismatched) + len(v.Sequences) + len(v.Definitions)
}

func newReport(cmd, src, dst string) *Report {
	return &Report{Command: cmd, Source: src, Target: dst, Outcome: report.Started(), Phases: map[string]any{},
		Tables: []*TableReport{}, Preflight: Preflight{MissingExtensions: []string{}, Warnings: []string{}}}
}

func (r *Report) phase(name string, start time.Time) {
	r.Phases[name] = round(time.Since(start).Seconds())
}

func round(s float64) float64 { return float64(int64(s*1000)) / 1000 }

// finish fills in the outcome and returns the error that maps to the exit
// code: a verify that found differences, or a table that failed, is exit 1.
func (r *Report) finish(err error) error {
	sort.Slice(r.Tables, func(i, j int) bool { return r.Tables[i].Name < r.Tables[j].Name })
	r.Totals.Tables, r.Totals.Rows, r.Totals.Bytes = 0, 0, 0
	failed := 0
	for _, t := range r.Tables {
		r.Totals.Tables++
		r.Totals.Rows += t.Rows
		r.Totals.Bytes += t.Bytes
		if t.Status == "failed" {
			failed++
		}
	}
	if err == nil && (failed > 0 || (r.Verify != nil && r.Verify.differences() > 0)) {
		n := 0
		if r.Verify != nil {
			n = r.Verify.differences()
		}
		err = &errs.PartialError{Failed: failed, Mismatched: n}
	}
	r.Finish(err)
	return err
}

// Markdown renders the report for a change ticket.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cutover %s: %s\n\n", r.Command, strings.ToUpper(r.Status))
	fmt.Fprintf(&b, "- source: `%s`\n- target: `%s`\n", r.Source, r.Target)
	fmt.Fprintf(&b, "- started %s, took %.1f s\n", r.StartedAt.Format(time.RFC3339), r.DurationS)
	if r.Snapshot != "" {
		fmt.Fprintf(&b, "- consistency: %s (snapshot held %.1f s on the source)\n", r.Snapshot, r.SnapshotHeld)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "- error: %s\n", r.Error)
	}
	p := r.Preflight
	if p.SourceVersion != 0 {
		fmt.Fprintf(&b, "- PostgreSQL %d → %d, encoding %s → %s, collation %s → %s\n", p.SourceVersion, p.TargetVersion,
			p.SourceEncoding, p.TargetEncoding, p.SourceCollation, p.TargetCollation)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "- warning: %s\n", w)
	}
	if len(p.MissingExtensions) > 0 {
		fmt.Fprintf(&b, "- extensions missing on the target: %s\n", strings.Join(p.MissingExtensions, ", "))
	}
	if len(r.Phases) > 0 {
		var names []string
		for n := range r.Phases {
			names = append(names, n)
		}
		sort.Strings(names)
		b.WriteString("\n| phase | s |\n|---|---|\n")
		for _, n := range names {
			fmt.Fprintf(&b, "| %s | %v |\n", n, r.Phases[n])
		}
	}
	if len(r.Tables) > 0 {
		fmt.Fprintf(&b, "\n%d tables, %d rows, %d bytes\n\n| table | rows | bytes | chunks | split | s | status |\n|---|---|---|---|---|---|---|\n",
			r.Totals.Tables, r.Totals.Rows, r.Totals.Bytes)
		for _, t := range r.Tables {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %.2f | %s |\n", t.Name, t.Rows, t.Bytes, t.Chunks, t.Split, t.DurationS, t.Status)
		}
	}
	if v := r.Verify; v != nil {
		fmt.Fprintf(&b, "\n## Verify\n\n%d tables, %d chunks, %d rows checked in %.1f s (%s): %d differences\n",
			v.TablesChecked, v.ChunksChecked, v.RowsChecked, v.DurationS, v.Checksum, v.differences())
		for _, m := range v.Mismatched {
			fmt.Fprintf(&b, "- table `%s`", m.Table)
			if m.KeyColumn != "" {
				fmt.Fprintf(&b, " where %s in [%s, %s)", m.KeyColumn, orOpen(m.KeyFrom), orOpen(m.KeyTo))
			}
			fmt.Fprintf(&b, ": %s (source %d rows, target %d)\n", m.What, m.SourceRows, m.TargetRows)
		}
		for _, m := range v.Sequences {
			fmt.Fprintf(&b, "- sequence `%s`: %s\n", m.Table, m.What)
		}
		for _, d := range v.Definitions {
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	return b.String()
}

func orOpen(s string) string {
	if s == "" {
		return "…"
	}
	return s
}
