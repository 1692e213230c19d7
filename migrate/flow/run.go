package flow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"time"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/migrate/pgcopy"
	"github.com/cutover/cutover/sync"
	"github.com/cutover/cutover/sync/index"
)

// FlowReport is the JSON report of `presync` and `final`.
type FlowReport struct {
	Command string `json:"command"`
	Config  string `json:"config"`
	report.Outcome
	Verdict     string   `json:"verdict,omitempty"` // final: GO or NO-GO
	Preflight   []Check  `json:"preflight,omitempty"`
	PredictedS  float64  `json:"predicted_s"` // this phase, as planned before it started
	WindowLowS  float64  `json:"window_low_s,omitempty"`
	WindowHighS float64  `json:"window_high_s,omitempty"`
	ActualS     float64  `json:"actual_s"`
	NextWindowS float64  `json:"next_window_s,omitempty"` // presync: the final window predicted now
	Parts       []*Part  `json:"parts"`
	Mismatches  []string `json:"mismatches"` // everything that did not match or failed, exactly
}

// Part is one file set, database or index set of a flow run.
type Part struct {
	Kind       string  `json:"kind"`
	Name       string  `json:"name"`
	PredictedS float64 `json:"predicted_s"`
	ActualS    float64 `json:"actual_s"`
	Status     string  `json:"status"`
	Error      string  `json:"error,omitempty"`
	Report     any     `json:"report"` // the part's own report, as its single command writes it
	bytes      int64   // for the model: what this part moved or must bound on
	items      int64
}

// Check is one preflight check of final.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Presync runs a rehearsal: file deltas (deletions only with Delete),
// index ships, and a database copy into each rehearsal target (replacing
// the previous one) with its verify. It records predicted and actual times
// and predicts the final window again.
func (r *Runner) Presync(ctx context.Context) (*FlowReport, error) {
	rep := &FlowReport{Command: "presync", Config: r.Cfg.Path, Outcome: report.Started(), Parts: []*Part{}, Mismatches: []string{}}
	err := r.presync(ctx, rep)
	return rep, r.finishFlow(rep, err)
}

func (r *Runner) presync(ctx context.Context, rep *FlowReport) error {
	plan, err := r.Plan(ctx)
	if err != nil {
		return err
	}
	predicted := estimates(plan, "presync")
	rep.PredictedS = plan.Phases[1].EstimateS
	flow, err := r.beginFlow(ctx, "presync", rep.PredictedS)
	if err != nil {
		return err
	}
	t0 := time.Now()
	parts := r.parts(plan, predicted, true)
	r.runParts(ctx, parts, false)
	rep.ActualS = time.Since(t0).Seconds()
	rep.Parts = parts
	collect(rep)
	if err := r.recordFlow(ctx, flow, rep); err != nil {
		return err
	}
	if next, err := r.Plan(ctx); err == nil {
		rep.NextWindowS, rep.WindowLowS, rep.WindowHighS = next.WindowS, next.WindowLowS, next.WindowHighS
	}
	return nil
}

// Final runs the migration night: preflight, then at once the last file
// delta with deletions, the database copy and the index ships, then full
// verification and the GO/NO-GO report.
func (r *Runner) Final(ctx context.Context) (*FlowReport, error) {
	rep := &FlowReport{Command: "final", Config: r.Cfg.Path, Outcome: report.Started(), Parts: []*Part{}, Mismatches: []string{}, Verdict: "NO-GO"}
	err := r.final(ctx, rep)
	err = r.finishFlow(rep, err)
	// The go/no-go report also stays in the state directory.
	stamp := rep.StartedAt.Format("20060102T150405Z")
	report.WriteJSON(filepath.Join(r.Cfg.State, "final-"+stamp+".json"), rep)
	report.WriteText(filepath.Join(r.Cfg.State, "final-"+stamp+".md"), rep.Markdown())
	return rep, err
}

