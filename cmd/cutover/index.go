package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/sync/index"
)

func newIndexCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "index",
		Short: "Verify, snapshot, ship and repair Lucene indexes (Jira's caches/indexesV1, Confluence's index)",
		Long: `Lucene index files are written once and, since Lucene 4.8, end with their own
CRC32 footer: cutover checks them without Java and ships only the files that
differ. Every command takes one index directory or a directory of indexes
(Jira's indexesV1: each sub-directory holding a segments_N is one index).

` + errs.ExitCodesHelp,
	}
	c.AddCommand(newIndexVerifyCmd(), newIndexSnapshotCmd(), newIndexShipCmd(), newIndexRepairCmd(),
		newIndexRestoreSnapshotCmd(), newIndexExportSnapshotCmd())
	return c
}

// indexFlags are the flags every index command takes.
type indexFlags struct {
	o  index.Options
	rf reportFlags
}

func (f *indexFlags) add(c *cobra.Command, workers bool) {
	fl := c.Flags()
	if workers {
		fl.IntVar(&f.o.Workers, "workers", 4, "parallel file transfers and checks")
	}
	addSSHFlags(c, &f.o.SSH)
	fl.DurationVar(&f.o.LogInterval, "log-interval", 5*time.Second, "interval of progress lines when stderr is not a terminal")
	f.rf.add(c)
}

// run executes an index command and writes its reports and summary.
func (f *indexFlags) run(do func(o index.Options) (*index.Report, error)) error {
	if f.o.Workers == 0 {
		f.o.Workers = 4
	}
	if f.o.Workers < 1 {
		return errs.Usagef("--workers must be ≥ 1")
	}
	f.o.Log = logOutput()
	f.o.SSH.Conns = min(max(f.o.Workers/2, 1), 4)
	rep, runErr := do(f.o)
	runErr = f.rf.write(rep, runErr)
	printIndexSummary(rep)
	return runErr
}

func printIndexSummary(rep *index.Report) {
	t := rep.Totals
	fmt.Fprintf(os.Stdout, "%s: %s  %d indexes, %d files (%d bytes): reused %d, shipped %d (%d bytes), retired %d, %.2fs\n",
		rep.Command, strings.ToUpper(rep.Status), len(rep.Indexes), t.FilesTotal, t.BytesTotal, t.FilesReused,
		t.FilesShipped, t.BytesShipped, t.FilesRetired, rep.DurationS)
	for _, r := range rep.Indexes {
		fmt.Fprintf(os.Stdout, "  %-28s %-8s %-14s Lucene %-7s files %d, reused %d, shipped %d\n", r.Index, r.Status, r.Commit,
			r.LuceneVersion, r.FilesTotal, r.FilesReused, r.FilesShipped)
		for _, w := range r.Warnings {
			fmt.Fprintf(os.Stdout, "    warning: %s\n", w)
		}
		for _, p := range r.Before {
			fmt.Fprintf(os.Stdout, "    damaged before repair: %s: %s\n", p.File, p.What)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(os.Stdout, "    %s: %s\n", p.File, p.What)
		}
		if r.Error != "" {
			fmt.Fprintf(os.Stdout, "    error: %s\n", r.Error)
		}
	}
}

func newIndexVerifyCmd() *cobra.Command {
	var f indexFlags
	c := &cobra.Command{
		Use:   "verify DIR",
		Short: "Check the latest commit of each index: files present, headers, footers, lengths (--full: every CRC32)",
		Long: `Find the latest commit (segments_N) of each index at or below DIR (a local path
or sftp://user@host[:port]/path) and check that every file it references is
present, that its header carries the right segment id and generation suffix,
and that its footer is well formed. --full also recomputes the CRC32 of every
file and of every sub-file inside compound (.cfs) files: only that finds a
flipped byte in the middle of a file. Exit 1 names each damaged or missing file.

` + errs.ExitCodesHelp,
		Example: `  cutover index verify /var/atlassian/application-data/jira/caches/indexesV1
  cutover index verify --full sftp://jira@jira-node-0/var/atlassian/application-data/jira/caches/indexesV1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(o index.Options) (*index.Report, error) { return index.Verify(cmd.Context(), args[0], o) })
		},
	}
	c.Flags().BoolVar(&f.o.Full, "full", false, "recompute the CRC32 of every file (reads every byte)")
	f.add(c, true)
	return c
}

func newIndexSnapshotCmd() *cobra.Command {
	var (
		f   indexFlags
		out string
	)
	c := &cobra.Command{
		Use:   "snapshot DIR",
		Short: "Copy the latest commit of a live local index by hard-linking its files, with a manifest",
		Long: `Make a point-in-time copy of the latest commit of each index at or below the
local directory DIR while the node runs: its files are hard-linked (instant;
Lucene never changes a file once written) into --out, with a manifest of each
file's size, CRC32 and segment id (cutover-snapshot.json). If a merge deletes
a file on the way, the index is linked again from its new commit.

` + errs.ExitCodesHelp,
		Example: `  cutover index snapshot /var/atlassian/application-data/jira/caches/indexesV1 --out /var/tmp/indexes-before-upgrade`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = strings.TrimSuffix(args[0], "/") + ".snapshot-" + time.Now().UTC().Format("20060102T150405Z")
			}
			return f.run(func(o index.Options) (*index.Report, error) {
				return index.Snapshot(cmd.Context(), args[0], out, o)
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "new directory for the snapshot (default DIR.snapshot-<UTC time>)")
	f.add(c, false)
	return c
}

func newIndexShipCmd() *cobra.Command {
	var (
		f        indexFlags
		rollback bool
	)
	c := &cobra.Command{
		Use:   "ship SRC DST",
		Short: "Install the latest commit of the SRC indexes at DST, moving only the files that differ",
		Long: `Ship each index at or below SRC to the same place below DST (each a local path
or sftp://user@host[:port]/path). A target file is reused when its name, size,
footer CRC and segment id match; a segment is re-sent whole when any of its
files differs. New files are staged in <dir>.staging/ beside the index, their
CRC32 checked in flight, synced, and switched in by renames, segments_N last;
every file the new commit does not reference moves to <dir>.previous/, kept
until the next ship. ` + "`ship --rollback DST`" + ` puts the former commit back.

The node that owns DST must be stopped: a write.lock held by a live process on
a local DST is refused (exit 3) unless --force.

` + errs.ExitCodesHelp,
		Example: `  cutover index ship sftp://jira@jira-node-0/var/atlassian/application-data/jira/caches/indexesV1 \
      /var/atlassian/application-data/jira/caches/indexesV1 --report ship.json
  cutover index ship --rollback /var/atlassian/application-data/jira/caches/indexesV1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if rollback {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(o index.Options) (*index.Report, error) {
				if rollback {
					return index.Rollback(cmd.Context(), args[0], o)
				}
				return index.Ship(cmd.Context(), args[0], args[1], o)
			})
		},
	}
	c.Flags().BoolVar(&rollback, "rollback", false, "put back the commit the last ship replaced (kept in <dir>.previous); takes only DST")
	c.Flags().BoolVar(&f.o.Force, "force", false, "install even though a live process holds write.lock")
	f.add(c, true)
	return c
}

