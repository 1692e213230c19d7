package flow

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/migrate/pgcopy"
	"github.com/cutover/cutover/sync"
	"github.com/cutover/cutover/sync/index"
)

// Markdown renders a presync or final report; for final it is the go/no-go
// report of the change ticket.
func (rep *FlowReport) Markdown() string {
	var b strings.Builder
	title := strings.ToUpper(rep.Status)
	if rep.Command == "final" {
		title = rep.Verdict
	}
	fmt.Fprintf(&b, "# cutover %s: %s\n\n", rep.Command, title)
	fmt.Fprintf(&b, "- config: `%s`\n- started %s, took %.1f s (predicted %.1f s", rep.Config, rep.StartedAt.Format(time.RFC3339), rep.ActualS, rep.PredictedS)
	if rep.WindowHighS > 0 && rep.Command == "final" {
		fmt.Fprintf(&b, ", range %.1f–%.1f s", rep.WindowLowS, rep.WindowHighS)
	}
	b.WriteString(")\n")
	if rep.NextWindowS > 0 {
		fmt.Fprintf(&b, "- the final window predicted now: %.1f s (%.1f–%.1f s)\n", rep.NextWindowS, rep.WindowLowS, rep.WindowHighS)
	}
	if rep.Error != "" {
		fmt.Fprintf(&b, "- error: %s\n", rep.Error)
	}
	if len(rep.Preflight) > 0 {
		b.WriteString("\n## Preflight\n\n| check | ok | detail |\n|---|---|---|\n")
		for _, c := range rep.Preflight {
			fmt.Fprintf(&b, "| %s | %v | %s |\n", c.Name, c.OK, c.Detail)
		}
	}
	b.WriteString("\n## Parts\n\n| kind | name | status | predicted s | actual s | what moved and what was checked |\n|---|---|---|---|---|---|\n")
	for _, p := range rep.Parts {
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %.1f | %s |\n", p.Kind, p.Name, p.Status, p.PredictedS, p.ActualS, summary(p.Report))
	}
	if len(rep.Mismatches) > 0 {
		b.WriteString("\n## Did not match\n\n")
		for _, m := range rep.Mismatches {
			fmt.Fprintf(&b, "- %s\n", m)
		}
	} else if rep.Command == "final" && rep.Verdict == "GO" {
		b.WriteString("\nEvery part finished and every check passed (what was checked is in the last column).\n")
	}
	return b.String()
}

// Markdown renders a plan.
func (p *PlanReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cutover plan\n\n- config: `%s`\n- predicted downtime window (final): **%.1f s** (%.1f–%.1f s; %s)\n- deletions the final mirror would make: %d (max_delete %d)\n",
		p.Config, p.WindowS, p.WindowLowS, p.WindowHighS, p.WindowBasis, p.PendingDeletions, p.MaxDelete)
	if p.Error != "" {
		fmt.Fprintf(&b, "- error: %s\n", p.Error)
	}
	b.WriteString("\n## Phases\n\n| phase | estimate s | parts |\n|---|---|---|\n")
	for _, ph := range p.Phases {
		var parts []string
		for _, pe := range ph.Parts {
			parts = append(parts, fmt.Sprintf("%s %s %.1f s", pe.Kind, pe.Name, pe.EstimateS))
		}
		done := ""
		if ph.Done {
			done = " (done)"
		}
		fmt.Fprintf(&b, "| %s%s | %.1f | %s |\n", ph.Name, done, ph.EstimateS, strings.Join(parts, "; "))
	}
	b.WriteString("\n## Inventory\n\n")
	for _, f := range p.Inventory.Files {
		fmt.Fprintf(&b, "- files **%s**: %d entries, %d bytes; changed since the last run: %d files, %d bytes; pending deletions %d\n",
			f.Name, f.Entries, f.Bytes, f.ChangedFiles, f.ChangedBytes, f.PendingDeletions)
		for _, t := range f.TopDirs[:min(len(f.TopDirs), 10)] {
			fmt.Fprintf(&b, "  - `%s`: %d files, %d bytes\n", t.Dir, t.Files, t.Bytes)
		}
	}
	for _, d := range p.Inventory.Databases {
		fmt.Fprintf(&b, "- database **%s**: %d tables, ~%d rows, %d bytes\n", d.Name, d.Tables, d.Rows, d.Bytes)
		for _, t := range d.Largest[:min(len(d.Largest), 5)] {
			fmt.Fprintf(&b, "  - `%s`: ~%d rows, %d bytes\n", t.Name, t.Rows, t.Bytes)
		}
	}
	for _, x := range p.Inventory.Indexes {
		fmt.Fprintf(&b, "- indexes **%s**: %d indexes, %d files, %d bytes; to ship now: %d files, %d bytes\n",
			x.Name, x.Indexes, x.Files, x.Bytes, x.ShipFiles, x.ShipBytes)
	}
	return b.String()
}

// Status lists the recorded presync and final runs with predicted and
// actual durations.
func (r *Runner) Status(ctx context.Context) ([]state.FlowRun, error) {
	if _, err := os.Stat(r.Cfg.State); err != nil {
		return nil, nil
	}
	return r.flows(ctx)
}

// summary says in one line what a part moved and checked.
func summary(r any) string {
	switch v := r.(type) {
	case *sync.FilesReport:
		f := v.Files
		s := fmt.Sprintf("%d files scanned, %d copied (%d bytes), %d deleted, %d read back, %d failed, %d mismatched (%s)",
			f.Scanned, f.Copied, f.BytesCopied, f.Deleted, v.Verify.Checked, f.FailedCount, v.Verify.MismatchedCount, v.Hash)
		if f.RepairedCount > 0 {
			s += fmt.Sprintf("; %d changed at the target since written, redone", f.RepairedCount)
		}
		if h := v.Verify.HashedBy; h != nil {
			s += fmt.Sprintf(", hashed: source %s, target %s", h["source"], h["target"])
		}
		return s
	case map[string]any:
		var parts []string
		for _, k := range []string{"sync", "ship", "verify", "repair", "recheck"} {
			if x, ok := v[k]; ok {
				parts = append(parts, k+": "+summary(x))
			}
		}
		return strings.Join(parts, "; ")
	case *pgcopy.Report:
		s := fmt.Sprintf("%d tables, %d rows, %d bytes, %d sequences", v.Totals.Tables, v.Totals.Rows, v.Totals.Bytes, v.Totals.Sequences)
		if vr := v.Verify; vr != nil {
			s += fmt.Sprintf("; verify: %d chunks, %d rows checksummed (%s), %d tables, %d sequences, %d definitions differ",
				vr.ChunksChecked, vr.RowsChecked, vr.Checksum, len(vr.Mismatched), len(vr.Sequences), len(vr.Definitions))
		}
		return s
	case *index.Report:
		t := v.Totals
		if v.Full {
			return fmt.Sprintf("%d indexes, %d files, %d bytes checked in full (CRC32)", len(v.Indexes), t.FilesTotal, t.BytesTotal)
		}
		return fmt.Sprintf("%d indexes: %d files shipped (%d bytes), %d reused, %d retired", len(v.Indexes), t.FilesShipped, t.BytesShipped, t.FilesReused, t.FilesRetired)
	}
	return ""
}
