package state

import (
	"context"
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
		if err := w.Put(Row{Entry: store.Entry{Path: p, Type: store.File, Size: 3, ModTime: time.Unix(1, 5), Mode: 0o644, Target: "t\x00"}, Hash: "blake3:00", RunID: run}); err != nil {
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
	if err := s.FinishRun(ctx, Run{ID: run, Status: "ok", FilesCopied: 5}); err != nil {
		t.Fatal(err)
	}
	runs, _ := s.Runs(ctx, pair)
	if len(runs) != 1 || runs[0].Status != "ok" || runs[0].FilesCopied != 5 {
		t.Fatalf("runs %+v", runs)
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
