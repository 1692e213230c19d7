// Package demo runs cutover's main job end to end on generated data: a
// shared home served by an in-process SFTP server is synced into a local
// target, changed, synced again (only the delta travels), and verified.
// It is what `make demo` and `cutover demo` run; it is not used by anything else.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/sftpserver"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/sync"
)

// Options configure the demo.
type Options struct {
	Dir   string
	Files int
	Out   io.Writer // summaries
	Log   io.Writer // progress
}

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	os.RemoveAll(dir)
	src := filepath.Join(dir, "vm-shared-home")
	fmt.Fprintf(o.Out, "== generating a Jira-like shared home with %d files in %s\n", o.Files, src)
	n, err := gentree.Tree(src, gentree.Options{Files: o.Files, Seed: 1})
	if err != nil {
		return err
	}
	if err := gentree.Nasty(src); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "   %.1f MB generated (with nasty names, symlinks and hard links)\n", float64(n)/1e6)
	srv, err := sftpserver.Start(dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	source := "sftp://demo@" + srv.Addr + src
	target := filepath.Join(dir, "efs-shared-home")
	base := sync.FilesOptions{Source: source, Target: target, StateDir: filepath.Join(dir, "state"), Workers: 16,
		MaxDelete: 1000, Verify: "transferred", Log: o.Log, LogInterval: 2 * time.Second,
		SSH: store.SSHOptions{KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Conns: 4}}
	base.Filter.Add(false, "tmp/**")
	base.Filter.Add(false, "log/**")

	step := func(title, name string, o2 sync.FilesOptions) error {
		fmt.Fprintf(o.Out, "\n== %s\n   cutover files sync %s %s --exclude 'tmp/**' --exclude 'log/**'%s\n", title, source, target, flags(o2))
		rep, err := sync.SyncFiles(ctx, o2)
		report.WriteJSON(filepath.Join(dir, name+".json"), rep)
		report.WriteText(filepath.Join(dir, name+".md"), rep.Markdown())
		f := rep.Files
		fmt.Fprintf(o.Out, "   %s in %.2fs: scanned %d, copied %d (%.1f MB), unchanged %d, deleted %d, verified %d, failed %d\n   reports: %s.json, %s.md\n",
			rep.Status, rep.DurationS, f.Scanned, f.Copied, float64(f.BytesCopied)/1e6, f.Unchanged, f.Deleted, rep.Verify.Checked, f.FailedCount,
			filepath.Join(dir, name), filepath.Join(dir, name))
		return err
	}
	if err := step("rehearsal 1: full copy while the application runs", "report-1", base); err != nil {
		return err
	}
	if err := step("rehearsal 2: nothing changed", "report-2", base); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\n== the application writes: 30 new attachments, 20 changed, 10 deleted\n")
	if err := mutate(src); err != nil {
		return err
	}
	final := base
	final.Delete = true
	if err := step("final: last delta with deletions", "report-final", final); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\n== cutover files verify (every byte, both sides)\n")
	vo := base
	vrep, err := sync.VerifyFiles(ctx, vo)
	report.WriteJSON(filepath.Join(dir, "verify.json"), vrep)
	fmt.Fprintf(o.Out, "   %s: %d entries checked, %d mismatched\n", vrep.Status, vrep.Verify.Checked, vrep.Verify.MismatchedCount)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\nGO: the target equals the source. Markdown report: %s\n", filepath.Join(dir, "report-final.md"))
	return nil
}

func flags(o sync.FilesOptions) string {
	if o.Delete {
		return " --delete"
	}
	return ""
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
