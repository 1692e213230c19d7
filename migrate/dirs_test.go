package migrate

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// orderedDirs is a real local store that fails a Mkdir whose parent does
// not exist yet instead of creating it (as ensureDir would), and counts
// Mkdirs per path (MakeDir is a Mkdir here): mkdirs must create every
// parent before its children, each once.
type orderedDirs struct {
	*store.Local
	root string
	mu   sync.Mutex
	made map[string]int
}

func (o *orderedDirs) Mkdir(ctx context.Context, p string) error {
	if _, err := os.Stat(filepath.Join(o.root, path.Dir(p))); err != nil {
		return fmt.Errorf("mkdir %s before its parent: %w", p, err)
	}
	o.mu.Lock()
	o.made[p]++
	o.mu.Unlock()
	return o.Local.Mkdir(ctx, p)
}

func (o *orderedDirs) MakeDir(ctx context.Context, e store.Entry, owner bool) (bool, error) {
	return false, o.Mkdir(ctx, e.Path)
}

func TestMkdirsParentsFirstEachOnce(t *testing.T) {
	root := t.TempDir()
	dst := &orderedDirs{Local: store.NewLocal(root), root: root, made: map[string]int{}}
	var dirs []plan.Action
	add := func(p string) {
		dirs = append(dirs, plan.Action{Kind: plan.Mkdir, Entry: &store.Entry{Path: p, Type: store.Dir, Mode: 0o755}})
	}
	deep := "d"
	for i := 0; i < 40; i++ { // a chain 40 deep
		add(deep)
		deep += "/d"
	}
	add("wide")
	for i := 0; i < 300; i++ { // 300 siblings, each with two children
		p := fmt.Sprintf("wide/%03d", i)
		add(p)
		add(p + "/a")
		add(p + "/b")
	}
	os.Mkdir(filepath.Join(root, "existing"), 0o755)
	add("existing/new") // a parent that is already there
	n := runDirStage(t, dst, len(dirs), func(x *fileExec, results chan<- Result) error {
		return x.mkdirs(context.Background(), dirs, 64, results)
	})
	if n != len(dirs) {
		t.Errorf("%d results for %d directories", n, len(dirs))
	}
	for _, a := range dirs {
		if dst.made[a.Entry.Path] != 1 {
			t.Errorf("%s made %d times", a.Entry.Path, dst.made[a.Entry.Path])
		}
		if fi, err := os.Stat(filepath.Join(root, a.Entry.Path)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", a.Entry.Path, err)
		}
	}
}

func TestDeletesContentBeforeDirectories(t *testing.T) {
	root := t.TempDir()
	var as []plan.Action
	del := func(p string, typ store.EntryType) {
		as = append(as, plan.Action{Kind: plan.Delete, Entry: &store.Entry{Path: p, Type: typ}})
	}
	for i := 0; i < 20; i++ {
		d := fmt.Sprintf("t%02d", i)
		deep := d
		for j := 0; j < 6; j++ {
			os.MkdirAll(filepath.Join(root, deep), 0o755)
			os.WriteFile(filepath.Join(root, deep, "f"), []byte("x"), 0o644)
			os.Symlink("f", filepath.Join(root, deep, "l"))
			del(deep, store.Dir)
			del(deep+"/f", store.File)
			del(deep+"/l", store.Symlink)
			deep += "/d"
		}
	}
	sort.Slice(as, func(i, j int) bool { return as[i].Entry.Path > as[j].Entry.Path }) // the plan's order
	n := runDirStage(t, store.NewLocal(root), len(as), func(x *fileExec, results chan<- Result) error {
		return x.deletes(context.Background(), as, 32, results)
	})
	left, _ := os.ReadDir(root)
	if n != len(as) || len(left) != 0 {
		t.Errorf("%d results for %d deletions; left: %v", n, len(as), left)
	}
}

// runDirStage runs a stage of fileExec on dst, fails the test on any error
// it reports, and returns how many results it sent (at most n).
func runDirStage(t *testing.T, dst store.Store, n int, stage func(*fileExec, chan<- Result) error) int {
	t.Helper()
	x := &fileExec{dst: dst, opt: FileOptions{Workers: 4, TargetOps: 64, Retries: 1, ChangedRetries: 1, Progress: &progress.Counter{}}}
	results := make(chan Result, n)
	if err := stage(x, results); err != nil {
		t.Fatal(err)
	}
	close(results)
	got := 0
	for r := range results {
		got++
		if r.Err != nil {
			t.Errorf("%s: %v", r.Entry.Path, r.Err)
		}
	}
	return got
}

// nfsDirs is a local store whose Mkdir behaves as one on an NFS mount: a
// round trip of lat, under a lock of the parent directory (the Linux NFS
// client holds the parent's lock for each create in it). A missing parent
// is made first, a round trip of its own, as ensureDir's MkdirAll does.
type nfsDirs struct {
	*store.Local
	root  string
	lat   time.Duration
	locks sync.Map // parent path → *sync.Mutex
}

func (n *nfsDirs) Mkdir(ctx context.Context, p string) error {
	if p == "." {
		return nil
	}
	parent := path.Dir(p)
	if _, err := os.Stat(filepath.Join(n.root, parent)); err != nil {
		if err := n.Mkdir(ctx, parent); err != nil {
			return err
		}
	}
	m, _ := n.locks.LoadOrStore(parent, new(sync.Mutex))
	m.(*sync.Mutex).Lock()
	defer m.(*sync.Mutex).Unlock()
	time.Sleep(n.lat)
	if err := os.Mkdir(filepath.Join(n.root, p), 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return nil
}

// BenchmarkMkdirs makes a Jira-like tree of 1,200 directories
// (data/attachments/PROJ/BUCKET/ISSUE) on a target with 1 ms per mkdir and
// NFS's per-parent lock, with 64 in flight: parent by parent (mkdirs) and,
// for comparison, the sorted list handed to a pool in order.
func BenchmarkMkdirs(b *testing.B) {
	var dirs []plan.Action
	add := func(p string) {
		dirs = append(dirs, plan.Action{Kind: plan.Mkdir, Entry: &store.Entry{Path: p, Type: store.Dir, Mode: 0o755}})
	}
	add("data")
	add("data/attachments")
	for p := 0; p < 8; p++ {
		proj := fmt.Sprintf("data/attachments/P%d", p)
		add(proj)
		for k := 0; k < 3; k++ {
			bucket := fmt.Sprintf("%s/%d0000", proj, k+1)
			add(bucket)
			for i := 0; i < 48; i++ {
				add(fmt.Sprintf("%s/P%d-%d", bucket, p, k*100+i))
			}
		}
	}
	for _, mode := range []string{"by-parent", "in-order"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				root := b.TempDir()
				x := &fileExec{dst: &nfsDirs{Local: store.NewLocal(root), root: root, lat: time.Millisecond},
					opt: FileOptions{Workers: 16, TargetOps: 64, Retries: 1, ChangedRetries: 1, Progress: &progress.Counter{}}}
				results := make(chan Result, len(dirs))
				var err error
				if mode == "by-parent" {
					err = x.mkdirs(context.Background(), dirs, 64, results)
				} else {
					err = x.stage(context.Background(), dirs, 64, results)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(dirs)), "dirs/op")
		})
	}
}
