package spill

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/store"
)

// readBuffer is the read-ahead of each run while the runs are merged: a
// listing of 10^7 entries in runs of 2^16 reads 153 runs at once, 5 MB.
const readBuffer = 32 << 10

// Sorter takes entries in any order and hands them back sorted by path
// (Sorted). It is not safe for concurrent use.
type Sorter struct {
	dir  string
	max  int
	buf  []store.Entry
	f    *os.File
	w    *bufio.Writer
	off  int64
	runs []section
	n    int
	enc  []byte
}

// section is a sorted run in the file.
type section struct{ off, size int64 }

// NewSorter returns a sorter that holds at most runEntries entries in
// memory, writing the rest to a temporary file in dir (os.TempDir when
// "").
func NewSorter(dir string, runEntries int) *Sorter {
	return &Sorter{dir: dir, max: max(1, runEntries)}
}

// Add takes an entry.
func (s *Sorter) Add(e store.Entry) error {
	if len(s.buf) == s.max {
		if err := s.flush(); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, e)
	s.n++
	return nil
}

// Len is the number of entries taken.
func (s *Sorter) Len() int { return s.n }

// Reset drops what was taken (a listing that starts again).
func (s *Sorter) Reset() error {
	s.buf, s.runs, s.n, s.off = s.buf[:0], nil, 0, 0
	if s.f == nil {
		return nil
	}
	s.w.Reset(s.f)
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return s.wrap(err)
	}
	return s.wrap(s.f.Truncate(0))
}

// Discard gives back what the sorter holds; it is not used again.
func (s *Sorter) Discard() {
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.buf = nil, nil
}

func (s *Sorter) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("write the listing's sorted runs to %s: %w", s.where(), err)
}

func (s *Sorter) where() string {
	if s.dir == "" {
		return os.TempDir()
	}
	return s.dir
}

// flush sorts the entries in memory and writes them as a run.
func (s *Sorter) flush() error {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "listing-*.spill")
		if err != nil {
			return s.wrap(err)
		}
		// Unlinked now: the open file is all there is of it, and it goes
		// when the process does, however it ends.
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return s.wrap(err)
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	}
	sortByPath(s.buf)
	start := s.off
	for i := range s.buf {
		s.enc = encode(s.enc[:0], &s.buf[i])
		if _, err := s.w.Write(s.enc); err != nil {
			return s.wrap(err)
		}
		s.off += int64(len(s.enc))
	}
	if err := s.w.Flush(); err != nil {
		return s.wrap(err)
	}
	s.runs = append(s.runs, section{start, s.off - start})
	clear(s.buf) // the paths go to the collector
	s.buf = s.buf[:0]
	return nil
}

// Sorted ends the taking and returns the listing in path order; the
// sorter is not used again.
func (s *Sorter) Sorted() (*Sorted, error) {
	if s.f == nil {
		sortByPath(s.buf)
		return &Sorted{mem: s.buf, n: s.n}, nil
	}
	if len(s.buf) > 0 {
		if err := s.flush(); err != nil {
			s.f.Close()
			return nil, err
		}
	}
	s.buf = nil
	return &Sorted{f: s.f, runs: s.runs, n: s.n}, nil
}

func sortByPath(es []store.Entry) {
	slices.SortFunc(es, func(a, b store.Entry) int { return strings.Compare(a.Path, b.Path) })
}

// Sorted is a listing in path order, in memory or in sorted runs on disk.
type Sorted struct {
	mem  []store.Entry
	f    *os.File
	runs []section
	n    int
}

// Of returns a listing that is es, which must be sorted by path.
func Of(es []store.Entry) *Sorted { return &Sorted{mem: es, n: len(es)} }

// Len is the number of entries.
func (l *Sorted) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// Runs is the number of runs on disk (0: all in memory).
func (l *Sorted) Runs() int { return len(l.runs) }

