package sync

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/internal/spill"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// tree makes a sorted listing from "path/" (a directory) and "path" (a
// file).
func tree(paths ...string) []store.Entry {
	var es []store.Entry
	for _, p := range paths {
		e := store.Entry{Path: strings.TrimSuffix(p, "/"), Type: store.File, Nlink: 1}
		if strings.HasSuffix(p, "/") {
			e.Type = store.Dir
		}
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b store.Entry) int { return strings.Compare(a.Path, b.Path) })
	return es
}

func rowsOf(es []store.Entry) []plan.Prev {
	var out []plan.Prev
	for _, e := range es {
		out = append(out, plan.Prev{Entry: e})
	}
	return out
}

func allParts(t *testing.T, r *ranger) []*rangePart {
	t.Helper()
	var parts []*rangePart
	for {
		pt, err := r.next()
		require.NoError(t, err)
		if pt == nil {
			return parts
		}
		parts = append(parts, pt)
	}
}

func TestRangesEndOnlyWhereEveryOpenDirectoryStays(t *testing.T) {
	var src, rec []string
	for i := range 9 {
		src = append(src, fmt.Sprintf("a/%d", i), fmt.Sprintf("c/%d", i))
		rec = append(rec, fmt.Sprintf("a/%d", i), fmt.Sprintf("b/x%d", i), fmt.Sprintf("b-1/%d", i))
	}
	// b was a directory and is a file now; b-1 (between b and b/) is new;
	// c is new; d is gone with all it held.
	src = append(src, "a/", "b", "b-1/", "c/", "hl", "c/hl")
	rec = append(rec, "a/", "b/", "d/", "d/1", "d/2", "d/3")
	for i := range 9 {
		src = append(src, fmt.Sprintf("b-1/%d", i))
	}
	s := tree(src...)
	for i := range s {
		if strings.HasSuffix(s[i].Path, "hl") {
			s[i].Nlink, s[i].Inode = 2, 7 // two names of one file
		}
	}
	linked, parents, err := hardLinked(spill.Of(s))
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"hl": true, "c/hl": true}, linked)
	rows := rowsOf(tree(rec...))
	i := 0
	pull := func() (plan.Prev, bool) {
		if i == len(rows) {
			return plan.Prev{}, false
		}
		i++
		return rows[i-1], true
	}
	keep := func(string, bool) bool { return false }
	first := newRanger(2, keep, spill.Of(s).Cursor(), pull, func() error { return nil }, nil, linked, parents)
	parts := allParts(t, first)
	require.Greater(t, len(first.cuts), 5, "ranges of about 2 entries")
	for _, c := range first.cuts {
		require.False(t, c > "b" && c < "b0", "cut at %q, inside b, a directory replaced by a file", c)
		require.False(t, c > "d" && c < "d0", "cut at %q, inside d, a directory removed", c)
	}
	require.Contains(t, first.cuts, "a/5", "a stays a directory: a range may end inside it")
	// Every entry is in exactly one range, the hard-linked ones in the last.
	var got []string
	for _, pt := range parts {
		for _, e := range pt.src {
			got = append(got, e.Path)
		}
	}
	want := make([]string, 0, len(s))
	for _, e := range s {
		if !linked[e.Path] {
			want = append(want, e.Path)
		}
	}
	want = append(want, "c/hl", "hl")
	require.Equal(t, want, got)
	last := parts[len(parts)-1]
	require.Len(t, last.src, 2)
	// The directories open at some cut, and c (which holds a hard link),
	// get their metadata set last. b-1 sorts between b and b/…: no range
	// ends in it.
	var carried []string
	for _, d := range first.carriedDirs() {
		carried = append(carried, d.entry.Path)
	}
	require.Equal(t, []string{"a", "c"}, carried)

	// The second pass cuts where the first did.
	i = 0
	second := newRanger(2, keep, spill.Of(s).Cursor(), pull, func() error { return nil }, nil, linked, parents).following(first.cuts)
	again := allParts(t, second)
	require.Equal(t, len(parts), len(again))
	for k := range parts {
		require.Equal(t, parts[k].src, again[k].src)
		require.Equal(t, parts[k].prev, again[k].prev)
	}
}
