package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/migrate/pgcopy"
)

func newDBCmd() *cobra.Command {
	c := &cobra.Command{Use: "db", Short: "Copy and verify a PostgreSQL database (a VM's PostgreSQL into RDS)"}
	c.AddCommand(newDBCopyCmd(), newDBVerifyCmd())
	return c
}

// dbFlags are the flags both db commands take.
type dbFlags struct {
	o         pgcopy.Options
	rf        reportFlags
	src, dst  string
	srcIAM    bool
	chunkRows int64
}

func (f *dbFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.src, "source", "", "source database `DSN` (postgres://user@host:5432/db?sslmode=…; password from PGPASSWORD or ~/.pgpass)")
	fl.StringVar(&f.dst, "target", "", "target database `DSN` (for RDS: ?sslmode=verify-full&sslrootcert=/path/to/rds-global-bundle.pem)")
	fl.StringVar(&f.o.StateDir, "state", "./.cutover", "state directory (progress, chunk checksums, runs)")
	fl.IntVar(&f.o.Jobs, "jobs", max(runtime.NumCPU(), 2), "parallel workers (tables, chunks, indexes, checksums)")
	fl.BoolVar(&f.o.Target.IAMAuth, "aws-iam-auth", false, "authenticate to the target with an RDS IAM token, made for every new connection")
	fl.BoolVar(&f.srcIAM, "source-aws-iam-auth", false, "authenticate to the source with an RDS IAM token")
	fl.StringVar(&f.o.Target.Region, "aws-region", "", "AWS region of the IAM tokens (default: the AWS configuration's)")
	fl.Int64Var(&f.chunkRows, "chunk-rows", 200_000, "verify: rows per checksum range")
	fl.DurationVar(&f.o.LogInterval, "log-interval", 5*time.Second, "interval of progress lines when stderr is not a terminal")
	f.rf.add(c)
}

func (f *dbFlags) prepare() error {
	if f.src == "" || f.dst == "" {
		return errs.Usagef("--source and --target are required")
	}
	if f.o.Jobs < 1 {
		return errs.Usagef("--jobs must be ≥ 1")
	}
	f.o.Source.DSN, f.o.Target.DSN = f.src, f.dst
	f.o.Source.IAMAuth, f.o.Source.Region = f.srcIAM, f.o.Target.Region
	f.o.ChunkRows = f.chunkRows
	f.o.Log = logOutput()
	return nil
}

func (f *dbFlags) finish(rep *pgcopy.Report, runErr error) error {
	runErr = f.rf.write(rep, runErr)
	printDBSummary(rep)
	return runErr
}

func printDBSummary(rep *pgcopy.Report) {
	fmt.Fprintf(os.Stdout, "%s: %s  %d tables, %d rows, %d bytes, %d sequences, %.1fs", rep.Command, strings.ToUpper(rep.Status),
		rep.Totals.Tables, rep.Totals.Rows, rep.Totals.Bytes, rep.Totals.Sequences, rep.DurationS)
	if rep.SnapshotHeld > 0 {
		fmt.Fprintf(os.Stdout, " (snapshot held %.1fs)", rep.SnapshotHeld)
	}
	fmt.Fprintln(os.Stdout)
	if v := rep.Verify; v != nil {
		fmt.Fprintf(os.Stdout, "  verify: %d tables, %d chunks, %d rows checked in %.1fs: %d mismatched, %d sequences, %d definitions differ\n",
			v.TablesChecked, v.ChunksChecked, v.RowsChecked, v.DurationS, len(v.Mismatched), len(v.Sequences), len(v.Definitions))
		for _, m := range v.Mismatched {
			if m.KeyColumn != "" {
				fmt.Fprintf(os.Stdout, "    %s where %s in [%s, %s): %s\n", m.Table, m.KeyColumn, orOpen(m.KeyFrom), orOpen(m.KeyTo), m.What)
			} else {
				fmt.Fprintf(os.Stdout, "    %s: %s\n", m.Table, m.What)
			}
		}
		for _, m := range v.Sequences {
			fmt.Fprintf(os.Stdout, "    sequence %s: %s\n", m.Table, m.What)
		}
		for _, d := range v.Definitions {
			fmt.Fprintf(os.Stdout, "    %s\n", d)
		}
	}
	for _, w := range rep.Preflight.Warnings {
		fmt.Fprintf(os.Stdout, "  warning: %s\n", w)
	}
}

func orOpen(s string) string {
	if s == "" {
		return "…"
	}
	return s
}

