package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cutover/cutover/internal/store"
)

func ent(p string, t store.EntryType, size int64, sec int64) store.Entry {
	return store.Entry{Path: p, Type: t, Size: size, ModTime: store.TimeOf(time.Unix(sec, 500)), Mode: 0o644}
}

func TestDiffDecides(t *testing.T) {
	src := []store.Entry{
		ent("a", store.Dir, 0, 1),
		ent("a/new", store.File, 5, 1),
		ent("a/same", store.File, 5, 1),
		ent("a/size", store.File, 6, 1),
		ent("a/time", store.File, 5, 2),
		ent("b", store.File, 1, 1), // was a directory
		{Path: "link", Type: store.Symlink, Target: "x2", ModTime: store.TimeOf(time.Unix(1, 0))},
	}
	prev := []Prev{
		{Entry: ent("a", store.Dir, 0, 1)},
		{Entry: ent("a/gone", store.File, 5, 1)},
		{Entry: ent("a/same", store.File, 5, 1), Hash: "blake3:00"},
		{Entry: ent("a/size", store.File, 5, 1)},
		{Entry: ent("a/time", store.File, 5, 1)},
		{Entry: ent("b", store.Dir, 0, 1)},
		{Entry: store.Entry{Path: "link", Type: store.Symlink, Target: "x1", ModTime: store.TimeOf(time.Unix(1, 0))}},
	}
	iter := func(fn func(Prev) error) error {
		for _, p := range prev {
			if err := fn(p); err != nil {
				return err
			}
		}
		return nil
	}
	p, err := Diff(src, iter, false, Options{Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string]Kind{}
	for _, a := range p.Copies {
		copies[a.Entry.Path] = a.Kind
	}
	for _, want := range []string{"a/new", "a/size", "a/time", "b", "link"} {
		if _, ok := copies[want]; !ok {
			t.Errorf("%s not copied: %+v", want, copies)
		}
	}
	if p.New != 1 {
		t.Errorf("%d new entries, want 1 (a/new; the others are rewritten or replaced)", p.New)
	}
	if _, ok := copies["a/same"]; ok || p.Unchanged != 2 {
		t.Errorf("a/same copied or unchanged=%d", p.Unchanged)
	}
	if len(p.Deletes) != 2 || p.Deletes[0].Entry.Path != "b" || p.Deletes[1].Entry.Path != "a/gone" {
		t.Errorf("deletes %+v", p.Deletes)
	}
	if !p.Deletes[0].TypeChange || p.Deletes[1].TypeChange {
		t.Error("type change not marked")
	}
	// Whole-second comparison ignores sub-second noise; precise does not.
	src2 := []store.Entry{ent("f", store.File, 1, 1)}
	src2[0].ModTime = store.TimeOf(time.Unix(1, 999))
	prev2 := func(fn func(Prev) error) error { return fn(Prev{Entry: ent("f", store.File, 1, 1)}) }
	if p, _ := Diff(src2, prev2, false, Options{}); len(p.Copies) != 0 {
		t.Error("sub-second difference copied at whole-second precision")
	}
	if p, _ := Diff(src2, prev2, false, Options{PreciseMtime: true}); len(p.Copies) != 1 {
		t.Error("sub-second difference missed at nanosecond precision")
	}
}

func TestHardLinksBecomeOneCopyAndLinks(t *testing.T) {
	a, b := ent("x/a", store.File, 9, 1), ent("y/b", store.File, 9, 1)
	a.Inode, a.Nlink, b.Inode, b.Nlink = 7, 2, 7, 2
	p, _ := Diff([]store.Entry{a, b}, func(func(Prev) error) error { return nil }, false, Options{})
	if len(p.Copies) != 1 || p.Copies[0].Entry.Path != "x/a" || len(p.Links) != 1 || p.Links[0].LinkTo() != "x/a" {
		t.Fatalf("copies %+v links %+v", p.Copies, p.Links)
	}
	if p.BytesToCopy != 9 {
		t.Fatalf("bytes %d", p.BytesToCopy)
	}
}

// A new name of a file that did not change is linked to the primary that
// the target already holds, with the primary's recorded hash (nothing to
// copy); a primary copied again leaves the links to take its new hash.
func TestNewHardLinkToAnUnchangedFileTakesItsRecordedHash(t *testing.T) {
	a, b := ent("x/a", store.File, 9, 1), ent("y/b", store.File, 9, 1)
	a.Inode, a.Nlink, b.Inode, b.Nlink = 7, 2, 7, 2
	rec := Prev{Entry: a, Hash: "xxh3-128:aa"}
	prev := func(f func(Prev) error) error { return f(rec) }
	p, _ := Diff([]store.Entry{a, b}, prev, false, Options{})
	if len(p.Copies) != 0 || len(p.Links) != 1 || p.Links[0].LinkTo() != "x/a" || p.Links[0].Hash() != "xxh3-128:aa" || p.BytesToCopy != 0 {
		t.Fatalf("copies %+v links %+v bytes %d", p.Copies, p.Links, p.BytesToCopy)
	}
	a.Size, b.Size = 10, 10 // rewritten in place: both names changed
	p, _ = Diff([]store.Entry{a, b}, prev, false, Options{})
	if len(p.Copies) != 1 || len(p.Links) != 1 || p.Links[0].Hash() != "" {
		t.Fatalf("copies %+v links %+v", p.Copies, p.Links)
	}
}

// BenchmarkDiff plans a rerun of 10^5 entries (1,000 directories of 99
// files) against their record, 1% of the files changed: the work a warm
// rerun does between its listing and its copy.
func BenchmarkDiff(b *testing.B) {
	var src []store.Entry
	for d := 0; d < 1000; d++ {
		dir := fmt.Sprintf("data/attachments/P/%04d", d)
		src = append(src, ent(dir, store.Dir, 0, 1))
		for f := 0; f < 99; f++ {
			src = append(src, ent(fmt.Sprintf("%s/%05d", dir, f), store.File, 25<<10, 1))
		}
	}
	SortEntries(src)
	prev := make([]Prev, len(src))
	for i, e := range src {
		prev[i] = Prev{Entry: e, Hash: "xxh3-128:00"}
		if i%100 == 50 {
			prev[i].Size++ // changed at the source since
		}
	}
	each := func(fn func(Prev) error) error {
		for _, r := range prev {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	for b.Loop() {
		p, err := Diff(src, each, false, Options{})
		if err != nil || len(p.Copies) != 1000 {
			b.Fatalf("%v: %d copies", err, len(p.Copies))
		}
	}
	b.ReportMetric(float64(len(src)), "entries/op")
}

// listing is n entries of a shared home's shape (attachment directories of
// a few files), shuffled as the parallel finds hand them over.
func listing(n int, seed uint64) []store.Entry {
	var es []store.Entry
	for d := 0; len(es) < n; d++ {
		dir := fmt.Sprintf("data/attachments/P%d/%05d", d%7, d)
		es = append(es, ent(dir, store.Dir, 0, 1))
		for f := 0; f < d%5 && len(es) < n; f++ {
			es = append(es, ent(fmt.Sprintf("%s/%d", dir, 10000+f), store.File, 1, 1))
		}
	}
	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	return es
}

func TestSortEntriesOnAnyNumberOfCores(t *testing.T) {
	for _, n := range []int{0, 1, 2, parallelSortMin - 1, parallelSortMin, 3*parallelSortMin + 17} {
		for _, cores := range []int{1, 2, 3, 8} {
			es := listing(n, uint64(n+cores))
			want := slices.Clone(es)
			slices.SortFunc(want, func(a, b store.Entry) int { return strings.Compare(a.Path, b.Path) })
			sortEntries(es, cores)
			if !slices.Equal(es, want) {
				t.Fatalf("%d entries on %d cores: not sorted as one sort would", n, cores)
			}
		}
	}
	// A pivot that is the smallest path (few distinct prefixes): both
	// parts must still shrink.
	es := listing(parallelSortMin, 9)
	for i := range es {
		if i%2 == 0 {
			es[i].Path = "a" + es[i].Path
		}
	}
	for i := range 31 {
		es[i*(len(es)-1)/30].Path = fmt.Sprintf("a%02d", i)
	}
	sortEntries(es, 4)
	if !slices.IsSortedFunc(es, func(a, b store.Entry) int { return strings.Compare(a.Path, b.Path) }) {
		t.Fatal("not sorted")
	}
}

// BenchmarkSortEntries sorts a shuffled listing of 10^5 entries on the
// cores there are: what the rerun waits for between listing and plan.
func BenchmarkSortEntries(b *testing.B) {
	src := listing(100_000, 1)
	es := make([]store.Entry, len(src))
	for b.Loop() {
		copy(es, src)
		SortEntries(es)
	}
	b.ReportMetric(float64(len(src)), "entries/op")
}

// A run of 10^6 files holds 10^6 actions: what one takes is what the plan
// adds per entry to the listing it points into.
func TestActionStaysSmall(t *testing.T) {
	if n := unsafe.Sizeof(Action{}); n > 24 {
		t.Fatalf("an Action takes %d bytes, more than 24: a run of 10^7 files holds 10^7 of them", n)
	}
}
