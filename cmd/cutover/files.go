package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/sync"
)

type reportFlags struct{ json, md string }

func (r *reportFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&r.json, "report", "", "write a JSON report to `FILE` (also on errors)")
	c.Flags().StringVar(&r.md, "report-md", "", "write a Markdown report to `FILE` (also on errors)")
}

// markdowner is a report: written as JSON, and as its Markdown.
type markdowner interface{ Markdown() string }

// write writes the JSON and Markdown reports of a run that ended with
// runErr, and returns the error that decides the exit code: runErr, else
// a failure to write a report.
func (r *reportFlags) write(rep markdowner, runErr error) error {
	if err := report.WriteJSON(r.json, rep); err != nil && runErr == nil {
		runErr = err
	}
	if err := report.WriteText(r.md, rep.Markdown()); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func newFilesCmd() *cobra.Command {
	c := &cobra.Command{Use: "files", Short: "Copy and verify shared-home files (local paths or sftp://user@host[:port]/path)"}
	c.AddCommand(newFilesSyncCmd(), newFilesVerifyCmd())
	return c
}

type filterFlags struct{ rules []string }

// filterRules keeps --include and --exclude in command-line order.
type ruleFlag struct {
	include bool
	rules   *[]string
}

func (f ruleFlag) String() string { return "" }
func (f ruleFlag) Type() string   { return "GLOB" }
func (f ruleFlag) Set(v string) error {
	prefix := "- "
	if f.include {
		prefix = "+ "
	}
	*f.rules = append(*f.rules, prefix+v)
	return nil
}

// ruleFileFlag reads rules from a file, one glob per line (blank lines and
// lines starting with # or ; are skipped), as rsync's --exclude-from does;
// they take the flag's place among the other rules.
type ruleFileFlag struct{ ruleFlag }

func (f ruleFileFlag) Type() string { return "FILE" }
func (f ruleFileFlag) Set(name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		f.ruleFlag.Set(line)
	}
	return nil
}

func newFilesSyncCmd() *cobra.Command {
	var (
		o  sync.FilesOptions
		rf reportFlags
		ff filterFlags
		bw string
		om ownerMaps
	)
	c := &cobra.Command{
		Use:   "sync SRC DST",
		Short: "Copy what changed from SRC to DST, verify it, and record it in the state",
		Long: `Copy what changed since the last run from SRC to DST (each a local path or
sftp://user@host[:port]/absolute/path), write each file atomically, verify it,
and record it in the state so the next run copies only the delta.

` + errs.ExitCodesHelp,
		Example: `  cutover files sync sftp://jira@vm-jira-1/var/atlassian/application-data/jira/shared /mnt/efs/jira/shared \
      --exclude 'tmp/**' --exclude 'log/**' --chown-map 1001:2001 --chgrp-map 1001:2001
  cutover files sync SRC DST --delete --max-delete 500 --report final.json --report-md final.md`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Source, o.Target = args[0], args[1]
			if err := applyFilters(&o, ff.rules); err != nil {
				return err
			}
			var err error
			if o.BWLimit, err = parseRate(bw); err != nil {
				return err
			}
			if err := om.apply(&o); err != nil {
				return err
			}
			if o.Workers < 1 || o.MaxDelete < 0 || o.MaxDuration < 0 {
				return errs.Usagef("--workers must be ≥ 1, and --max-delete and --max-duration ≥ 0")
			}
			if err := stallFlag(&o); err != nil {
				return err
			}
			o.Log = logOutput()
			if o.SSH.Conns == 0 {
				o.SSH.Conns = min(max(o.Workers/4, 1), 8)
			}
			if o.Streams < 0 {
				return errs.Usagef("--streams must be ≥ 0")
			}
			switch {
			case !cmd.Flags().Changed("streams"):
				o.Streams = 0 // picked by the copy: 4, more from a source on NFS
			case o.Streams == 0:
				o.Streams = -1
			}
			rep, runErr := sync.SyncFiles(cmd.Context(), o)
			runErr = rf.write(rep, runErr)
			printSummary(rep)
			return runErr
		},
	}
	f := c.Flags()
	addCommonFileFlags(c, &o, &ff)
	f.IntVar(&o.Workers, "workers", 16, "parallel file transfers")
	f.IntVar(&o.Streams, "streams", 4, "from an SFTP source with a shell and GNU tar, send files in up to `N` tar streams, one per 64 MiB or 2048 files (0: SFTP requests for every file); unset, from a source on NFS: up to --workers, one per 128 files")
	f.BoolVar(&o.DryRun, "dry-run", false, "show what would be done; change nothing")
	f.DurationVar(&o.MaxDuration, "max-duration", 0, "stop cleanly after `DURATION` (exit 130, as Ctrl-C): the same command goes on from there, e.g. a bulk copy run only at night (0: no limit)")
	f.BoolVar(&o.Delete, "delete", false, "mirror: remove target entries the source no longer has, and redo those changed at the target since written (the target is listed)")
	f.IntVar(&o.MaxDelete, "max-delete", 1000, "with --delete, stop (exit 3, nothing deleted) when more than `N` entries would be removed")
	f.StringVar(&bw, "bwlimit", "", "cap the read rate from the source, e.g. 50MB, 200KiB (per second)")
	om.add(c)
	f.BoolVar(&o.Checksum, "checksum", false, "decide what changed by content hash instead of size and mtime")
	f.StringVar(&o.Verify, "verify", "transferred", "none|transferred|all: read back what this run wrote (transferred), and also every recorded file, copying again those changed at the target since (all)")
	rf.add(c)
	return c
}

