package flow

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/sync"
	"github.com/cutover/cutover/sync/index"
)

// PlanReport is the JSON of `cutover plan`.
type PlanReport struct {
	Command          string    `json:"command"`
	Config           string    `json:"config"`
	CreatedAt        time.Time `json:"created_at"`
	DurationS        float64   `json:"duration_s"`
	Status           string    `json:"status"`
	Error            string    `json:"error,omitempty"`
	Inventory        Inventory `json:"inventory"`
	Phases           []Phase   `json:"phases"`
	WindowS          float64   `json:"window_s"`
	WindowLowS       float64   `json:"window_low_s"`
	WindowHighS      float64   `json:"window_high_s"`
	WindowBasis      string    `json:"window_basis"`
	PendingDeletions int64     `json:"pending_deletions"`
	MaxDelete        int       `json:"max_delete"`
}

// Phase is bulk, presync or final.
type Phase struct {
	Name      string         `json:"name"`
	EstimateS float64        `json:"estimate_s"`
	Done      bool           `json:"done,omitempty"` // bulk, once a first copy exists
	Parts     []PartEstimate `json:"parts"`
}

// PartEstimate is one part's share of a phase.
type PartEstimate struct {
	Kind      string  `json:"kind"` // files, database, index
	Name      string  `json:"name"`
	EstimateS float64 `json:"estimate_s"`
	Bytes     int64   `json:"bytes"`
	Items     int64   `json:"items"` // files or rows
	Basis     string  `json:"basis"`
}

// Inventory is what the sources hold and how far the targets lag.
type Inventory struct {
	Files     []FilesInventory `json:"files"`
	Databases []DBInventory    `json:"databases"`
	Indexes   []IndexInventory `json:"indexes"`
}

// FilesInventory describes one file set.
type FilesInventory struct {
	Name             string        `json:"name"`
	Source           string        `json:"source"`
	Entries          int64         `json:"entries"`
	Bytes            int64         `json:"bytes"`
	TopDirs          []sync.TopDir `json:"top_dirs"`
	ChangedFiles     int64         `json:"changed_files"`
	ChangedBytes     int64         `json:"changed_bytes"`
	PendingDeletions int64         `json:"pending_deletions"`
	ListS            float64       `json:"list_s"`
	TargetListS      float64       `json:"target_list_s"` // the final lists the target (it mirrors), beside the source
	FirstCopy        bool          `json:"first_copy"`
	NewestMtime      time.Time     `json:"newest_mtime"`
	FinalCheck       *FinalCheck   `json:"final_check,omitempty"` // verify: all or verify_sample
	model            filesModel
}

// files is how many files the source holds.
func (inv *FilesInventory) files() (n int64) {
	for _, t := range inv.TopDirs {
		n += t.Files
	}
	return n
}

// FinalCheck predicts the check the final runs after its delta with
// verify: all (every file) or verify_sample (a fixed share of them): both
// sides listed again at once, then each checked file hashed on both.
type FinalCheck struct {
	Fraction  float64         `json:"fraction"` // of the files whose content is compared
	EstimateS float64         `json:"estimate_s"`
	Model     sync.CheckModel `json:"model"` // the check's hashing, timed on a sample
	// ProbeError says why the hashing could not be timed (the estimate
	// then counts the listings alone).
	ProbeError string `json:"probe_error,omitempty"`
}

// DBInventory describes one database.
type DBInventory struct {
	Name    string      `json:"name"`
	Source  string      `json:"source"` // redacted
	Tables  int         `json:"tables"`
	Rows    int64       `json:"rows"`
	Bytes   int64       `json:"bytes"`
	Largest []TableSize `json:"largest"`
	par     int64
}

