package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/migrate/flow"
)

// flowFlags are the flags of plan, presync, final and status.
type flowFlags struct {
	cfg string
	rf  reportFlags
	opt flow.Options
	bw  string // presync --bwlimit; "": each file set's rehearsal_bwlimit
}

func (f *flowFlags) add(c *cobra.Command, reports bool) {
	c.Flags().StringVarP(&f.cfg, "config", "c", "cutover.yaml", "the installation's config `FILE` (see cutover init)")
	c.Flags().DurationVar(&f.opt.LogInterval, "log-interval", 5*time.Second, "interval of progress lines when stderr is not a terminal")
	if reports {
		f.rf.add(c)
	}
}

func (f *flowFlags) runner() (*flow.Runner, error) {
	if f.bw != "" {
		n, err := parseRate(f.bw)
		if err != nil {
			return nil, err
		}
		f.opt.BWLimit = &n
	}
	cfg, err := config.Load(f.cfg)
	if err != nil {
		return nil, err
	}
	f.opt.Log = logOutput()
	return &flow.Runner{Cfg: cfg, Opt: f.opt}, nil
}

// run is the RunE of plan, presync and final: load the config, run the
// step, write the reports, print the Markdown.
func (f *flowFlags) run(step func(context.Context, *flow.Runner) (markdowner, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		r, err := f.runner()
		if err != nil {
			return err
		}
		rep, runErr := step(cmd.Context(), r)
		runErr = f.rf.write(rep, runErr)
		fmt.Print(rep.Markdown())
		return runErr
	}
}

func newInitCmd() *cobra.Command {
	var product, out string
	var force bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Write a commented cutover.yaml with defaults for Jira, Confluence or Bitbucket",
		Long: `Write a commented cutover.yaml: the shared home to move (with the directories
not worth moving as excludes, said in comments so they can be changed), the
database (RDS DSN placeholders with sslmode=verify-full), the node index sets,
and uid/gid maps to the 2001 of Atlassian's container images. Edit it, then run
cutover plan.

` + errs.ExitCodesHelp,
		Example: `  cutover init --product jira && $EDITOR cutover.yaml && cutover plan`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := config.Template(product)
			if err != nil {
				return errs.Usagef("--product: %w", err)
			}
			if _, err := os.Stat(out); err == nil && !force {
				return errs.Fatalf("%s exists: pass --force to overwrite it", out)
			}
			if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
				return errs.Fatalf("%w", err)
			}
			fmt.Printf("wrote %s for %s: edit the sources, targets and DSNs, then run: cutover plan -c %s\n", out, product, out)
			return nil
		},
	}
	c.Flags().StringVar(&product, "product", "jira", "jira|confluence|bitbucket")
	c.Flags().StringVarP(&out, "config", "c", "cutover.yaml", "the `FILE` to write")
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return c
}

func newPlanCmd() *cobra.Command {
	var f flowFlags
	c := &cobra.Command{
		Use:   "plan",
		Short: "Inventory every source, diff it against the state, and predict each phase and the downtime window",
		Long: `Inventory every source (files by top-level directory, database tables, index
sets), the delta against the state, and the phases bulk, presync and final with
estimated durations: from a throughput model fitted to the earlier runs, or,
with no history, from a short probe that only reads the sources and writes into
a scratch location at each target that it removes. Prints the predicted
downtime window (the final phase) with a range, and how many deletions the
final mirror would make. Changes nothing.

` + errs.ExitCodesHelp,
		Args: cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, r *flow.Runner) (markdowner, error) { return r.Plan(ctx) }),
	}
	f.add(c, true)
	return c
}

func newPresyncCmd() *cobra.Command {
	var f flowFlags
	c := &cobra.Command{
		Use:   "presync",
		Short: "A rehearsal while the application runs: file deltas, index ships, a database copy into the rehearsal target",
		Long: `Run a rehearsal: the file sets' deltas (no deletions unless --delete), the index
sets shipped, and for each database with a rehearsal_target a copy into it
(replacing the previous one) with its verify. Records everything; prints
predicted against actual per part and the newly predicted final window.
Reads from each file set's source at most at its rehearsal_bwlimit (the VM
still serves users), or at --bwlimit for all of them; the final is never
capped, and rehearsals their cap held back do not time the final's copy.

` + errs.ExitCodesHelp,
		Args: cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, r *flow.Runner) (markdowner, error) { return r.Presync(ctx) }),
	}
	c.Flags().BoolVar(&f.opt.Delete, "delete", false, "mirror deletions too (the final always does)")
	c.Flags().StringVar(&f.bw, "bwlimit", "", "cap every file set's read rate from its source, e.g. 50MB (a second; 0: no cap), in place of its rehearsal_bwlimit")
	f.add(c, true)
	return c
}

func newFinalCmd() *cobra.Command {
	var f flowFlags
	c := &cobra.Command{
		Use:   "final",
		Short: "The migration night: preflight, last file delta with deletions, database copy, index ships, full verification, GO/NO-GO",
		Long: `Run the cutover. Preflight first: no application session on the source
databases, no shared-home change for quiet_minutes, targets reachable with a
fitting version and extensions; refused (exit 3) unless it passes or --force.
Then at once: each file set's last delta with deletions (max_delete applies),
each database copied into its target, each index set shipped; then full
verification (files as 'verify' says, databases by db verify, indexes by
verify --full). Writes the go/no-go report (JSON and Markdown, also into the
state directory). Exit 0 only on GO; 1 is NO-GO.

` + errs.ExitCodesHelp,
		Args: cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, r *flow.Runner) (markdowner, error) { return r.Final(ctx) }),
	}
	c.Flags().BoolVar(&f.opt.Force, "force", false, "start although the preflight failed")
	c.Flags().BoolVar(&f.opt.DropTarget, "drop-target", false, "drop the source's schemas on a target database that is not empty")
	f.add(c, true)
	return c
}

func newStatusCmd() *cobra.Command {
	var f flowFlags
	c := &cobra.Command{
		Use:   "status",
		Short: "The history of presync and final runs, predicted against actual",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := f.runner()
			if err != nil {
				return err
			}
			runs, err := r.Status(cmd.Context())
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				fmt.Println("no presync or final has run yet: start with cutover plan, then cutover presync")
				return nil
			}
			fmt.Println("| # | phase | started | status | verdict | predicted s | actual s | parts (predicted → actual s) |")
			fmt.Println("|---|---|---|---|---|---|---|---|")
			for _, fr := range runs {
				var parts []string
				for _, p := range fr.Parts {
					parts = append(parts, fmt.Sprintf("%s %s %.1f → %.1f", p.Kind, p.Name, p.PredictedS, p.ActualS))
				}
				fmt.Printf("| %d | %s | %s | %s | %s | %.1f | %.1f | %s |\n", fr.ID, fr.Phase, fr.Started.Format(time.RFC3339), fr.Status,
					fr.Verdict, fr.PredictedS, fr.ActualS, strings.Join(parts, "; "))
			}
			return nil
		},
	}
	f.add(c, false)
	return c
}