func newIndexRepairCmd() *cobra.Command {
	var f indexFlags
	c := &cobra.Command{
		Use:   "repair SRC DST",
		Short: "verify --full DST, ship what is damaged, missing or different from the healthy SRC, verify again",
		Long: `Repair the indexes at DST from a healthy node's indexes at SRC: every file of
DST is checked in full (CRC32), the damaged, missing and different files (whole
segments) are shipped and installed as by ` + "`index ship`" + `, and DST is checked in
full again. The report lists what was damaged before and what remains.

` + errs.ExitCodesHelp,
		Example: `  cutover index repair sftp://jira@jira-node-0/var/atlassian/application-data/jira/caches/indexesV1 \
      /var/atlassian/application-data/jira/caches/indexesV1 --report-md repair.md`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(o index.Options) (*index.Report, error) {
				return index.Repair(cmd.Context(), args[0], args[1], o)
			})
		},
	}
	c.Flags().BoolVar(&f.o.Force, "force", false, "install even though a live process holds write.lock")
	f.add(c, true)
	return c
}

func newIndexRestoreSnapshotCmd() *cobra.Command {
	var f indexFlags
	c := &cobra.Command{
		Use:   "restore-snapshot ARCHIVE DST",
		Short: "Install a Jira index snapshot (IndexSnapshot_N.tar.sz from the shared home) at DST",
		Long: `Unpack a Jira index snapshot (a tar compressed with the Snappy framing format,
as Jira writes into <shared-home>/caches), verify every index in it in full,
and install it at DST (Jira's <local-home>/caches/indexesV1) like ` + "`index ship`" + `:
only differing files move, segments_N last, the former commit kept for
` + "`index ship --rollback`" + `. A damaged archive installs nothing.

` + errs.ExitCodesHelp,
		Example: `  cutover index restore-snapshot /mnt/efs/jira/shared/caches/IndexSnapshot_10200.tar.sz \
      /var/atlassian/application-data/jira/caches/indexesV1`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(o index.Options) (*index.Report, error) {
				return index.RestoreSnapshot(cmd.Context(), args[0], args[1], o)
			})
		},
	}
	c.Flags().BoolVar(&f.o.Force, "force", false, "install even though a live process holds write.lock")
	f.add(c, true)
	return c
}

func newIndexExportSnapshotCmd() *cobra.Command {
	var f indexFlags
	c := &cobra.Command{
		Use:   "export-snapshot SRC OUT",
		Short: "Write the latest commit of the SRC indexes as a Jira index snapshot (tar + Snappy framing)",
		Long: `Write the latest commit of each index at or below SRC (a local path or sftp://)
into OUT in the format of Jira's IndexSnapshot_N.tar.sz, every file's CRC32
checked on the way. A merge on a live source that removes a file makes the
archive start over from the new commit.

` + errs.ExitCodesHelp,
		Example: `  cutover index export-snapshot /var/atlassian/application-data/jira/caches/indexesV1 \
      /mnt/efs/jira/shared/caches/IndexSnapshot_20000.tar.sz`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(o index.Options) (*index.Report, error) {
				return index.ExportSnapshot(cmd.Context(), args[0], args[1], o)
			})
		},
	}
	f.add(c, false)
	return c
}
