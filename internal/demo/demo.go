// Package demo runs cutover's whole flow on generated data: a shared home
// served by an in-process SFTP server, throwaway PostgreSQL clusters (when
// PostgreSQL is installed) and a Lucene index made by real Lucene (when Java
// and Lucene 8 are), driven from a generated cutover.yaml through plan,
// presync, presync and final to a GO/NO-GO report. It is what `make demo`
// and `cutover demo` run; it is not used by anything else.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/sftpserver"
	"github.com/cutover/cutover/migrate/flow"
)

// Options configure the demo.
type Options struct {
	Dir   string
	Files int
	Out   io.Writer // summaries
	Log   io.Writer // progress
	// Serve keeps the SFTP server and the clusters running after the flow,
	// until ctx ends, so that the config can be driven by hand.
	Serve bool
}

// Run runs the whole flow on generated data: plan → presync → the
// application writes → presync → final, with a GO/NO-GO report. The
// database part needs PostgreSQL's binaries and the index part Java with
// Lucene 8; each is skipped, with a line saying how to enable it, when its
// programs are missing.
func Run(ctx context.Context, o Options) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := filepath.Join(dir, "vm-shared-home")
	fmt.Fprintf(o.Out, "== a Jira-like shared home with %d files in %s\n", o.Files, src)
	n, err := gentree.Tree(src, gentree.Options{Files: o.Files, Seed: 1})
	if err != nil {
		return err
	}
	if err := gentree.Nasty(src); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "   %.1f MB (with nasty names, symlinks and hard links), served by an in-process SFTP server\n", float64(n)/1e6)
	srv, err := sftpserver.Start(dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	cfg := fmt.Sprintf(`state: ./state
workers: 16
jobs: 2
max_delete: 1000
verify: transferred
quiet_minutes: 0   # the demo's "application" stops right before the final
files:
  - name: shared-home
    source: sftp://demo@%s%s
    target: ./efs/shared
    exclude: ["tmp/**", "log/**"]
    ssh_key: %s
    known_hosts: %s
`, srv.Addr, src, srv.KeyFile, srv.KnownHosts)
	db, err := startDatabases(dir, o.Out)
	if err != nil {
		return err
	}
	if db != nil {
		defer db.stop()
		cfg += fmt.Sprintf("databases:\n  - name: jira\n    source: %s\n    target: %s\n    rehearsal_target: %s\n",
			db.src.AdminDSN("jiradb"), db.dst.AdminDSN("jiradb"), db.dst.AdminDSN("rehearsal"))
	}
	lucene := findLucene()
	if lucene != "" {
		fmt.Fprintf(o.Out, "== a Lucene index made by real Lucene 8 on node 0\n")
		if err := indexDocs(lucene, dir, 0); err != nil {
			return err
		}
		cfg += fmt.Sprintf("indexes:\n  - name: node-1\n    source: %s\n    target: ./node1/indexesV1\n", filepath.Join(dir, "node0", "indexesV1"))
	} else {
		fmt.Fprintf(o.Out, "== index part skipped: install Java and Lucene 8 to include it (apt-get install default-jre-headless liblucene8-java)\n")
	}
	cfgPath := filepath.Join(dir, "cutover.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	r := &flow.Runner{Cfg: c, Opt: flow.Options{Log: o.Log, LogInterval: 2 * time.Second}}
	fmt.Fprintf(o.Out, "\n== cutover plan -c %s\n", cfgPath)
	plan, err := r.Plan(ctx)
	if err != nil {
		return err
	}
	report.WriteJSON(filepath.Join(dir, "plan.json"), plan)
	fmt.Fprintf(o.Out, "   phases: bulk %.1fs, presync %.1fs, final %.1fs; predicted window %.1fs (%.1f–%.1fs); pending deletions %d\n",
		plan.Phases[0].EstimateS, plan.Phases[1].EstimateS, plan.Phases[2].EstimateS, plan.WindowS, plan.WindowLowS, plan.WindowHighS, plan.PendingDeletions)
	presync := func(i int) error {
		fmt.Fprintf(o.Out, "\n== cutover presync -c %s   (rehearsal %d, the application runs)\n", cfgPath, i)
		rep, err := r.Presync(ctx)
		report.WriteJSON(filepath.Join(dir, fmt.Sprintf("presync-%d.json", i)), rep)
		for _, p := range rep.Parts {
			fmt.Fprintf(o.Out, "   %-8s %-12s %-7s predicted %5.1fs, actual %5.1fs\n", p.Kind, p.Name, p.Status, p.PredictedS, p.ActualS)
		}
		fmt.Fprintf(o.Out, "   the final window predicted now: %.1fs (%.1f–%.1fs)\n", rep.NextWindowS, rep.WindowLowS, rep.WindowHighS)
		return err
	}
	if err := presync(1); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\n== the application writes: 30 new attachments, 20 changed, 10 deleted")
	if err := mutate(src); err != nil {
		return err
	}
	if db != nil {
		fmt.Fprintf(o.Out, "; 500 rows updated, 100 inserted, 50 deleted")
		if err := db.mutate(); err != nil {
			return err
		}
	}
	if lucene != "" {
		fmt.Fprintf(o.Out, "; 20 documents re-indexed")
		if err := indexDocs(lucene, dir, 1); err != nil {
			return err
		}
	}
	fmt.Fprintln(o.Out)
	if err := presync(2); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\n== the application stops. cutover final -c %s\n", cfgPath)
	rep, err := r.Final(ctx)
	report.WriteText(filepath.Join(dir, "final.md"), rep.Markdown())
	report.WriteJSON(filepath.Join(dir, "final.json"), rep)
	fmt.Fprintf(o.Out, "%s\n", indent(rep.Markdown()))
	fmt.Fprintf(o.Out, "%s: reports in %s (final.md, final.json, plan.json, presync-*.json); history: cutover status -c %s\n",
		rep.Verdict, dir, cfgPath)
	if o.Serve && err == nil {
		fmt.Fprintf(o.Out, "\nThe demo's servers keep running until Ctrl-C. In another terminal, change %s and try:\n"+
			"  ./bin/cutover plan -c %[2]s\n  ./bin/cutover presync -c %[2]s\n  ./bin/cutover final -c %[2]s\n  ./bin/cutover status -c %[2]s\n", src, cfgPath)
		<-ctx.Done()
		return nil
	}
	return err
}

func indent(s string) string {
	return "   " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n   ")
}

func mutate(src string) error {
	var files []string
	filepath.Walk(filepath.Join(src, "data"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	now := time.Now()
	for i := 0; i < 30; i++ {
		p := filepath.Join(src, "data/attachments/NEW/10000/NEW-1", fmt.Sprint(20000+i))
		if err := gentree.WriteFile(p, int64(10000+i*1000), uint64(i+99), now); err != nil {
			return err
		}
	}
	for i := 0; i < 20 && i < len(files); i++ {
		if err := gentree.WriteFile(files[i*7%len(files)], 12345, uint64(i+500), now.Add(time.Duration(i)*time.Second)); err != nil {
			return err
		}
	}
	for i := 0; i < 10 && i < len(files); i++ {
		os.Remove(files[len(files)-1-i*3])
	}
	return nil
}