func addCommonFileFlags(c *cobra.Command, o *sync.FilesOptions, ff *filterFlags) {
	f := c.Flags()
	f.StringVar(&o.StateDir, "state", "./.cutover", "state directory (manifests, runs)")
	f.Var(ruleFlag{include: false, rules: &ff.rules}, "exclude", "skip paths matching `GLOB` (repeatable; ** crosses directories; first match wins)")
	f.Var(ruleFlag{include: true, rules: &ff.rules}, "include", "take paths matching `GLOB` even if a later --exclude matches (repeatable)")
	f.Var(ruleFileFlag{ruleFlag{include: false, rules: &ff.rules}}, "exclude-from", "--exclude each glob in `FILE`, one per line (# comments)")
	f.Var(ruleFileFlag{ruleFlag{include: true, rules: &ff.rules}}, "include-from", "--include each glob in `FILE`, one per line (# comments)")
	addSSHFlags(c, &o.SSH)
	f.IntVar(&o.SSH.Conns, "ssh-connections", 0, "SSH connections per SFTP side (default workers/4, 1..8)")
	f.DurationVar(&o.LogInterval, "log-interval", 5*time.Second, "interval of progress lines when stderr is not a terminal")
	f.DurationVar(&o.StallTimeout, "stall-timeout", 10*time.Minute, "stop (exit 3) when nothing moves for `DURATION`: no entry listed, no byte read, no file done (a hung NFS mount at the source; 0: never)")
}

// ownerMaps are --chown-map and --chgrp-map.
type ownerMaps struct{ uids, gids []string }

func (m *ownerMaps) add(c *cobra.Command) {
	c.Flags().StringArrayVar(&m.uids, "chown-map", nil, "map a source uid to a target uid, `SRCUID:DSTUID` (repeatable)")
	c.Flags().StringArrayVar(&m.gids, "chgrp-map", nil, "map a source gid to a target gid, `SRCGID:DSTGID` (repeatable)")
}

func (m *ownerMaps) apply(o *sync.FilesOptions) (err error) {
	if o.UIDMap, err = parseIDMap(m.uids, "--chown-map"); err != nil {
		return err
	}
	o.GIDMap, err = parseIDMap(m.gids, "--chgrp-map")
	return err
}

// stallFlag checks --stall-timeout; its 0 (never) is the options' -1.
func stallFlag(o *sync.FilesOptions) error {
	switch {
	case o.StallTimeout < 0:
		return errs.Usagef("--stall-timeout must be ≥ 0")
	case o.StallTimeout == 0:
		o.StallTimeout = -1
	}
	return nil
}

// addSSHFlags adds the flags that say how to reach an SFTP host.
func addSSHFlags(c *cobra.Command, o *store.SSHOptions) {
	f := c.Flags()
	f.StringVar(&o.KeyFile, "ssh-key", "", "SSH private key `FILE` (default: the SSH agent, else ~/.ssh/id_*)")
	f.StringVar(&o.KnownHosts, "known-hosts", "", "known_hosts `FILE` for host key checks (default ~/.ssh/known_hosts)")
	f.StringVar(&o.PasswordFile, "ssh-password-file", "", "the SSH password on the first line of `FILE`, tried after the keys (or set CUTOVER_SSH_PASSWORD; never on the command line)")
	f.StringVar(&o.Jump, "ssh-jump", "", "connect through the jump host `[user@]host[:port]` (as ssh -J; its host key is checked too)")
	f.BoolVar(&o.LowPriority, "low-priority", false, "on an SFTP host, run cutover's commands (find, tar, hashing) and their SSH session at nice 19 and the lowest best-effort I/O priority, for a rehearsal on a VM that serves users")
}

