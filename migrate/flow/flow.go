package flow

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate/pgcopy"
	"github.com/cutover/cutover/sync"
	"github.com/cutover/cutover/sync/index"
)

// Options tune a flow command beyond the config.
type Options struct {
	Log         io.Writer
	LogInterval time.Duration
	Force       bool // final: start although the preflight failed
	DropTarget  bool // final: drop the source's schemas on a non-empty target
	Delete      bool // presync: mirror deletions too
	// BWLimit (presync's --bwlimit): the cap on every file set's read rate
	// from its source, bytes a second (0: none), in place of each set's
	// rehearsal_bwlimit; nil: those.
	BWLimit *int64
	// QuietCheck replaces the time source of final's quiet check (tests).
	Now func() time.Time
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Runner runs flow commands for one config.
type Runner struct {
	Cfg *config.Config
	Opt Options
}

func (r *Runner) filesState(name string) string { return filepath.Join(r.Cfg.State, "files", name) }
func (r *Runner) dbState(name string) string    { return filepath.Join(r.Cfg.State, "db", name) }

func sshOptions(s config.SSH, workers int) store.SSHOptions {
	return store.SSHOptions{KeyFile: s.SSHKey, KnownHosts: s.KnownHosts, PasswordFile: s.SSHPasswordFile, Jump: s.SSHJump,
		Conns: min(max(workers/4, 1), 8)}
}

// rehearsalRate is the cap on a file set's reads from its source during a
// presync (0: none). The final is never capped: the application is down.
func (r *Runner) rehearsalRate(f config.FileSet) int64 {
	if r.Opt.BWLimit != nil {
		return *r.Opt.BWLimit
	}
	return f.RehearsalRate
}

// filesOptions turns a file set into `files sync` options, for a
// rehearsal (presync: capped and at low priority, as the set says) or not.
func (r *Runner) filesOptions(f config.FileSet, rehearsal bool) (sync.FilesOptions, error) {
	o := sync.FilesOptions{
		Source: f.Source, Target: f.Target, StateDir: r.filesState(f.Name),
		Workers: r.Cfg.Workers, MaxDelete: r.Cfg.MaxDelete, Verify: r.Cfg.Verify,
		UIDMap: config.IDMap(f.ChownMap), GIDMap: config.IDMap(f.ChgrpMap),
		SSH: sshOptions(f.SSH, r.Cfg.Workers), Log: progress.Prefixed(r.Opt.Log, "files "+f.Name+": "), LogInterval: r.Opt.LogInterval,
	}
	if rehearsal {
		o.BWLimit, o.SSH.LowPriority = r.rehearsalRate(f), f.RehearsalLowPriority
	}
	for _, p := range f.Include {
		if err := o.Filter.Add(true, p); err != nil {
			return o, errs.Usagef("files %q: include %q: %w", f.Name, p, err)
		}
	}
	for _, p := range f.Exclude {
		if err := o.Filter.Add(false, p); err != nil {
			return o, errs.Usagef("files %q: exclude %q: %w", f.Name, p, err)
		}
	}
	return o, nil
}

// dbOptions turns a database into `db copy` options toward its final
// target or, for a rehearsal, its rehearsal target (each with its own state).
func (r *Runner) dbOptions(d config.Database, rehearsal bool) (pgcopy.Options, error) {
	target, kind := d.Target, "final"
	if rehearsal {
		target, kind = d.RehearsalTarget, "rehearsal"
	}
	o := pgcopy.Options{
		Source:      pg.Endpoint{DSN: d.Source, IAMAuth: d.AWSIAMAuth, Region: d.AWSRegion},
		Target:      pg.Endpoint{DSN: target, IAMAuth: d.AWSIAMAuth, Region: d.AWSRegion},
		StateDir:    r.dbState(d.Name + "-" + kind),
		Jobs:        r.Cfg.Jobs,
		TargetOwner: d.TargetOwner,
		CopyFormat:  d.CopyFormat,
		Verify:      "all",
		Log:         progress.Prefixed(r.Opt.Log, "database "+d.Name+": "), LogInterval: r.Opt.LogInterval,
	}
	if d.SplitLargerThan != "" {
		n, err := progress.ParseBytes(d.SplitLargerThan)
		if err != nil {
			return o, errs.Usagef("databases %q: split_larger_than: %w", d.Name, err)
		}
		o.SplitLargerThan = n
	}
	return o, nil
}

// indexOptions turns an index set into index ship options, for a
// rehearsal (presync) or not.
func (r *Runner) indexOptions(x config.IndexSet, rehearsal bool) index.Options {
	o := index.Options{SSH: sshOptions(x.SSH, r.Cfg.Workers), Workers: min(r.Cfg.Workers, 8),
		Log: progress.Prefixed(r.Opt.Log, "index "+x.Name+": "), LogInterval: r.Opt.LogInterval}
	o.SSH.LowPriority = rehearsal && x.RehearsalLowPriority
	return o
}