// Close gives back the file of the runs.
func (l *Sorted) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Cursor reads the listing from its start; a listing can be read by any
// number of cursors, one after the other or at once.
func (l *Sorted) Cursor() *Cursor {
	c := &Cursor{l: l, i: -1}
	if l == nil || l.f == nil {
		return c
	}
	for _, r := range l.runs {
		rr := &runReader{r: bufio.NewReaderSize(io.NewSectionReader(l.f, r.off, r.size), readBuffer)}
		if rr.next() {
			c.h = append(c.h, rr)
		} else if rr.err != nil {
			c.err = rr.err
		}
	}
	heap.Init(&c.h)
	return c
}

// Each calls fn with every entry in path order.
func (l *Sorted) Each(fn func(*store.Entry) error) error {
	c := l.Cursor()
	for c.Next() {
		if err := fn(c.Entry()); err != nil {
			return err
		}
	}
	return c.Err()
}

// Cursor walks a listing in path order.
type Cursor struct {
	l   *Sorted
	i   int // in memory: the current entry
	h   runHeap
	cur store.Entry
	err error
}

// Next moves to the next entry; false at the end or on an error (Err).
func (c *Cursor) Next() bool {
	if c.err != nil {
		return false
	}
	if c.l == nil || c.l.f == nil {
		if c.l == nil || c.i+1 >= len(c.l.mem) {
			return false
		}
		c.i++
		return true
	}
	if len(c.h) == 0 {
		return false
	}
	top := c.h[0]
	c.cur = top.e
	if top.next() {
		heap.Fix(&c.h, 0)
	} else {
		if top.err != nil {
			c.err = top.err
			return false
		}
		heap.Pop(&c.h)
	}
	return true
}

// Entry is the current entry; it is the cursor's until Next is called
// again (copy it to keep it).
func (c *Cursor) Entry() *store.Entry {
	if c.l != nil && c.l.f == nil {
		return &c.l.mem[c.i]
	}
	return &c.cur
}

// Err is what stopped the cursor early.
func (c *Cursor) Err() error {
	if c.err != nil {
		return fmt.Errorf("read the listing's sorted runs back: %w", c.err)
	}
	return nil
}

// runReader reads one run; e is its next entry.
type runReader struct {
	r   *bufio.Reader
	e   store.Entry
	err error
}

func (rr *runReader) next() bool {
	e, err := decode(rr.r)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			rr.err = err
		}
		return false
	}
	rr.e = e
	return true
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].e.Path < h[j].e.Path }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// encode appends e's record: its two strings with their lengths, then its
// numbers as varints.
func encode(b []byte, e *store.Entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.Path)))
	b = append(b, e.Path...)
	b = binary.AppendUvarint(b, uint64(len(e.Target)))
	b = append(b, e.Target...)
	b = binary.AppendVarint(b, int64(e.ModTime))
	b = binary.AppendVarint(b, e.Size)
	b = binary.AppendUvarint(b, e.Inode)
	b = binary.AppendUvarint(b, uint64(e.UID))
	b = binary.AppendUvarint(b, uint64(e.GID))
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendUvarint(b, uint64(e.Nlink))
	return append(b, byte(e.Type))
}

// decode reads a record that encode wrote; io.EOF at the end of the run.
func decode(r *bufio.Reader) (store.Entry, error) {
	var e store.Entry
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return e, err // io.EOF only here, between records
	}
	str := func(n uint64) (string, error) {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return string(b), err
	}
	fail := func(err error) (store.Entry, error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return store.Entry{}, err
	}
	if e.Path, err = str(n); err != nil {
		return fail(err)
	}
	if n, err = binary.ReadUvarint(r); err != nil {
		return fail(err)
	}
	if e.Target, err = str(n); err != nil {
		return fail(err)
	}
	var v [2]int64
	for i := range v {
		if v[i], err = binary.ReadVarint(r); err != nil {
			return fail(err)
		}
	}
	e.ModTime, e.Size = store.Time(v[0]), v[1]
	var u [5]uint64
	for i := range u {
		if u[i], err = binary.ReadUvarint(r); err != nil {
			return fail(err)
		}
	}
	e.Inode, e.UID, e.GID, e.Mode, e.Nlink = u[0], uint32(u[1]), uint32(u[2]), fs.FileMode(u[3]), uint32(u[4])
	t, err := r.ReadByte()
	if err != nil {
		return fail(err)
	}
	e.Type = store.EntryType(t)
	return e, nil
}
