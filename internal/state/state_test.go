package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

func TestManifestRoundTripAndOrder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "in use by pid") {
		t.Fatalf("second open must be refused naming the holder, got %v", err)
	}
	pair, err := s.Pair(ctx, "files", "sftp://a/x", "/y")
	if err != nil {
		t.Fatal(err)
	}
	run, _ := s.BeginRun(ctx, pair, "files sync")
	w := s.NewManifestWriter(pair)
	paths := []string{"b", "a/z", "a\xff\xfe", "a b", "a\nb", "A"}
	for _, p := range paths {
		if err := w.Put(Row{Entry: store.Entry{Path: p, Type: store.File, Size: 3, ModTime: store.TimeOf(time.Unix(1, 5)), Mode: 0o644, Target: "t\x00"}, Hash: "blake3:00", RunID: run}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Delete("b"); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	s.Manifest(ctx, pair, func(r Row) error {
		got = append(got, r.Path)
		if r.ModTime.UnixNano() != 1_000_000_005 || r.Target != "t\x00" {
			t.Errorf("row %q lost data: %+v", r.Path, r)
		}
		return nil
	})
	want := []string{"A", "a\nb", "a b", "a/z", "a\xff\xfe"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("order %q, want %q", got, want)
	}
	// The function's error stops the read and comes back as it is.
	stop, n := errors.New("enough"), 0
	if err := s.Manifest(ctx, pair, func(Row) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("stopped with %v after %d rows", err, n)
	}
	if n, err := s.LastScanned(ctx, pair); n != 0 || err != nil {
		t.Fatalf("no run finished yet, LastScanned = %d, %v", n, err)
	}
	if err := s.FinishRun(ctx, Run{ID: run, Status: "ok", FilesScanned: 6, FilesCopied: 5, BWLimit: 50e6}); err != nil {
		t.Fatal(err)
	}
	runs, _ := s.Runs(ctx, pair)
	if len(runs) != 1 || runs[0].Status != "ok" || runs[0].FilesCopied != 5 || runs[0].BWLimit != 50e6 {
		t.Fatalf("runs %+v", runs)
	}
	// The last finished run counts; one that failed or still runs does not.
	failed, _ := s.BeginRun(ctx, pair, "files sync")
	s.FinishRun(ctx, Run{ID: failed, Status: "failed", FilesScanned: 99})
	s.BeginRun(ctx, pair, "files sync")
	if n, err := s.LastScanned(ctx, pair); n != 6 || err != nil {
		t.Fatalf("LastScanned = %d, %v, want 6", n, err)
	}
}

func TestReopenKeepsSchema(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// Every field of a row comes back as it went in, at the edges of its range.
func TestManifestKeepsExtremeOwnersAndModes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pair, _ := s.Pair(ctx, "files", "sftp://a/x", "/y")
	run, _ := s.BeginRun(ctx, pair, "files sync")
	in := []Row{
		{Entry: store.Entry{Path: "d", Type: store.Dir, Mode: fs.ModeDir | fs.ModeSetgid | fs.ModeSticky | 0o2777, UID: 4294967294, GID: 4294967295, ModTime: store.TimeOf(time.Unix(-1, 999_999_999))}, RunID: run},
		{Entry: store.Entry{Path: "f", Type: store.File, Size: 1 << 50, Mode: fs.ModeSetuid | 0o4755, UID: 2001, GID: 0, ModTime: store.TimeOf(time.Unix(4102444800, 1))}, Hash: "xxh3-128:ff", RunID: run},
		{Entry: store.Entry{Path: "l", Type: store.Symlink, Mode: fs.ModeSymlink | 0o777, UID: 0, GID: 2147483648, Target: "../../x", ModTime: store.TimeOf(time.Unix(0, 0))}, RunID: run},
	}
	w := s.NewManifestWriter(pair)
	for _, r := range in {
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	i := 0
	s.Manifest(ctx, pair, func(r Row) error {
		want := in[i]
		if r.Path != want.Path || r.Type != want.Type || r.Size != want.Size || r.Mode != want.Mode || r.UID != want.UID || r.GID != want.GID ||
			r.ModTime != want.ModTime || r.Target != want.Target || r.Hash != want.Hash || r.RunID != want.RunID {
			t.Errorf("got  %+v\nwant %+v", r, want)
		}
		i++
		return nil
	})
	if i != len(in) {
		t.Fatalf("%d rows back, want %d", i, len(in))
	}
}

// fileRow is the manifest row of a file of size bytes at p.
func fileRow(p string, size int64) Row {
	return Row{Entry: store.Entry{Path: p, Type: store.File, Size: size, Mode: 0o644}, Hash: fmt.Sprintf("xxh3:%d", size), RunID: 1}
}

// openPair opens the state in dir, closed when t ends, with a pair.
func openPair(t *testing.T, dir string) (*State, int64) {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pair, err := s.Pair(context.Background(), "files", "sftp://a/x", "/y")
	if err != nil {
		t.Fatal(err)
	}
	return s, pair
}

// noErr returns a check that stops t at an error.
func noErr(t *testing.T) func(error) {
	return func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The manifest is what was recorded last of each path, whatever the order
// of puts and removals within a transaction, across transactions and
// across runs, whether a row went straight into the manifest (in path
// order) or into the log; and a run killed before its log was merged
// leaves it to the next reader.
func TestManifestKeepsTheLastRecordOfEachPath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // the last one opened
	// reopen is a new process's look at the state, after a kill.
	reopen := func() {
		t.Helper()
		s.Close()
		if s, err = Open(dir); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := s.Pair(ctx, "files", "sftp://a/x", "/y")
	if err != nil {
		t.Fatal(err)
	}
	row, must := fileRow, noErr(t)
	expect := func(s *State, when, want string) {
		t.Helper()
		var b strings.Builder
		must(s.Manifest(ctx, pair, func(r Row) error {
			fmt.Fprintf(&b, "%s=%d ", r.Path, r.Size)
			return nil
		}))
		if b.String() != want {
			t.Fatalf("%s: %s, want %s", when, b.String(), want)
		}
	}
	// Run 1.
	w := s.NewManifestWriter(pair)
	for _, p := range []string{"e", "f", "g", "h"} {
		must(w.Put(row(p, 1)))
	}
	must(w.Close())
	expect(s, "after run 1", "e=1 f=1 g=1 h=1 ")
	// Run 2: in one transaction, then in another.
	w = s.NewManifestWriter(pair)
	must(w.Put(row("a", 1)))
	must(w.Delete("a"))
	must(w.Put(row("a", 2))) // back: present, as put last
	must(w.Put(row("b", 1)))
	must(w.Delete("b")) // gone
	must(w.Put(row("d", 1)))
	must(w.Put(row("d", 2))) // the second
	must(w.Delete("e"))      // recorded by run 1: gone
	must(w.Delete("f"))
	must(w.Flush())
	must(w.Put(row("f", 3))) // removed, then back in a later transaction
	must(w.Put(row("g", 4))) // changed
	must(w.Delete("zz"))     // never recorded
	if n := w.Logged(); n != 11 {
		t.Fatalf("Logged: %d, want the 12 puts and removals but the first, in order, straight into the manifest", n)
	}
	must(w.Close())
	expect(s, "after run 2", "a=2 d=2 f=3 g=4 h=1 ")
	// Run 3 is killed after a commit: its records are kept, and the next
	// reader merges them.
	w = s.NewManifestWriter(pair)
	must(w.Put(row("c", 5)))  // in order: into the manifest
	must(w.Put(row("ca", 6))) // the same
	must(w.Delete("ca"))      // into the log, as all after it
	must(w.Put(row("cb", 7)))
	must(w.Delete("h"))
	must(w.Flush())
	reopen()
	if has, err := s.HasManifest(ctx, pair); !has || err != nil {
		t.Fatalf("HasManifest after a killed run: %v %v", has, err)
	}
	expect(s, "after the killed run 3", "a=2 c=5 cb=7 d=2 f=3 g=4 ")
	if files, bytes, err := s.ManifestFiles(ctx, pair); files != 6 || bytes != 23 || err != nil {
		t.Fatalf("ManifestFiles: %d files, %d bytes, %v", files, bytes, err)
	}
	// A run killed with its log unmerged, then a writer before any read:
	// the log goes in first, so that a row written straight into the
	// manifest (in order) is not replaced by its older one.
	w = s.NewManifestWriter(pair)
	must(w.Delete("c"))
	must(w.Flush())
	reopen()
	w = s.NewManifestWriter(pair)
	must(w.Put(row("c", 8)))
	must(w.Close())
	expect(s, "after a run over a killed run's log", "a=2 c=8 cb=7 d=2 f=3 g=4 ")
	var left int
	must(s.db.QueryRowContext(ctx, `SELECT count(*) FROM manifest_log`).Scan(&left))
	if left != 0 {
		t.Fatalf("%d rows left in the log after the merge", left)
	}
}

// MergeBehind merges the log while the run goes on: the rows given
// meanwhile are held and written after it, in path order, the last of
// each path winning, removals included; a run killed after a later commit
// keeps all of it.
func TestMergeBehindKeepsTheLastRecordOfEachPath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, pair := openPair(t, dir)
	row, must := fileRow, noErr(t)
	expect := func(when, want string) {
		t.Helper()
		var b strings.Builder
		bulk := 0
		must(s.Manifest(ctx, pair, func(r Row) error {
			if strings.HasPrefix(r.Path, "p/") {
				bulk++
				return nil
			}
			fmt.Fprintf(&b, "%s=%d ", r.Path, r.Size)
			return nil
		}))
		if b.String() != want || bulk != 20000 {
			t.Fatalf("%s: %s and %d bulk rows, want %s and 20000", when, b.String(), bulk, want)
		}
		var left int
		must(s.db.QueryRowContext(ctx, `SELECT count(*) FROM manifest_log`).Scan(&left))
		if left != 0 {
			t.Fatalf("%s: %d rows left in the log", when, left)
		}
	}
	w := s.NewManifestWriter(pair)
	for _, p := range []string{"e", "f", "g", "h"} {
		must(w.Put(row(p, 1)))
	}
	must(w.Close())
	// Run 2: rows in the log, committed and not, then merged behind.
	w = s.NewManifestWriter(pair)
	must(w.Put(row("d", 1))) // in order: into the manifest
	must(w.Put(row("b", 1))) // into the log, as all after it
	must(w.Delete("e"))
	must(w.Flush())
	for i := 20000; i > 0; i-- { // enough for the merge to take a while
		must(w.Put(row(fmt.Sprintf("p/%05d", i), 1)))
	}
	must(w.Put(row("a", 1))) // pending, in the open transaction
	must(w.MergeBehind())
	if n := w.Logged(); n != 0 {
		t.Fatalf("Logged after MergeBehind: %d", n)
	}
	must(w.Put(row("c", 2)))
	if len(w.held) != 1 {
		t.Fatalf("%d rows held while the merge ran: it ended first, the test tested nothing", len(w.held))
	}
	must(w.Put(row("a", 3)))
	must(w.Delete("b"))
	must(w.Put(row("g", 5)))
	must(w.Put(row("a", 4))) // the last of a wins
	must(w.Close())
	expect("after run 2", "a=4 c=2 d=1 f=1 g=5 h=1 ")
	// Run 3 is killed after a commit that followed its merge.
	w = s.NewManifestWriter(pair)
	must(w.Put(row("zz", 1)))
	must(w.Put(row("b", 9)))
	must(w.MergeBehind())
	must(w.Put(row("x", 1)))
	must(w.Delete("zz"))
	must(w.Flush())
	s.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	expect("after the killed run 3", "a=4 b=9 c=2 d=1 f=1 g=5 h=1 x=1 ")
}

// Rows are inserted batchRows at a time: puts and removals of the same
// paths, within one batch and across batches, transactions and merges,
// leave the last record of each path, as one statement a row did.
func TestBatchedRecordsKeepTheLastOfEachPath(t *testing.T) {
	ctx := context.Background()
	s, pair := openPair(t, t.TempDir())
	must := noErr(t)
	want := map[string]int64{}
	w := s.NewManifestWriter(pair)
	// In path order first, straight into the manifest: 3 batches and 7.
	for i := range 3*batchRows + 7 {
		p := fmt.Sprintf("a/%04d", i)
		must(w.Put(fileRow(p, 1)))
		want[p] = 1
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for op := range 5000 {
		p := fmt.Sprintf("b/%03d", rng.IntN(150))
		if rng.IntN(4) == 0 {
			p = fmt.Sprintf("a/%04d", rng.IntN(3*batchRows+7))
		}
		switch {
		case rng.IntN(3) == 0:
			must(w.Delete(p))
			delete(want, p)
		default:
			must(w.Put(fileRow(p, int64(op+2))))
			want[p] = int64(op + 2)
		}
		switch op {
		case 1000, 3001:
			must(w.Flush())
		case 2000, 4003:
			must(w.MergeBehind())
		}
	}
	must(w.Close())
	got := map[string]int64{}
	must(s.Manifest(ctx, pair, func(r Row) error {
		got[r.Path] = r.Size
		return nil
	}))
	if !maps.Equal(got, want) {
		t.Fatalf("the manifest holds %d rows, want %d; first difference: %s", len(got), len(want), firstDiff(got, want))
	}
}

// firstDiff names the first path, in order, where got and want differ.
func firstDiff(got, want map[string]int64) string {
	keys := slices.Sorted(maps.Keys(want))
	keys = append(keys, slices.Sorted(maps.Keys(got))...)
	slices.Sort(keys)
	for _, k := range keys {
		g, gok := got[k]
		v, wok := want[k]
		if g != v || gok != wok {
			return fmt.Sprintf("%s: %d (present %v), want %d (present %v)", k, g, gok, v, wok)
		}
	}
	return "none"
}

// SQLite's temporary files (a large merge's sort) go to the state's disk.
func TestTemporaryFilesGoNextToTheState(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got string
	if err := s.db.QueryRow(`PRAGMA temp_store_directory`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Fatalf("temporary files go to %q, want the state directory %q", got, dir)
	}
}

// A killed run's staged directories and the records it logged are what the
// next process reads: the log merged, before any lookup.
func TestStagedDirectoriesAndLookupsAfterAKill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := s.Pair(ctx, "files", "sftp://a/x", "/y")
	ds := []StagedDir{{Path: "data/b", Temp: "data/.cutover-tmp-dir-1-1.part"}, {Path: "data/a", Temp: "data/.cutover-tmp-dir-1-0.part"}}
	if err := s.StageDirs(ctx, pair, ds); err != nil {
		t.Fatal(err)
	}
	w := s.NewManifestWriter(pair)
	for _, p := range []string{"data/b/f", "data/a/g"} { // out of order: logged
		if err := w.Put(Row{Entry: store.Entry{Path: p, Type: store.File, Size: 1}, RunID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Close() // killed: no Close of the writer, no merge
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Staged(ctx, pair)
	if err != nil || len(got) != 2 || got[0] != ds[1] || got[1] != ds[0] {
		t.Fatalf("Staged: %v %v, want %v in path order", got, err, ds)
	}
	rec, err := s.NewRecorder(ctx, pair)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	for p, want := range map[string]bool{"data/a/g": true, "data/b/f": true, "data/a/h": false} {
		typ, ok, err := rec.Lookup(ctx, p)
		if err != nil || ok != want || (ok && typ != store.File) {
			t.Errorf("Lookup(%s) = %v %v %v, want recorded %v", p, typ, ok, err, want)
		}
	}
	if err := s.Unstage(ctx, pair, "data/a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Staged(ctx, pair); len(got) != 1 || got[0] != ds[0] {
		t.Fatalf("after Unstage: %v", got)
	}
}
