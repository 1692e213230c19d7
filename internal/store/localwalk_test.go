package store_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/store"
)

// The parallel walk lists exactly what filepath.WalkDir lists, each entry
// once, a directory before what it holds.
func TestLocalWalkListsEveryEntryOnce(t *testing.T) {
	root := t.TempDir()
	if _, err := gentree.Tree(root, gentree.Options{Files: 600, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := gentree.Nasty(root); err != nil {
		t.Fatal(err)
	}
	var want []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if p != root {
			rel, _ := filepath.Rel(root, p)
			want = append(want, rel)
		}
		return nil
	})
	var got []string
	seen := map[string]bool{}
	err := store.NewLocal(root).Walk(context.Background(), func(e store.Entry) error {
		if d := filepath.Dir(e.Path); d != "." && !seen[d] {
			t.Errorf("%q listed before its directory", e.Path)
		}
		seen[e.Path] = true
		got = append(got, e.Path)
		return nil
	}, func(p string, err error) {})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("walk listed %d entries, WalkDir %d", len(got), len(want))
	}
}

// An error from fn ends the walk: it is returned, and fn is not called again.
func TestLocalWalkStopsOnTheCallersError(t *testing.T) {
	root := t.TempDir()
	if _, err := gentree.Tree(root, gentree.Options{Files: 600, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	calls := 0
	err := store.NewLocal(root).Walk(context.Background(), func(e store.Entry) error {
		calls++
		if calls == 50 {
			return stop
		}
		return nil
	}, func(string, error) {})
	if !errors.Is(err, stop) || calls != 50 {
		t.Fatalf("err %v after %d calls, want %v after 50", err, calls, stop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := store.NewLocal(root).Walk(ctx, func(store.Entry) error { return nil }, func(string, error) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled walk: %v", err)
	}
}