func newDBCopyCmd() *cobra.Command {
	var (
		f     dbFlags
		split string
	)
	c := &cobra.Command{
		Use:   "copy --source DSN --target DSN",
		Short: "Copy a database in one consistent snapshot: schema, parallel COPY streams, indexes, constraints, sequences; then verify",
		Long: `Copy the source database into the (empty) target database: one snapshot for
everything, the schema from pg_dump's pre-data and post-data sections (pg_dump
on PATH must not be older than the source), tables largest first over --jobs
workers, tables larger than --split-larger-than in key (or page) ranges, each
streamed from COPY TO into COPY FROM with no file in between; indexes built in
parallel, constraints, sequences at their snapshot values, ANALYZE; then
` + "`db verify`" + ` unless --verify none. Nothing needs superuser on the target.
--resume continues a killed copy (work left reads a new snapshot).

` + errs.ExitCodesHelp,
		Example: `  PGPASSWORD=… cutover db copy --source postgres://jira@vm-db-1:5432/jiradb \
      --target 'postgres://jira@jira.abc.eu-west-1.rds.amazonaws.com:5432/jiradb?sslmode=verify-full&sslrootcert=/etc/ssl/rds-global-bundle.pem' \
      --target-owner jira --report db.json --report-md db.md
  cutover db copy --source … --target … --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(); err != nil {
				return err
			}
			n, err := parseSize(split)
			if err != nil {
				return err
			}
			f.o.SplitLargerThan = n
			if f.o.DropTarget && f.o.Resume {
				return errs.Usagef("--drop-target and --resume exclude each other")
			}
			rep, runErr := pgcopy.Copy(cmd.Context(), f.o)
			return f.finish(rep, runErr)
		},
	}
	fl := c.Flags()
	f.add(c)
	fl.StringVar(&split, "split-larger-than", "512MB", "copy tables larger than `SIZE` as several chunks in parallel (ranges cannot use COPY FREEZE; on separate machines each chunk loads other cores: see docs/benchmarks.md)")
	fl.StringVar(&f.o.CopyFormat, "copy-format", "text", "text|binary (binary only with the same major version and no user-defined column types)")
	fl.BoolVar(&f.o.DropTarget, "drop-target", false, "drop, in the target, the schemas the source defines (and all in them) before copying")
	fl.BoolVar(&f.o.Resume, "resume", false, "continue a killed copy: only what did not commit is redone")
	fl.StringVar(&f.o.TargetOwner, "target-owner", "", "make `ROLE` the owner of every restored object (the login role must be a member)")
	fl.BoolVar(&f.o.KeepOwners, "keep-owners", false, "restore the source's object owners (pg_dump without --no-owner; needs the roles on the target)")
	fl.BoolVar(&f.o.KeepACLs, "keep-acls", false, "restore the source's grants (pg_dump without --no-acl)")
	fl.StringVar(&f.o.Verify, "verify", "all", "none|all: run db verify at the end, in the copy's snapshot")
	fl.StringVar(&f.o.MaintenanceWorkMem, "maintenance-work-mem", "512MB", "maintenance_work_mem of the target sessions that build indexes")
	fl.StringVar(&f.o.PgDump, "pg-dump", "pg_dump", "the pg_dump `PROGRAM` to run (not older than the source server)")
	return c
}

func newDBVerifyCmd() *cobra.Command {
	var f dbFlags
	c := &cobra.Command{
		Use:   "verify --source DSN --target DSN",
		Short: "Compare two databases row by row (checksums inside each server), sequences and definitions",
		Long: `Compare the source and target databases, each read in a consistent snapshot:
per table the row count and checksums over primary-key ranges of --chunk-rows
rows, computed inside each server (no rows travel); a differing range is
narrowed down and reported with its key bounds. Also sequences, and the
definitions of indexes, constraints, triggers and row-level security. Exit 1
on any difference. Each row's text is hashed (hashtextextended under two
seeds where both servers are PostgreSQL 11 or later, else md5), with floats
hashed from their binary form: it sees numeric scale (1.5 vs 1.50) and -0.

` + errs.ExitCodesHelp,
		Example: `  cutover db verify --source postgres://jira@vm-db-1/jiradb --target 'postgres://jira@rds…/jiradb?sslmode=verify-full&sslrootcert=…'`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(); err != nil {
				return err
			}
			rep, runErr := pgcopy.Verify(cmd.Context(), f.o)
			return f.finish(rep, runErr)
		},
	}
	f.add(c)
	return c
}

// parseSize parses "512MB", "2GiB", "100000" (bytes).
func parseSize(s string) (int64, error) {
	n, err := progress.ParseBytes(s)
	if err != nil {
		return 0, errs.Usagef("size %q: want a size like 512MB or 2GiB", s)
	}
	return n, nil
}