func (r *Runner) final(ctx context.Context, rep *FlowReport) error {
	plan, err := r.Plan(ctx)
	if err != nil {
		return err
	}
	rep.PredictedS, rep.WindowLowS, rep.WindowHighS = plan.WindowS, plan.WindowLowS, plan.WindowHighS
	rep.Preflight = r.preflight(ctx, plan)
	var failed []string
	for _, c := range rep.Preflight {
		if !c.OK {
			failed = append(failed, c.Name+": "+c.Detail)
		}
	}
	if len(failed) > 0 {
		if !r.Opt.Force {
			return errs.Fatalf("preflight failed, nothing was started (--force starts anyway): %s", strings.Join(failed, "; "))
		}
		r.Opt.logf("final: preflight failed, starting anyway (--force): %s", strings.Join(failed, "; "))
	}
	flow, err := r.beginFlow(ctx, "final", rep.PredictedS)
	if err != nil {
		return err
	}
	t0 := time.Now()
	parts := r.parts(plan, estimates(plan, "final"), false)
	r.runParts(ctx, parts, true)
	rep.ActualS = time.Since(t0).Seconds()
	rep.Parts = parts
	collect(rep)
	if len(rep.Mismatches) == 0 && ctx.Err() == nil {
		rep.Verdict = "GO"
	}
	return r.recordFlow(ctx, flow, rep)
}

// estimates maps kind/name to a phase's estimate.
func estimates(p *PlanReport, phase string) map[string]float64 {
	m := map[string]float64{}
	for _, ph := range p.Phases {
		if ph.Name == phase {
			for _, pe := range ph.Parts {
				m[pe.Kind+"/"+pe.Name] = pe.EstimateS
			}
		}
	}
	return m
}

// parts lists what a presync (rehearsal) or final moves.
func (r *Runner) parts(plan *PlanReport, predicted map[string]float64, rehearsal bool) []*Part {
	var out []*Part
	for _, f := range r.Cfg.Files {
		out = append(out, &Part{Kind: "files", Name: f.Name, PredictedS: predicted["files/"+f.Name]})
	}
	for i, d := range r.Cfg.Databases {
		if rehearsal && d.RehearsalTarget == "" {
			continue
		}
		p := &Part{Kind: "database", Name: d.Name, PredictedS: predicted["database/"+d.Name]}
		if i < len(plan.Inventory.Databases) {
			p.bytes, p.items = plan.Inventory.Databases[i].par, plan.Inventory.Databases[i].Rows
		}
		out = append(out, p)
	}
	for _, x := range r.Cfg.Indexes {
		out = append(out, &Part{Kind: "index", Name: x.Name, PredictedS: predicted["index/"+x.Name]})
	}
	return out
}

// runParts runs every part at once: they load different machines.
func (r *Runner) runParts(ctx context.Context, parts []*Part, final bool) {
	var wg gosync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func(p *Part) {
			defer wg.Done()
			t0 := time.Now()
			err := r.runPart(ctx, p, final)
			p.ActualS = time.Since(t0).Seconds()
			p.Status = "ok"
			if err != nil {
				p.Status, p.Error = errs.Status(err), err.Error()
			}
			r.Opt.logf("%s %s: %s in %.1fs (predicted %.1fs)", p.Kind, p.Name, p.Status, p.ActualS, p.PredictedS)
		}(p)
	}
	wg.Wait()
}

