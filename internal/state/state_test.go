package state

import (
	"context"
	"errors"
	"io/fs"
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
	if err := s.FinishRun(ctx, Run{ID: run, Status: "ok", FilesScanned: 6, FilesCopied: 5}); err != nil {
		t.Fatal(err)
	}
	runs, _ := s.Runs(ctx, pair)
	if len(runs) != 1 || runs[0].Status != "ok" || runs[0].FilesCopied != 5 {
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
