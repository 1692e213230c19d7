package index

import (
	"fmt"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/report"
)

// Report is the JSON report of every `index` command.
type Report struct {
	Command string `json:"command"`
	Source  string `json:"source,omitempty"`
	Target  string `json:"target"`
	Full    bool   `json:"full,omitempty"`
	report.Outcome
	Totals  Counts    `json:"totals"`
	Indexes []*Result `json:"indexes"`
	// JournalMarker names Confluence's journal marker when it was copied
	// along with the index (journal/main_index beside the index directory).
	JournalMarker string `json:"journal_marker,omitempty"`
}

// Counts are what a ship moved.
type Counts struct {
	FilesTotal   int   `json:"files_total"`
	FilesReused  int   `json:"files_reused"`
	FilesShipped int   `json:"files_shipped"`
	FilesRetired int   `json:"files_retired"`
	BytesShipped int64 `json:"bytes_shipped"`
	BytesTotal   int64 `json:"bytes_total"`
	BytesChecked int64 `json:"bytes_checked"`
}

func (c *Counts) add(o Counts) {
	c.FilesTotal += o.FilesTotal
	c.FilesReused += o.FilesReused
	c.FilesShipped += o.FilesShipped
	c.FilesRetired += o.FilesRetired
	c.BytesShipped += o.BytesShipped
	c.BytesTotal += o.BytesTotal
	c.BytesChecked += o.BytesChecked
}

// Result is the outcome for one index.
type Result struct {
	Index         string           `json:"index"` // relative to the argument; "." for the directory itself
	Status        string           `json:"status"`
	Error         string           `json:"error,omitempty"`
	Commit        string           `json:"commit,omitempty"`
	LuceneVersion string           `json:"lucene_version,omitempty"`
	Format        int32            `json:"segments_format"`
	Segments      int              `json:"segments"`
	Checksums     string           `json:"checksums,omitempty"` // "footer" or a note for pre-4.8 indexes
	Counts                         // files_reused, files_shipped, bytes_shipped, bytes_total, …
	DurationS     float64          `json:"duration_s"`
	Problems      []lucene.Problem `json:"problems"`                  // verify; repair: after
	Before        []lucene.Problem `json:"problems_before,omitempty"` // repair: before
	Shipped       []string         `json:"shipped,omitempty"`
	Retired       []string         `json:"retired,omitempty"`
	Warnings      []string         `json:"warnings,omitempty"`
	started       time.Time
}

func newResult(rel string) *Result {
	if rel == "" {
		rel = "."
	}
	return &Result{Index: rel, Status: "ok", Problems: []lucene.Problem{}, started: time.Now()}
}

func (r *Result) describe(ix *lucene.Index) {
	r.Commit, r.LuceneVersion, r.Format = ix.Commit.Name, ix.Commit.LuceneVersion, ix.Commit.Format
	r.Segments = len(ix.Commit.Segments)
	r.Checksums = "footer"
	if !ix.Commit.Footers() {
		r.Checksums = "pre-4.8 index: only segments_N carries a checksum; file contents are checked against the sidecar manifest of SHA-256 hashes when there is one"
	}
}

func (r *Result) done(err error) {
	r.DurationS = time.Since(r.started).Seconds()
	if err != nil {
		r.Status, r.Error = errs.Status(err), err.Error()
	} else if len(r.Problems) > 0 {
		r.Status = "partial"
	}
}

func newReport(cmd, src, dst string) *Report {
	return &Report{Command: cmd, Source: src, Target: dst, Outcome: report.Started(), Indexes: []*Result{}}
}

// finish fills in the outcome and returns the error that maps to the exit
// code: the run's own error, else a partial error when an index has
// problems or failed.
func (rep *Report) finish(err error) error {
	failed, bad := 0, 0
	for _, r := range rep.Indexes {
		rep.Totals.add(r.Counts)
		if r.Status == "failed" {
			failed++
		}
		bad += len(r.Problems)
	}
	if err == nil && (failed > 0 || bad > 0) {
		err = &errs.PartialError{Failed: failed, Mismatched: bad}
	}
	rep.Finish(err)
	return err
}

// Markdown renders the report for a change ticket.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cutover %s: %s\n\n", rep.Command, strings.ToUpper(rep.Status))
	if rep.Source != "" {
		fmt.Fprintf(&b, "- source: `%s`\n", rep.Source)
	}
	fmt.Fprintf(&b, "- target: `%s`\n", rep.Target)
	fmt.Fprintf(&b, "- started %s, took %.2f s\n", rep.StartedAt.Format(time.RFC3339), rep.DurationS)
	if rep.Error != "" {
		fmt.Fprintf(&b, "- error: %s\n", rep.Error)
	}
	b.WriteString("\n| index | status | commit | Lucene | files | reused | shipped | bytes shipped | bytes total | problems | s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Indexes {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %d | %d | %d | %.2f |\n", r.Index, r.Status, r.Commit,
			r.LuceneVersion, r.FilesTotal, r.FilesReused, r.FilesShipped, r.BytesShipped, r.BytesTotal, len(r.Problems), r.DurationS)
	}
	for _, r := range rep.Indexes {
		if len(r.Before)+len(r.Problems)+len(r.Warnings) == 0 && r.Error == "" {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n", r.Index)
		if r.Error != "" {
			fmt.Fprintf(&b, "- error: %s\n", r.Error)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "- warning: %s\n", w)
		}
		for _, p := range r.Before {
			fmt.Fprintf(&b, "- damaged before repair: `%s`: %s\n", p.File, p.What)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- problem: `%s`: %s\n", p.File, p.What)
		}
	}
	return b.String()
}