// TableSize is one of the largest tables.
type TableSize struct {
	Name  string `json:"name"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// IndexInventory describes one index set.
type IndexInventory struct {
	Name      string  `json:"name"`
	Source    string  `json:"source"`
	Indexes   int     `json:"indexes"`
	Files     int     `json:"files"`
	Bytes     int64   `json:"bytes"`
	ShipFiles int     `json:"ship_files"`
	ShipBytes int64   `json:"ship_bytes"`
	PlanS     float64 `json:"plan_s"`
	// The final's `index verify --full` after its ship: every byte of the
	// target read and its CRC32 computed, at the rate a sample gave.
	FinalVerifyS     float64 `json:"final_verify_s"`
	FinalVerifyBasis string  `json:"final_verify_basis"`
}

// Plan runs `cutover plan`. It changes nothing: the probe only reads the
// sources and writes into scratch locations at the targets, removed after.
func (r *Runner) Plan(ctx context.Context) (*PlanReport, error) {
	rep := &PlanReport{Command: "plan", Config: r.Cfg.Path, CreatedAt: time.Now().UTC(), MaxDelete: r.Cfg.MaxDelete}
	err := r.plan(ctx, rep)
	rep.DurationS = time.Since(rep.CreatedAt).Seconds()
	rep.Status = "ok"
	if err != nil {
		rep.Status, rep.Error = "failed", err.Error()
	}
	return rep, err
}

func (r *Runner) flows(ctx context.Context) ([]state.FlowRun, error) {
	st, err := r.openState()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Flows(ctx)
}

func (r *Runner) plan(ctx context.Context, rep *PlanReport) error {
	flows, err := r.flows(ctx)
	if err != nil {
		return err
	}
	bulk := Phase{Name: "bulk", Parts: []PartEstimate{}}
	pre := Phase{Name: "presync", Parts: []PartEstimate{}}
	fin := Phase{Name: "final", Parts: []PartEstimate{}}
	fromHistory := true
	for _, f := range r.Cfg.Files {
		inv, err := r.inventoryFiles(ctx, f.Name)
		if err != nil {
			return err
		}
		rep.Inventory.Files = append(rep.Inventory.Files, *inv)
		rep.PendingDeletions += inv.PendingDeletions
		m := inv.model
		fromHistory = fromHistory && strings.HasPrefix(m.Basis, "history")
		files := inv.files()
		// The bulk copy is the first presync's, and presyncs read at most
		// at the set's rehearsal cap; the final reads at full speed.
		limit, preBasis := r.rehearsalRate(f), m.Basis
		if limit > 0 {
			preBasis += fmt.Sprintf("; reads capped at %s (rehearsal_bwlimit)", progress.Rate(limit))
		}
		bulk.Parts = append(bulk.Parts, PartEstimate{Kind: "files", Name: f.Name, Bytes: inv.Bytes, Items: files, Basis: preBasis,
			EstimateS: m.cappedEstimate(inv.Entries, files, inv.Bytes, limit)})
		pre.Parts = append(pre.Parts, PartEstimate{Kind: "files", Name: f.Name, Bytes: inv.ChangedBytes, Items: inv.ChangedFiles, Basis: preBasis,
			EstimateS: m.cappedEstimate(inv.Entries, inv.ChangedFiles, inv.ChangedBytes, limit)})
		delta := m.estimate(inv.Entries, inv.ChangedFiles, inv.ChangedBytes)
		// The final mirrors: it also lists the target, while it lists the
		// source, and removes what the source no longer has.
		final := PartEstimate{Kind: "files", Name: f.Name, Bytes: inv.ChangedBytes, Items: inv.ChangedFiles + inv.PendingDeletions,
			Basis: m.Basis, EstimateS: delta + m.PerFile*float64(inv.PendingDeletions) + math.Max(inv.TargetListS-inv.ListS, 0)}
		if c := inv.FinalCheck; c != nil {
			// Then it checks what it holds against the source.
			final.EstimateS += c.EstimateS
			side := "both sides"
			if c.Model.SourceOnly {
				side = "the source side alone, the target holding none yet"
			}
			rate := "no large files"
			if c.Model.PerByte > 0 {
				rate = fmt.Sprintf("%.0f MB/s", 1e-6/c.Model.PerByte)
			}
			probe := fmt.Sprintf("hashing probed on %s: %.2f s once, %.0f µs per file, %s; %d files, %.1f MB",
				side, c.Model.Fixed, c.Model.PerFile*1e6, rate, c.Model.Files, float64(c.Model.Bytes)/1e6)
			if c.ProbeError != "" {
				probe = "its listings only: the hashing could not be timed: " + c.ProbeError
			}
			final.Basis += fmt.Sprintf("; then the check of %.0f%% of the files' content, %.1f s (%s)", 100*c.Fraction, c.EstimateS, probe)
		}
		fin.Parts = append(fin.Parts, final)
		if !inv.FirstCopy {
			bulk.Done = true
		}
	}
	for _, d := range r.Cfg.Databases {
		inv, m, err := r.inventoryDB(ctx, d.Name, flows)
		if err != nil {
			return err
		}
		rep.Inventory.Databases = append(rep.Inventory.Databases, *inv)
		fromHistory = fromHistory && strings.HasPrefix(m.Basis, "history")
		est := m.estimate(inv.par)
		pe := PartEstimate{Kind: "database", Name: d.Name, Bytes: inv.Bytes, Items: inv.Rows, Basis: m.Basis, EstimateS: est}
		bulk.Parts = append(bulk.Parts, pe)
		if d.RehearsalTarget != "" {
			pre.Parts = append(pre.Parts, pe)
		}
		fin.Parts = append(fin.Parts, pe)
	}
	for _, x := range r.Cfg.Indexes {
		inv, perByte, fixed, basis, err := r.inventoryIndex(ctx, x.Name, flows)
		if err != nil {
			return err
		}
		rep.Inventory.Indexes = append(rep.Inventory.Indexes, *inv)
		fromHistory = fromHistory && strings.HasPrefix(basis, "history")
		bulk.Parts = append(bulk.Parts, PartEstimate{Kind: "index", Name: x.Name, Bytes: inv.Bytes, Items: int64(inv.Files), Basis: basis,
			EstimateS: fixed + perByte*float64(inv.Bytes)})
		delta := PartEstimate{Kind: "index", Name: x.Name, Bytes: inv.ShipBytes, Items: int64(inv.ShipFiles), Basis: basis,
			EstimateS: fixed + perByte*float64(inv.ShipBytes)}
		pre.Parts = append(pre.Parts, delta)
		// The final then verifies every byte of the target (--full).
		final := delta
		final.EstimateS += inv.FinalVerifyS
		final.Basis += "; then verify --full of every byte: " + inv.FinalVerifyBasis
		fin.Parts = append(fin.Parts, final)
	}
	for _, ph := range []*Phase{&bulk, &pre, &fin} {
		// The parts run at once (they load different machines): the phase
		// lasts as long as its longest part.
		for _, p := range ph.Parts {
			ph.EstimateS = math.Max(ph.EstimateS, p.EstimateS)
		}
	}
	rep.Phases = []Phase{bulk, pre, fin}
	rep.WindowS = fin.EstimateS
	spread, basis := 0.30, "probe: ×/÷1.3, until two rehearsals give history"
	if fromHistory {
		spread, basis = windowSpread(flows)
	}
	// The range is symmetric in ratio: an error of +x% or its inverse.
	rep.WindowLowS, rep.WindowHighS, rep.WindowBasis = rep.WindowS/(1+spread), rep.WindowS*(1+spread), basis
	return nil
}

// windowSpread is the relative error of earlier predictions (at least
// 10%). The first run's prediction came from a probe, not from history, so
// it is left out once later runs exist.
func windowSpread(flows []state.FlowRun) (float64, string) {
	spread, n := 0.10, 0
	if len(flows) >= 2 {
		flows = flows[1:]
	}
	for _, f := range flows {
		if f.Status == "ok" && f.PredictedS > 0 && f.ActualS > 0 {
			spread = math.Max(spread, math.Abs(f.ActualS-f.PredictedS)/f.PredictedS)
			n++
		}
	}
	return spread, fmt.Sprintf("history: ×/÷%.2f, the largest error of %d earlier predictions (at least 10%%)", 1+spread, n)
}

// inventoryFiles lists a file set and diffs it against the state (a dry
// run with deletions, so pending deletions are counted), and fits or probes
// its throughput model.
func (r *Runner) inventoryFiles(ctx context.Context, name string) (*FilesInventory, error) {
	f := r.fileSet(name)
	o, err := r.filesOptions(f, false)
	if err != nil {
		return nil, err
	}
	o.DryRun, o.Delete, o.MaxDelete, o.Log = true, true, math.MaxInt32, nil
	inv := &FilesInventory{Name: f.Name, Source: f.Source}
	var runs []state.Run
	if st, err := state.Open(o.StateDir); err == nil {
		runs, _ = st.Runs(ctx, 0)
		st.Close()
	}
	inv.FirstCopy = len(runs) == 0
	rep, err := sync.SyncFiles(ctx, o)
	if err != nil && isMissingTarget(err) {
		// No target yet: everything is to copy. Diff against an empty
		// scratch directory and a scratch state instead.
		tmp, terr := os.MkdirTemp("", "cutover-plan-")
		if terr != nil {
			return nil, terr
		}
		defer os.RemoveAll(tmp)
		o.Target, o.StateDir = tmp+"/target", tmp+"/state" // side by side: a state inside the target is refused
		if terr := os.Mkdir(o.Target, 0o700); terr != nil {
			return nil, terr
		}
		rep, err = sync.SyncFiles(ctx, o)
	}
	if err != nil {
		return nil, fmt.Errorf("files %s: %w", f.Name, err)
	}
	inv.Entries, inv.Bytes, inv.TopDirs = rep.Files.Scanned, rep.Files.BytesTotal, rep.TopDirs
	inv.ChangedFiles, inv.ChangedBytes, inv.PendingDeletions = rep.Files.Copied, rep.Files.BytesCopied, rep.Files.Deleted
	inv.ListS, inv.TargetListS, inv.NewestMtime = rep.Throughput.ListS, rep.Throughput.TargetListS, rep.NewestMtime
	m, ok := fitFiles(runs)
	if !ok {
		po, _ := r.filesOptions(f, false)
		if m, err = probeFiles(ctx, po); err != nil {
			return nil, fmt.Errorf("files %s: probe: %w", f.Name, err)
		}
	}
	if inv.Entries > 0 && inv.ListS > 0 {
		// The listing just measured is the best figure for listing. History
		// may know more (planning, the commit); a probe lists a few hundred
		// entries, and what opening the listing costs made its figure 20–30
		// times too high (a bulk copy predicted at 20 s for listing alone).
		listed := inv.ListS / float64(inv.Entries)
		if strings.HasPrefix(m.Basis, "history") {
			m.PerEntry = math.Max(m.PerEntry, listed)
		} else {
			m.PerEntry = listed
		}
	}
	inv.model = m
	if frac := r.finalCheckFraction(); frac > 0 {
		// o.Target is a scratch directory when the target does not exist
		// yet: the probe then times the source side alone.
		co, _ := r.filesOptions(f, false)
		co.Target, co.Log = o.Target, nil
		files := inv.files()
		inv.FinalCheck = &FinalCheck{Fraction: frac, EstimateS: math.Max(inv.ListS, inv.TargetListS)}
		if cm, err := sync.ProbeCheck(ctx, co, 64<<20); err != nil {
			// A plan, and the final that starts with one, must not stop
			// for want of a figure: the estimate then lacks the hashing.
			inv.FinalCheck.ProbeError = err.Error()
		} else {
			inv.FinalCheck.Model = cm
			inv.FinalCheck.EstimateS += cm.Estimate(frac*float64(files), frac*float64(inv.Bytes))
		}
	}
	return inv, nil
}

// finalCheckFraction is the share of files whose content the final
// compares on both sides after its delta (see runPart): all of them with
// verify: all, verify_sample of them otherwise, none without either.
func (r *Runner) finalCheckFraction() float64 {
	if r.Cfg.Verify == "all" {
		return 1
	}
	return r.Cfg.VerifySample
}

func isMissingTarget(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no such file")
}

func (r *Runner) fileSet(name string) (out config.FileSet) {
	for _, f := range r.Cfg.Files {
		if f.Name == name {
			return f
		}
	}
	return out
}

// inventoryDB reads the source catalog and fits (or probes) the model.
func (r *Runner) inventoryDB(ctx context.Context, name string, flows []state.FlowRun) (*DBInventory, dbModel, error) {
	d := r.database(name)
	src := pg.Endpoint{Side: "source", DSN: d.Source, IAMAuth: d.AWSIAMAuth, Region: d.AWSRegion}
	conn, err := src.Connect(ctx, pg.SourceParams())
	if err != nil {
		return nil, dbModel{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tables, err := pg.Tables(ctx, conn)
	if err != nil {
		return nil, dbModel{}, err
	}
	inv := &DBInventory{Name: d.Name, Source: src.Redacted()}
	var largest int64
	for _, t := range tables {
		if t.Partitioned {
			continue
		}
		inv.Tables++
		inv.Rows += t.Rows
		inv.Bytes += t.Bytes
		largest = max(largest, t.Bytes)
		if len(inv.Largest) < 10 {
			inv.Largest = append(inv.Largest, TableSize{Name: t.String(), Rows: t.Rows, Bytes: t.Bytes})
		}
	}
	inv.par = parBytes(inv.Bytes, largest, r.Cfg.Jobs)
	var m dbModel
	if pb, fixed, n, ok := fitParts(flows, "database", d.Name); ok && n >= 2 {
		m = dbModel{PerByte: pb, Fixed: fixed, Basis: fmt.Sprintf("history (%d runs)", n)}
	} else {
		target := d.RehearsalTarget
		if target == "" {
			target = d.Target
		}
		if m, err = probeDB(ctx, src, pg.Endpoint{Side: "target", DSN: target, IAMAuth: d.AWSIAMAuth, Region: d.AWSRegion}, tables, r.Cfg.Jobs); err != nil {
			return nil, m, fmt.Errorf("database %s: probe: %w", d.Name, err)
		}
	}
	return inv, m, nil
}

// inventoryIndex plans a ship without moving anything and fits (or
// probes) seconds per byte shipped.
func (r *Runner) inventoryIndex(ctx context.Context, name string, flows []state.FlowRun) (*IndexInventory, float64, float64, string, error) {
	x := r.indexSet(name)
	o := r.indexOptions(x, false)
	o.DryRun, o.Log = true, nil
	t0 := time.Now()
	rep, err := index.Ship(ctx, x.Source, x.Target, o)
	missing := err != nil && (isMissingTarget(err) || strings.Contains(err.Error(), "no such directory"))
	if err != nil && !missing {
		return nil, 0, 0, "", fmt.Errorf("indexes %s: %w", x.Name, err)
	}
	inv := &IndexInventory{Name: x.Name, Source: x.Source, PlanS: time.Since(t0).Seconds()}
	for _, ir := range rep.Indexes {
		inv.Indexes++
		inv.Files += ir.FilesTotal
		inv.Bytes += ir.BytesTotal
		inv.ShipFiles += ir.FilesShipped
		inv.ShipBytes += ir.BytesShipped
	}
	if missing {
		// No target yet: everything ships. Size it from the source alone.
		vrep, verr := index.Verify(ctx, x.Source, index.Options{Workers: 2})
		if verr != nil && errs.ExitCode(verr) != errs.ExitPartial {
			return nil, 0, 0, "", fmt.Errorf("indexes %s: %w", x.Name, verr)
		}
		inv.Indexes, inv.Files, inv.Bytes = len(vrep.Indexes), vrep.Totals.FilesTotal, vrep.Totals.BytesTotal
		inv.ShipFiles, inv.ShipBytes = inv.Files, inv.Bytes
	}
	if perByte, basis, err := probeIndexVerify(ctx, x, o); err != nil {
		// A plan must not stop for want of a figure (the final starts with one).
		inv.FinalVerifyBasis = "not estimated: " + err.Error()
	} else {
		inv.FinalVerifyS = perByte * float64(inv.Bytes)
		inv.FinalVerifyBasis = fmt.Sprintf("%.1f s (%s)", inv.FinalVerifyS, basis)
	}
	if pb, fixed, n, ok := fitParts(flows, "index", x.Name); ok && n >= 2 {
		return inv, pb, fixed, fmt.Sprintf("history (%d runs)", n), nil
	}
	pb, basis, err := probeIndex(ctx, x, o)
	if err != nil {
		return nil, 0, 0, "", fmt.Errorf("indexes %s: probe: %w", x.Name, err)
	}
	return inv, pb, inv.PlanS, basis, nil
}

func (r *Runner) database(name string) config.Database {
	for _, d := range r.Cfg.Databases {
		if d.Name == name {
			return d
		}
	}
	return config.Database{}
}

func (r *Runner) indexSet(name string) config.IndexSet {
	for _, x := range r.Cfg.Indexes {
		if x.Name == name {
			return x
		}
	}
	return config.IndexSet{}
}

// probeIndexVerify times what `index verify --full` does with each byte
// (read it, compute its CRC32) on up to 64 MB of the largest files of the
// target, or of the source before a first ship: the first bytes of a file
// larger than that.
func probeIndexVerify(ctx context.Context, x config.IndexSet, o index.Options) (perByte float64, basis string, err error) {
	fo := sync.FilesOptions{SSH: o.SSH}
	const budget = 64 << 20
	var st store.Store
	var files []store.Entry
	where := "the target"
	for _, root := range []string{x.Target, x.Source} {
		if st, err = openStore(ctx, root, fo, false); err != nil {
			where = "the source (the target holds no index yet)"
			continue
		}
		defer st.Close()
		if files, _, err = largestFiles(ctx, st, 8, math.MaxInt64); err == nil && len(files) > 0 && files[0].Size > 0 {
			break
		}
		where = "the source (the target holds no index yet)"
	}
	if err != nil {
		return 0, "", err
	}
	if len(files) == 0 || files[0].Size == 0 {
		return 0, "", errors.New("no index files to read")
	}
	var read atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.Workers, 1))
	t0 := time.Now()
	left := int64(budget)
	for _, e := range files {
		n := min(e.Size, left)
		if n <= 0 {
			break
		}
		left -= n
		g.Go(func() error {
			w := &prefixCRC{h: crc32.NewIEEE(), left: n}
			_, err := st.ReadFile(gctx, e, w)
			read.Add(n - w.left)
			if errors.Is(err, errPrefixRead) {
				err = nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, "", err
	}
	secs, total := time.Since(t0).Seconds(), read.Load()
	if total == 0 {
		return 0, "", errors.New("no index bytes read")
	}
	return secs / float64(total), fmt.Sprintf("read with CRC32 at %.0f MB/s: %.1f MB of the largest files at %s", float64(total)/secs/1e6, float64(total)/1e6, where), nil
}

// prefixCRC computes the CRC32 of the first left bytes written to it, then
// stops the read with errPrefixRead.
type prefixCRC struct {
	h    hash.Hash32
	left int64
}

var errPrefixRead = errors.New("read enough")

func (p *prefixCRC) Write(b []byte) (int, error) {
	if int64(len(b)) >= p.left {
		p.h.Write(b[:p.left])
		p.left = 0
		return 0, errPrefixRead
	}
	p.h.Write(b)
	p.left -= int64(len(b))
	return len(b), nil
}

// largestFiles lists st and returns its largest files of at most limit
// bytes each, at most n of them and up to about limit bytes in all, with
// their total. A larger file is left out: the largest segment of a Jira
// index can hold gigabytes, which a probe must not copy or read.
func largestFiles(ctx context.Context, st store.Store, n int, limit int64) ([]store.Entry, int64, error) {
	var files []store.Entry
	err := st.Walk(ctx, func(e store.Entry) error {
		if e.Type == store.File {
			files = append(files, e)
		}
		return nil
	}, func(string, error) {})
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Size > files[j].Size })
	var sample []store.Entry
	var total int64
	for _, f := range files {
		if total > limit || len(sample) >= n {
			break
		}
		if f.Size <= limit {
			sample = append(sample, f)
			total += f.Size
		}
	}
	return sample, total, nil
}

// probeIndex copies the largest files of the source's first index into a
// scratch directory beside the target and times it.
func probeIndex(ctx context.Context, x config.IndexSet, o index.Options) (float64, string, error) {
	fo := sync.FilesOptions{SSH: o.SSH}
	src, err := openStore(ctx, x.Source, fo, false)
	if err != nil {
		return 0, "", err
	}
	defer src.Close()
	sample, _, err := largestFiles(ctx, src, 8, 64<<20)
	if err != nil {
		return 0, "", err
	}
	dst, err := openStore(ctx, existingAncestor(x.Target), fo, false)
	if err != nil {
		return 0, "", err
	}
	defer dst.Close()
	scratch := fmt.Sprintf(".cutover-probe-%d", os.Getpid())
	defer removeScratch(context.WithoutCancel(ctx), dst, scratch)
	secs, n, err := copySample(ctx, src, dst, scratch, sample, o.Workers)
	if err != nil || n == 0 {
		return 0, "probe (nothing to copy)", err
	}
	return secs / float64(n), fmt.Sprintf("probe (%d files, %d bytes)", len(sample), n), nil
}
