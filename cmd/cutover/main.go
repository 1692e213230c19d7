// Command cutover moves Atlassian Data Center installations from VMs to
// Kubernetes on AWS: shared-home files, PostgreSQL, and Lucene indexes.
// This file only parses flags and maps errors to exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	gosync "sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/sync"
)

var version = "dev"

// defaultMemoryLimit is the soft memory limit unless GOMEMLIMIT is set.
const defaultMemoryLimit = 256 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first Ctrl-C stops the run cleanly (workers end, the state
		// stays consistent, a partial report is written). A write stuck in
		// the kernel (a hung NFS or EFS mount at the target) can keep that
		// from ending: a second one quits at once, as the signal's default
		// does; the next run cleans up what is left.
		<-ctx.Done()
		stop()
		fmt.Fprintln(logOutput(), "cutover: stopping cleanly and writing the report; press Ctrl-C again to quit at once")
	}()
	if p := os.Getenv("CUTOVER_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f) // stopped before os.Exit below
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the garbage collector works harder before the heap
		// grows past it. A sync lifts it as its listings and plan grow
		// (sync's hold), so that it follows the tree: a 10^6-file sync takes
		// 292 MB resident for its first run and 236 MB for a rerun.
		// GOMEMLIMIT overrides. Under a cgroup's memory limit, the soft
		// limit stays at 90% of it (sync.SoftMemoryLimit).
		debug.SetMemoryLimit(sync.SoftMemoryLimit(defaultMemoryLimit))
	}
	root := newRoot()
	err := root.ExecuteContext(ctx)
	code := errs.ExitCode(err)
	if err != nil {
		var p *errs.PartialError
		switch {
		case errors.As(err, &p):
		case errors.Is(err, errs.ErrMaxDuration):
			fmt.Fprintln(logOutput(), "cutover:", err) // when, and what next
		case code == errs.ExitInterrupted && errors.Is(err, context.Canceled):
			// Not "context canceled": what the user did, and what next.
			fmt.Fprintln(logOutput(), "cutover: interrupted; the state is consistent and the report written, and the same command can be run again")
		default:
			fmt.Fprintln(logOutput(), "cutover:", err)
		}
	}
	pprof.StopCPUProfile()
	if p := os.Getenv("CUTOVER_MEMPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0) // what the run allocated, by call site
			f.Close()
		}
	}
	os.Exit(code)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "cutover",
		Short: "Migrate Atlassian Data Center (shared home, PostgreSQL, Lucene indexes) from VMs to Kubernetes on AWS",
		Long: `cutover copies a Jira, Confluence or Bitbucket shared home from a VM (over SFTP)
onto EFS, the PostgreSQL database into RDS, and ships Lucene indexes between
nodes: rehearsals copy only what changed, the final cutover verifies every byte.

` + errs.ExitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return errs.Wrap(errs.Usage, err) })
	root.AddCommand(newInitCmd(), newPlanCmd(), newPresyncCmd(), newFinalCmd(), newStatusCmd(), newFilesCmd(), newDBCmd(), newIndexCmd(), newDemoCmd())
	for _, c := range root.Commands() {
		setUsageErrors(c)
	}
	return root
}

// setUsageErrors makes flag and argument errors exit 2 everywhere.
func setUsageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return errs.Wrap(errs.Usage, err) })
	if c.Args != nil {
		args := c.Args
		c.Args = func(cmd *cobra.Command, a []string) error { return errs.Wrap(errs.Usage, args(cmd, a)) }
	}
	for _, s := range c.Commands() {
		setUsageErrors(s)
	}
}

// logOutput is where commands log, and main says why it stopped: the
// terminal, shared with the progress bar, else stderr with the date and
// time on every line, since such a log is read afterwards. One writer for
// the process, so that all of it takes turns with the bar.
var logOutput = gosync.OnceValue(func() io.Writer {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return progress.NewTerminal(os.Stderr)
	}
	return progress.Stamped(os.Stderr)
})
