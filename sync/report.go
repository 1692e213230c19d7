package sync

import (
	"fmt"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// maxListed caps the items listed per category in a report; counts stay exact.
const maxListed = 10000

// FilesReport is the JSON report of `files sync` and `files verify`.
type FilesReport struct {
	Command string `json:"command"`
	Source  string `json:"source"`
	Target  string `json:"target"`
	RunID   int64  `json:"run_id,omitempty"`
	DryRun  bool   `json:"dry_run"`
	report.Outcome
	Hash           string `json:"hash"`
	Lister         string `json:"lister"`
	ListerFallback string `json:"lister_fallback,omitempty"` // why an SFTP source was listed by READDIR, not find
	// SourceLowPriority: the commands on the source host ran at nice 19
	// and the lowest best-effort I/O priority (--low-priority).
	SourceLowPriority bool        `json:"source_low_priority,omitempty"`
	SourceFS          string      `json:"source_fs,omitempty"` // the filesystem of an SFTP source's root, as its find named it
	Files             FileCounts  `json:"files"`
	Verify            VerifyStats `json:"verify"`
	Throughput        Throughput  `json:"throughput"`
	// ConnectionsLost: SSH connections found dead (an error, a keepalive
	// left unanswered) and dialed again; what was in flight on each was
	// retried.
	ConnectionsLost int64 `json:"connections_lost"`
	// TopDirs sums the listed source by top-level directory; NewestMtime is
	// the latest modification in it (final's quiet check).
	TopDirs     []TopDir  `json:"top_dirs,omitempty"`
	NewestMtime time.Time `json:"newest_mtime,omitempty"`
	Memory      Memory    `json:"memory"`
	// hashing is how files verify hashed each side, over its batches.
	hashing map[string]*hashing
}

// Memory is what the process took, to size a pod by.
type Memory struct {
	// MaxResidentBytes is the most the process had resident, up to the
	// report.
	MaxResidentBytes int64 `json:"max_resident_bytes"`
	// LimitBytes is its cgroup's memory limit, 0 when it has none.
	LimitBytes int64 `json:"limit_bytes,omitempty"`
}

// TopDir is a top-level directory of the source and what it holds.
type TopDir struct {
	Dir   string `json:"dir"`
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
}

// FileCounts are the per-run file counts.
type FileCounts struct {
	Scanned         int64         `json:"scanned"`
	Excluded        int64         `json:"excluded"`
	Copied          int64         `json:"copied"`
	BytesCopied     int64         `json:"bytes_copied"`
	Streamed        int64         `json:"streamed"` // of Copied: sent by a tar stream, not SFTP requests
	BytesTotal      int64         `json:"bytes_total"`
	Symlinks        int64         `json:"symlinks"`
	Hardlinks       int64         `json:"hardlinks"`
	DirsCreated     int64         `json:"dirs_created"`
	MetadataUpdated int64         `json:"metadata_updated"`
	Deleted         int64         `json:"deleted"`
	DeletedPaths    []report.Item `json:"deleted_paths,omitempty"` // what was deleted (a dry run: what would be), and why
	PendingDelete   int64         `json:"pending_deletions"`
	// Kept: directories the source no longer has that stay at the target
	// because they hold entries the rules exclude (--delete).
	KeptCount   int64         `json:"kept_count"`
	Kept        []report.Item `json:"kept,omitempty"`
	Unchanged   int64         `json:"unchanged"`
	Adopted     int64         `json:"adopted"`
	TempCleaned int           `json:"temp_cleaned"`
	// StagedRecovered: new directories a killed run had made under
	// temporary names, put in place by this run, without the files in
	// them that the killed run had not recorded (StagedRemoved).
	StagedRecovered int `json:"staged_recovered,omitempty"`
	StagedRemoved   int `json:"staged_removed,omitempty"`
	// Repaired: entries found changed at the target since they were
	// written (the listing with --delete, the read-back of --verify all)
	// and redone in this run, each with what differed.
	RepairedCount int64         `json:"repaired_count"`
	Repaired      []report.Item `json:"repaired,omitempty"`
	FailedCount   int64         `json:"failed_count"`
	Failed        []report.Item `json:"failed"`
	Vanished      []report.Item `json:"vanished"`
}

// VerifyStats say what was read back and compared.
type VerifyStats struct {
	Mode     string `json:"mode"`
	ReadFrom string `json:"read_from,omitempty"` // where the target is read back from
	// HashedBy says, for `files verify`, how each side ("source",
	// "target") was hashed: on its host, and with which tool, or read.
	HashedBy map[string]string `json:"hashed_by,omitempty"`
	// Compared says, for `files verify`, what was compared besides
	// presence, type, size, symlink targets and content.
	Compared        string        `json:"compared,omitempty"`
	Checked         int64         `json:"checked"`
	MismatchedCount int64         `json:"mismatched_count"`
	Mismatched      []report.Item `json:"mismatched"`
}

// Throughput is measured over the copy phase (for `files verify`, the
// hashing of both sides).
type Throughput struct {
	ListS       float64 `json:"list_s"`
	TargetListS float64 `json:"target_list_s,omitempty"` // the target's listing, beside the source's (no state, --delete)
	CopyS       float64 `json:"copy_s"`
	BytesPerS   float64 `json:"bytes_per_s"`
	FilesPerS   float64 `json:"files_per_s"`
	// BWLimit is the cap on the read rate from the source (--bwlimit), in
	// bytes a second; 0: none.
	BWLimit int64 `json:"bwlimit_bytes_per_s,omitempty"`
}

func (r *FilesReport) fail(p, reason string) {
	r.Files.FailedCount++
	if len(r.Files.Failed) < maxListed {
		r.Files.Failed = append(r.Files.Failed, report.NewItem(p, reason))
	}
}

// noteDeleted lists a deletion; pending says it waits for --delete.
func (r *FilesReport) noteDeleted(a plan.Action, pending bool) {
	if len(r.Files.DeletedPaths) >= maxListed {
		return
	}
	why := "not in the source"
	switch {
	case a.TypeChange:
		why = "of another type at the source"
	case pending:
		why += " (pending: removed with --delete)"
	}
	r.Files.DeletedPaths = append(r.Files.DeletedPaths, report.NewItem(a.Entry.Path, why))
}

func (r *FilesReport) mismatch(p, reason string) {
	r.Verify.MismatchedCount++
	if len(r.Verify.Mismatched) < maxListed {
		r.Verify.Mismatched = append(r.Verify.Mismatched, report.NewItem(p, reason))
	}
}

func (r *FilesReport) repaired(p, reason string) {
	r.Files.RepairedCount++
	if len(r.Files.Repaired) < maxListed {
		r.Files.Repaired = append(r.Files.Repaired, report.NewItem(p, reason))
	}
}

// Markdown renders the report for a change ticket.
func (r *FilesReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cutover %s: %s\n\n", r.Command, strings.ToUpper(r.Status))
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, report.MDEscape(v)) }
	row("source", r.Source)
	row("target", r.Target)
	row("started", r.StartedAt.Format(time.RFC3339))
	row("duration", fmt.Sprintf("%.1f s", r.DurationS))
	if r.DryRun {
		row("dry run", "yes: nothing was changed")
	}
	if r.Error != "" {
		row("error", r.Error)
	}
	f := r.Files
	row("scanned", fmt.Sprintf("%d entries (%s), %d excluded", f.Scanned, progress.Bytes(f.BytesTotal), f.Excluded))
	if r.Lister != "" {
		lister := r.Lister
		if r.ListerFallback != "" {
			lister += " (" + r.ListerFallback + ")"
		}
		row("listed by", lister)
	}
	if r.SourceFS != "" {
		row("source filesystem", r.SourceFS)
	}
	if r.SourceLowPriority {
		row("source priority", "lowest: cutover's commands and their SSH session at nice 19, best-effort I/O priority 7")
	}
	row("copied", fmt.Sprintf("%d files, %s (%d of them streamed with tar)", f.Copied, progress.Bytes(f.BytesCopied), f.Streamed))
	row("unchanged", fmt.Sprint(f.Unchanged))
	row("symlinks / hard links / dirs created", fmt.Sprintf("%d / %d / %d", f.Symlinks, f.Hardlinks, f.DirsCreated))
	row("metadata updated", fmt.Sprint(f.MetadataUpdated))
	row("deleted", fmt.Sprintf("%d (pending without --delete: %d)", f.Deleted, f.PendingDelete))
	if f.RepairedCount > 0 {
		row("repaired", fmt.Sprintf("%d entries changed at the target since written, redone", f.RepairedCount))
	}
	row("failed", fmt.Sprint(f.FailedCount))
	verify := fmt.Sprintf("%s: %d checked, %d mismatched", r.Verify.Mode, r.Verify.Checked, r.Verify.MismatchedCount)
	if r.Verify.Checked > 0 && r.Verify.ReadFrom != "" {
		verify += ", read back from " + r.Verify.ReadFrom
	}
	row("verify", verify)
	if h := r.Verify.HashedBy; h != nil {
		row("hashed", fmt.Sprintf("source: %s; target: %s", h["source"], h["target"]))
	}
	if r.Verify.Compared != "" {
		row("compared too", r.Verify.Compared)
	}
	if r.ConnectionsLost > 0 {
		row("connections lost", fmt.Sprintf("%d, each dialed again and what was in flight on it retried", r.ConnectionsLost))
	}
	listing := fmt.Sprintf("listing %.1f s", r.Throughput.ListS)
	if r.Throughput.TargetListS > 0 {
		listing += fmt.Sprintf(", the target's at the same time %.1f s", r.Throughput.TargetListS)
	}
	phase := "copying"
	if r.Command == "files verify" {
		phase = "hashing both sides"
	}
	mem := progress.Bytes(r.Memory.MaxResidentBytes) + " at most resident"
	if r.Memory.LimitBytes > 0 {
		mem += ", of the " + progress.Bytes(r.Memory.LimitBytes) + " its cgroup allows"
	}
	row("memory", mem)
	if r.Throughput.BWLimit > 0 {
		phase += ", reads capped at " + progress.Rate(r.Throughput.BWLimit)
	}
	row("throughput", fmt.Sprintf("%s/s, %.0f files/s over %.1f s of %s (%s)",
		progress.Bytes(int64(r.Throughput.BytesPerS)), r.Throughput.FilesPerS, r.Throughput.CopyS, phase, listing))
	list := func(title string, items []report.Item, total int64) {
		if total == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s (%d)\n\n| path | reason |\n|---|---|\n", title, total)
		for _, it := range items {
			fmt.Fprintf(&b, "| `%s` | %s |\n", report.MDEscape(it.Path), report.MDEscape(it.Reason))
		}
	}
	deleted := "Deleted"
	if r.DryRun {
		deleted = "Would delete"
	}
	list(deleted, f.DeletedPaths, int64(len(f.DeletedPaths)))
	list("Failed", f.Failed, f.FailedCount)
	list("Vanished during the run", f.Vanished, int64(len(f.Vanished)))
	list("Kept: not in the source, but holding excluded entries", f.Kept, f.KeptCount)
	list("Mismatched", r.Verify.Mismatched, r.Verify.MismatchedCount)
	list("Changed at the target since written, redone", f.Repaired, f.RepairedCount)
	return b.String()
}

// readFrom says where verification reads the target from.
func readFrom(dst store.Store) string {
	switch d := dst.(type) {
	case *store.Local:
		if n := d.Network(); n != "" {
			return "the " + n + " server (this host's cached pages dropped first)"
		}
		return "the page cache of a local filesystem"
	case *store.SFTP:
		return "the SFTP server"
	}
	return ""
}
