package spill

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/internal/store"
)

// entries makes n entries with every field set and paths as a tree has
// them: nested, with bytes below '/', newlines, non-UTF-8 bytes.
func entries(n int, seed uint64) []store.Entry {
	r := rand.New(rand.NewPCG(seed, 1))
	names := []string{"a", "a-b", "a.b", "a/b", "b\nc", "d\xff", "e f", "-x", strings.Repeat("n", 200)}
	es := make([]store.Entry, n)
	for i := range es {
		es[i] = store.Entry{
			Path:    fmt.Sprintf("%s/%d/%s", names[r.IntN(len(names))], r.IntN(50), names[r.IntN(len(names))]) + fmt.Sprint(i),
			Target:  names[r.IntN(len(names))],
			ModTime: store.Time(r.Int64() - 1<<62),
			Size:    r.Int64N(1 << 40),
			Inode:   r.Uint64(),
			UID:     r.Uint32(),
			GID:     r.Uint32(),
			Mode:    os.FileMode(r.Uint32()),
			Nlink:   r.Uint32(),
			Type:    store.EntryType(1 + r.IntN(3)),
		}
	}
	return es
}

func all(t *testing.T, l *Sorted) []store.Entry {
	t.Helper()
	var out []store.Entry
	require.NoError(t, l.Each(func(e *store.Entry) error { out = append(out, *e); return nil }))
	return out
}

func sorted(es []store.Entry) []store.Entry {
	es = slices.Clone(es)
	sortByPath(es)
	return es
}

func TestSortedRunsMergeBackInPathOrder(t *testing.T) {
	for _, tc := range []struct{ n, run, runs int }{
		{0, 5, 0}, {1, 5, 0}, {5, 5, 0}, {6, 5, 2}, {1000, 7, 143}, {3000, 1000, 3},
	} {
		t.Run(fmt.Sprint(tc.n, "/", tc.run), func(t *testing.T) {
			dir := t.TempDir()
			es := entries(tc.n, uint64(tc.n))
			s := NewSorter(dir, tc.run)
			for _, e := range es {
				require.NoError(t, s.Add(e))
			}
			l, err := s.Sorted()
			require.NoError(t, err)
			defer l.Close()
			require.Equal(t, tc.n, l.Len())
			require.Equal(t, tc.runs, l.Runs())
			want := sorted(es)
			require.True(t, slices.Equal(want, all(t, l)))
			require.True(t, slices.Equal(want, all(t, l)), "read twice")
			// Two cursors at once, each its own.
			a, b := l.Cursor(), l.Cursor()
			for i := range want {
				require.True(t, a.Next())
				if i%2 == 0 {
					require.True(t, b.Next())
					require.Equal(t, want[i/2], *b.Entry())
				}
				require.Equal(t, want[i], *a.Entry())
			}
			require.False(t, a.Next())
			require.NoError(t, a.Err())
			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, left, "the runs' file is unlinked from the start")
		})
	}
}

func TestResetStartsAfresh(t *testing.T) {
	s := NewSorter(t.TempDir(), 3)
	for _, e := range entries(10, 1) {
		require.NoError(t, s.Add(e))
	}
	require.NoError(t, s.Reset())
	es := entries(8, 2)
	for _, e := range es {
		require.NoError(t, s.Add(e))
	}
	l, err := s.Sorted()
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, 8, l.Len())
	require.Equal(t, sorted(es), all(t, l))
}

func TestAnUnwritableDirectoryIsNamed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	s := NewSorter(dir, 1)
	require.NoError(t, s.Add(store.Entry{Path: "a"}))
	err := s.Add(store.Entry{Path: "b"})
	require.ErrorContains(t, err, "write the listing's sorted runs to "+dir)
}

func TestATruncatedRunIsAnError(t *testing.T) {
	s := NewSorter(t.TempDir(), 2)
	for _, e := range entries(5, 3) {
		require.NoError(t, s.Add(e))
	}
	l, err := s.Sorted()
	require.NoError(t, err)
	defer l.Close()
	l.runs[0].size -= 3 // the last record of the first run ends early
	n := 0
	err = l.Each(func(*store.Entry) error { n++; return nil })
	require.ErrorContains(t, err, "read the listing's sorted runs back: unexpected EOF")
	require.Less(t, n, 5)
}

func BenchmarkSortAndMerge(b *testing.B) {
	es := entries(1<<17, 4)
	dir := b.TempDir()
	for b.Loop() {
		s := NewSorter(dir, 1<<14)
		for _, e := range es {
			if err := s.Add(e); err != nil {
				b.Fatal(err)
			}
		}
		l, err := s.Sorted()
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Each(func(*store.Entry) error { return nil }); err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}

func TestLogReadsBackInOrderWithItsStrings(t *testing.T) {
	l, err := NewLog(t.TempDir())
	require.NoError(t, err)
	defer l.Close()
	es := entries(500, 5)
	for i := range es {
		require.NoError(t, l.Add(&es[i], fmt.Sprint("hash", i)))
	}
	require.Equal(t, 500, l.Len())
	r, err := l.Reader()
	require.NoError(t, err)
	for i := range es {
		e, s, ok := r.Next()
		require.True(t, ok)
		require.Equal(t, es[i], e)
		require.Equal(t, fmt.Sprint("hash", i), s)
	}
	_, _, ok := r.Next()
	require.False(t, ok)
	require.NoError(t, r.Err())
}