func (r *Runner) runPart(ctx context.Context, p *Part, final bool) error {
	switch p.Kind {
	case "files":
		o, err := r.filesOptions(r.fileSet(p.Name), !final)
		if err != nil {
			return err
		}
		o.Delete = final || r.Opt.Delete
		checkAll := final && r.Cfg.Verify == "all"
		if checkAll {
			// The full check below reads every file on both sides: the
			// sync's own read-back of every recorded file would read the
			// target twice on migration night. What the check finds is
			// redone after it (below).
			o.Verify = "transferred"
		}
		rep, err := sync.SyncFiles(ctx, o)
		p.Report, p.bytes, p.items = rep, rep.Files.BytesCopied, rep.Files.Copied
		if err != nil || !final || (r.Cfg.Verify != "all" && r.Cfg.VerifySample <= 0) {
			return err
		}
		// After the final delta: every entry's presence, type and size, and
		// the content of all files (verify: all) or of a fixed sample.
		if r.Cfg.Verify != "all" {
			o.VerifySample = r.Cfg.VerifySample
		}
		vrep, err := sync.VerifyFiles(ctx, o)
		p.Report = map[string]any{"sync": rep, "verify": vrep}
		if !checkAll || errs.ExitCode(err) != errs.ExitPartial || vrep.Files.FailedCount > 0 {
			return err
		}
		// A file that differs in content alone (same size and mtime: a
		// fault of the storage, a tool that kept the mtime) passed the
		// sync's comparison with the target's listing. The sync's
		// read-back of every recorded file redoes it; the check runs again.
		o.Verify = "all"
		fmt.Fprintf(o.Log, "%d entries differ after the final delta: redoing them, then checking again\n", vrep.Verify.MismatchedCount)
		rrep, err := sync.SyncFiles(ctx, o)
		p.Report = map[string]any{"sync": rep, "verify": vrep, "repair": rrep}
		p.bytes, p.items = p.bytes+rrep.Files.BytesCopied, p.items+rrep.Files.Copied
		if err != nil {
			return err
		}
		again, err := sync.VerifyFiles(ctx, o)
		p.Report = map[string]any{"sync": rep, "verify": vrep, "repair": rrep, "recheck": again}
		return err
	case "database":
		d := r.database(p.Name)
		o, err := r.dbOptions(d, !final)
		if err != nil {
			return err
		}
		if final {
			o.DropTarget = r.Opt.DropTarget
			if st, err := state.Open(o.StateDir); err == nil {
				if pair, err := st.Pair(ctx, "db", o.Source.Redacted(), o.Target.Redacted()); err == nil {
					items, _ := st.DBItems(ctx, pair)
					o.Resume = len(items) > 0 && !o.DropTarget
				}
				st.Close()
			}
		} else {
			o.DropTarget = true // each rehearsal replaces the previous one
		}
		rep, err := pgcopy.Copy(ctx, o)
		p.Report = rep
		return err
	case "index":
		x := r.indexSet(p.Name)
		o := r.indexOptions(x, !final)
		rep, err := index.Ship(ctx, x.Source, x.Target, o)
		p.Report, p.bytes, p.items = rep, rep.Totals.BytesShipped, int64(rep.Totals.FilesShipped)
		if err != nil || !final {
			return err
		}
		o.Full = true
		vrep, err := index.Verify(ctx, x.Target, o)
		p.Report = map[string]any{"ship": rep, "verify": vrep}
		return err
	}
	return fmt.Errorf("unknown part kind %q", p.Kind)
}

// collect gathers the exact list of what failed or did not match.
func collect(rep *FlowReport) {
	for _, p := range rep.Parts {
		if p.Status != "ok" {
			rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("%s %s: %s", p.Kind, p.Name, p.Error))
		}
		switch r := p.Report.(type) {
		case *pgcopy.Report:
			if v := r.Verify; v != nil {
				for _, m := range v.Mismatched {
					rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("database %s: table %s [%s, %s): %s", p.Name, m.Table, m.KeyFrom, m.KeyTo, m.What))
				}
				for _, m := range v.Sequences {
					rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("database %s: sequence %s: %s", p.Name, m.Table, m.What))
				}
				for _, d := range v.Definitions {
					rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("database %s: %s", p.Name, d))
				}
			}
		case *sync.FilesReport:
			for _, it := range r.Verify.Mismatched {
				rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("files %s: %q: %s", p.Name, it.Path, it.Reason))
			}
			for _, it := range r.Files.Failed {
				rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("files %s: %q: %s", p.Name, it.Path, it.Reason))
			}
		}
	}
}

// openState opens the flow's own state (the parts keep theirs in
// sub-directories); it is held only while recording.
func (r *Runner) openState() (*state.State, error) {
	if err := os.MkdirAll(r.Cfg.State, 0o700); err != nil {
		return nil, errs.Fatalf("%w", err)
	}
	st, err := state.Open(r.Cfg.State)
	if err != nil {
		return nil, errs.Fatalf("%w", err)
	}
	return st, nil
}

func (r *Runner) beginFlow(ctx context.Context, phase string, predicted float64) (int64, error) {
	st, err := r.openState()
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.BeginFlow(ctx, phase, predicted)
}

