package spill

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
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
	return &Error{What: "write the listing's sorted runs to", Dir: dirName(s.dir), Err: err}
}

// Error is a failure to write or read what this package keeps on disk, in
// the directory Dir: a caller can tell that disk from its others (a full
// disk there is not the target's).
type Error struct {
	What, Dir string
	Err       error
}

func (e *Error) Error() string {
	if e.Dir == "" {
		return e.What + ": " + e.Err.Error()
	}
	return e.What + " " + e.Dir + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// dirName is where a file made in dir goes.
func dirName(dir string) string {
	if dir == "" {
		return os.TempDir()
	}
	return dir
}

// createUnlinked makes a file in dir and unlinks it at once: the open
// file is all there is of it, and it goes when the process does, however
// it ends.
func createUnlinked(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// flush writes the entries in memory as a run.
func (s *Sorter) flush() error {
	if err := s.writeRun(s.buf); err != nil {
		return err
	}
	clear(s.buf) // the paths go to the collector
	s.buf = s.buf[:0]
	return nil
}

// WriteRun sorts es in place and writes it as a run of its own: a caller
// that holds its entries in a slice of its own hands them over a slice at
// a time (es is the caller's again on return).
func (s *Sorter) WriteRun(es []store.Entry) error {
	s.n += len(es)
	return s.writeRun(es)
}

func (s *Sorter) writeRun(es []store.Entry) error {
	if len(es) == 0 {
		return nil
	}
	if s.f == nil {
		f, err := createUnlinked(s.dir, "listing-*.spill")
		if err != nil {
			return s.wrap(err)
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	}
	sortByPath(es)
	start := s.off
	for i := range es {
		s.enc = encode(s.enc[:0], &es[i])
		if _, err := s.w.Write(s.enc); err != nil {
			return s.wrap(err)
		}
		s.off += int64(len(s.enc))
	}
	if err := s.w.Flush(); err != nil {
		return s.wrap(err)
	}
	s.runs = append(s.runs, section{start, s.off - start})
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

// Entry is the current entry. Of a listing in runs on disk it is the
// cursor's until Next is called again (copy it to keep it); of one in
// memory (Runs 0) it points into the listing, and stays.
func (c *Cursor) Entry() *store.Entry {
	if c.l != nil && c.l.f == nil {
		return &c.l.mem[c.i]
	}
	return &c.cur
}

// Err is what stopped the cursor early.
func (c *Cursor) Err() error {
	if c.err != nil {
		return &Error{What: "read the listing's sorted runs back", Err: c.err}
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

// Log is a file of entries kept in the order they are written, each with
// a string of its own (a manifest row's hash): what is read once in order
// and wanted again, without holding it.
type Log struct {
	f   *os.File
	w   *bufio.Writer
	n   int
	enc []byte
	dir string
}

// NewLog makes an empty log in dir (os.TempDir when ""), unlinked at once.
func NewLog(dir string) (*Log, error) {
	l := &Log{dir: dir}
	f, err := createUnlinked(dir, "rows-*.spill")
	if err != nil {
		return nil, l.wrap(err)
	}
	l.f, l.w = f, bufio.NewWriterSize(f, 256<<10)
	return l, nil
}

func (l *Log) wrap(err error) error {
	return &Error{What: "keep a copy of the record in", Dir: dirName(l.dir), Err: err}
}

// Add appends e and its string.
func (l *Log) Add(e *store.Entry, s string) error {
	l.enc = encode(l.enc[:0], e)
	l.enc = binary.AppendUvarint(l.enc, uint64(len(s)))
	l.enc = append(l.enc, s...)
	l.n++
	if _, err := l.w.Write(l.enc); err != nil {
		return l.wrap(err)
	}
	return nil
}

// Len is the number of entries added.
func (l *Log) Len() int { return l.n }

// Reader reads the log from its start; Add is not called again after it.
func (l *Log) Reader() (*LogReader, error) {
	if err := l.w.Flush(); err != nil {
		return nil, l.wrap(err)
	}
	end, err := l.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, l.wrap(err)
	}
	return &LogReader{r: bufio.NewReaderSize(io.NewSectionReader(l.f, 0, end), 256<<10)}, nil
}

// Close gives the file back.
func (l *Log) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LogReader reads a Log in order.
type LogReader struct {
	r   *bufio.Reader
	err error
}

// Next returns the next entry and its string; false at the end or on an
// error (Err).
func (lr *LogReader) Next() (store.Entry, string, bool) {
	if lr.err != nil {
		return store.Entry{}, "", false
	}
	e, err := decode(lr.r)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			lr.err = err
		}
		return store.Entry{}, "", false
	}
	n, err := binary.ReadUvarint(lr.r)
	var b []byte
	if err == nil {
		b = make([]byte, n)
		_, err = io.ReadFull(lr.r, b)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		lr.err = err
		return store.Entry{}, "", false
	}
	return e, string(b), true
}

// Err is what stopped the reader early.
func (lr *LogReader) Err() error {
	if lr.err != nil {
		return &Error{What: "read the copy of the record back", Err: lr.err}
	}
	return nil
}