func applyFilters(o *sync.FilesOptions, rules []string) error {
	for _, r := range rules {
		if err := o.Filter.Add(strings.HasPrefix(r, "+ "), r[2:]); err != nil {
			return errs.Usagef("--include/--exclude: %w", err)
		}
	}
	return nil
}

func printSummary(rep *sync.FilesReport) {
	f := rep.Files
	switch {
	case rep.Command == "files verify": // compares, copies nothing
		fmt.Fprintf(os.Stdout, "%s: %s  scanned %d, compared %d, mismatched %d, failed %d, %.1fs\n",
			rep.Command, strings.ToUpper(rep.Status), f.Scanned, rep.Verify.Checked, rep.Verify.MismatchedCount, f.FailedCount, rep.DurationS)
	case rep.DryRun: // nothing was changed: say what would be
		fmt.Fprintf(os.Stdout, "%s (dry run, nothing changed): %s  scanned %d, would copy %d (%d bytes), unchanged %d, would delete %d, failed %d, %.1fs\n",
			rep.Command, strings.ToUpper(rep.Status), f.Scanned, f.Copied, f.BytesCopied, f.Unchanged, f.Deleted, f.FailedCount, rep.DurationS)
	default:
		fmt.Fprintf(os.Stdout, "%s: %s  scanned %d, copied %d (%d bytes), unchanged %d, deleted %d, failed %d, verified %d, mismatched %d, %.1fs\n",
			rep.Command, strings.ToUpper(rep.Status), f.Scanned, f.Copied, f.BytesCopied, f.Unchanged, f.Deleted, f.FailedCount,
			rep.Verify.Checked, rep.Verify.MismatchedCount, rep.DurationS)
	}
	for _, it := range f.Failed {
		fmt.Fprintf(os.Stdout, "  failed: %q: %s\n", it.Path, it.Reason)
	}
	for _, it := range rep.Verify.Mismatched {
		fmt.Fprintf(os.Stdout, "  mismatch: %q: %s\n", it.Path, it.Reason)
	}
}

// parseRate parses --bwlimit: "50MB", "200KiB", "1.5G", "1000" (bytes a
// second).
func parseRate(s string) (int64, error) {
	n, err := progress.ParseRate(s)
	if err != nil {
		return 0, errs.Usagef("--bwlimit: %w", err)
	}
	return n, nil
}

func parseIDMap(pairs []string, flag string) (map[int]int, error) {
	m := map[int]int{}
	for _, p := range pairs {
		a, b, ok := strings.Cut(p, ":")
		x, err1 := strconv.ParseUint(a, 10, 32)
		y, err2 := strconv.ParseUint(b, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, errs.Usagef("%s %q: want SRC:DST numeric ids (0 to 4294967295)", flag, p)
		}
		m[int(x)] = int(y)
	}
	return m, nil
}

func newFilesVerifyCmd() *cobra.Command {
	var (
		o  sync.FilesOptions
		rf reportFlags
		ff filterFlags
		om ownerMaps
	)
	c := &cobra.Command{
		Use:   "verify SRC DST",
		Short: "Compare SRC and DST as they are now: every entry, every byte (BLAKE3 or SHA-256)",
		Long: `Read both sides as they are now, hash every file on both, and list every
difference: missing, extra, type, size, symlink target, content, and what a
sync sets besides: mode, mtime (to the second) and, as root, owner (through
--chown-map and --chgrp-map, as the sync maps them), of every entry and of
the root itself. A remote
host hashes its own files, so no content travels: with b3sum (BLAKE3) where
it has it, else with openssl or GNU sha256sum (SHA-256); a file it cannot
hash is streamed. The report's verify.hashed_by says which, per side.
Exit 1 on any difference.

` + errs.ExitCodesHelp,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Source, o.Target = args[0], args[1]
			if err := applyFilters(&o, ff.rules); err != nil {
				return err
			}
			if err := om.apply(&o); err != nil {
				return err
			}
			if err := stallFlag(&o); err != nil {
				return err
			}
			o.Log = logOutput()
			rep, runErr := sync.VerifyFiles(cmd.Context(), o)
			runErr = rf.write(rep, runErr)
			printSummary(rep)
			return runErr
		},
	}
	addCommonFileFlags(c, &o, &ff)
	c.Flags().IntVar(&o.Workers, "workers", 8, "parallel hashing")
	om.add(c)
	c.Flags().Float64Var(&o.VerifySample, "sample", 0, "compare the content of only this `FRACTION` of the files, the same ones every run (presence, type and size are checked for all); 0 compares all")
	rf.add(c)
	return c
}