func (r *Runner) recordFlow(ctx context.Context, id int64, rep *FlowReport) error {
	st, err := r.openState()
	if err != nil {
		return err
	}
	defer st.Close()
	fr := state.FlowRun{ID: id, Status: "ok", ActualS: rep.ActualS, Verdict: rep.Verdict}
	for _, p := range rep.Parts {
		if p.Status != "ok" {
			fr.Status = "partial"
		}
		fr.Parts = append(fr.Parts, state.FlowPart{Kind: p.Kind, Name: p.Name, PredictedS: p.PredictedS, ActualS: p.ActualS,
			Status: p.Status, Bytes: p.bytes, Items: p.items})
	}
	return st.FinishFlow(context.WithoutCancel(ctx), fr)
}

func (r *Runner) finishFlow(rep *FlowReport, err error) error {
	if err == nil && len(rep.Mismatches) > 0 {
		err = &errs.PartialError{Failed: len(rep.Mismatches)}
	}
	rep.Finish(err)
	return err
}

// preflight checks final's preconditions without changing anything.
func (r *Runner) preflight(ctx context.Context, plan *PlanReport) []Check {
	var out []Check
	quiet := time.Duration(r.Cfg.QuietMinutes * float64(time.Minute))
	for _, f := range plan.Inventory.Files {
		age := r.Opt.now().Sub(f.NewestMtime)
		c := Check{Name: "files " + f.Name + " quiet", OK: quiet <= 0 || f.NewestMtime.IsZero() || age >= quiet}
		c.Detail = fmt.Sprintf("newest change %s ago (quiet_minutes %g)", age.Round(time.Second), r.Cfg.QuietMinutes)
		if !c.OK {
			c.Detail = fmt.Sprintf("a file changed %s ago, within quiet_minutes %g: is the application stopped?", age.Round(time.Second), r.Cfg.QuietMinutes)
		}
		out = append(out, c)
	}
	for _, d := range r.Cfg.Databases {
		out = append(out, r.dbPreflight(ctx, d)...)
	}
	return out
}

const appSessions = `SELECT coalesce(string_agg(DISTINCT coalesce(nullif(application_name, ''), '(unnamed)') || ' as ' || usename ||
       coalesce(' from ' || host(client_addr), ''), ', '), ''), count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND application_name NOT LIKE 'cutover%'`

func (r *Runner) dbPreflight(ctx context.Context, d config.Database) []Check {
	src := pg.Endpoint{Side: "source", DSN: d.Source, IAMAuth: d.AWSIAMAuth, Region: d.AWSRegion}
	dst := pg.Endpoint{Side: "target", DSN: d.Target, IAMAuth: d.AWSIAMAuth, Region: d.AWSRegion}
	quiet := Check{Name: "database " + d.Name + " quiet"}
	reach := Check{Name: "database " + d.Name + " target"}
	sc, err := src.Connect(ctx, pg.SourceParams())
	if err != nil {
		quiet.Detail = err.Error()
		return []Check{quiet}
	}
	defer sc.Close(context.WithoutCancel(ctx))
	var who string
	var n int
	if err := sc.QueryRow(ctx, appSessions).Scan(&who, &n); err != nil {
		quiet.Detail = err.Error()
	} else if n > 0 {
		quiet.Detail = fmt.Sprintf("%d sessions on the source database: %s (stop the application)", n, who)
	} else {
		quiet.OK, quiet.Detail = true, "no application session on the source database"
	}
	tc, err := dst.Connect(ctx, pg.TargetParams(""))
	if err != nil {
		reach.Detail = err.Error()
		return []Check{quiet, reach}
	}
	defer tc.Close(context.WithoutCancel(ctx))
	si, err1 := pg.Info(ctx, sc)
	ti, err2 := pg.Info(ctx, tc)
	switch {
	case err1 != nil || err2 != nil:
		reach.Detail = fmt.Sprintf("read server settings: %v %v", err1, err2)
	default:
		var missing []string
		for e := range si.Extensions {
			if _, ok := ti.Extensions[e]; !ok && !ti.Available[e] {
				missing = append(missing, e)
			}
		}
		reach.OK = len(missing) == 0 && si.Encoding == ti.Encoding && ti.Major >= si.Major
		reach.Detail = fmt.Sprintf("reachable; PostgreSQL %d → %d, encoding %s → %s", si.Major, ti.Major, si.Encoding, ti.Encoding)
		if len(missing) > 0 {
			reach.Detail += "; extensions the target lacks: " + strings.Join(missing, ", ")
		}
	}
	return []Check{quiet, reach}
}
