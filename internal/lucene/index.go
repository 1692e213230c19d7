package lucene

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// FS gives read access to the files of one index directory.
type FS interface {
	// List returns the regular files of the directory and their sizes.
	List(ctx context.Context) (map[string]int64, error)
	// ReadAt fills p from offset off of file name.
	ReadAt(ctx context.Context, name string, p []byte, off int64) error
	// Stream writes the whole content of file name to w.
	Stream(ctx context.Context, name string, w io.Writer) error
}

// File is one file of a commit.
type File struct {
	Name    string
	Segment string // "" for segments_N
	Size    int64  // -1 when missing
	Header  Header
	Footer  bool   // the file ends with a codec footer
	CRC     uint32 // the footer's CRC32 (valid when Footer)
	Problem string // "" when the cheap checks passed
}

// Index is the latest commit of an index directory and its files.
type Index struct {
	Commit   *Commit
	Files    []File // every file of the commit, segments_N last
	Segments map[string]*SegmentInfo
	Compound map[string][]CFEntry // entries of each .cfs, by .cfs name
	Present  map[string]int64     // every file in the directory
}

// SegmentFiles returns, for each segment, the names of its files in the commit.
func (ix *Index) SegmentFiles() map[string][]string {
	m := map[string][]string{}
	for _, f := range ix.Files {
		if f.Segment != "" {
			m[f.Segment] = append(m[f.Segment], f.Name)
		}
	}
	return m
}

// File returns the named file of the commit.
func (ix *Index) File(name string) (File, bool) {
	for _, f := range ix.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// PerCommit returns the files of segment seg that belong to one commit
// rather than to the segment: its live-docs file and its field-infos and
// doc-values update files. They change names with each generation.
func (ix *Index) PerCommit() map[string]bool {
	m := map[string]bool{}
	for _, s := range ix.Commit.Segments {
		if n := liveDocsName(ix.Commit, s); n != "" {
			m[n] = true
		}
		for _, f := range s.UpdateFiles {
			m[f] = true
		}
	}
	return m
}

// Problems returns the files whose cheap checks failed.
func (ix *Index) Problems() []File {
	var out []File
	for _, f := range ix.Files {
		if f.Problem != "" {
			out = append(out, f)
		}
	}
	return out
}

// ErrNoCommit is returned by Load for a directory without segments_N.
var ErrNoCommit = errors.New("no segments_N file: not a Lucene index")

// LatestCommit returns the name of the highest segments_N generation among names.
func LatestCommit(names map[string]int64) (string, bool) {
	best, found := int64(-1), ""
	for n := range names {
		if g, ok := SegmentsGen(n); ok && g > best {
			best, found = g, n
		}
	}
	return found, found != ""
}

// IsIndexFile reports whether a file name can belong to a commit (as
// opposed to write.lock, segments.gen, pending_segments_N or temp files).
func IsIndexFile(name string) bool {
	if _, ok := SegmentsGen(name); ok {
		return true
	}
	return strings.HasPrefix(name, "_") && strings.Contains(name, ".") && !strings.HasSuffix(name, ".tmp")
}

// Load reads the latest commit of the index in fsys and the header and
// footer of each of its files. A commit that cannot be read at all (a
// garbled segments_N) is an error; damage to other files is recorded in
// each File's Problem so that Verify can name all of it at once.
func Load(ctx context.Context, fsys FS) (*Index, error) {
	present, err := fsys.List(ctx)
	if err != nil {
		return nil, err
	}
	name, ok := LatestCommit(present)
	if !ok {
		return nil, ErrNoCommit
	}
	return loadCommit(ctx, fsys, name, present)
}

// LoadCommit is Load for a given commit (segments_N) rather than the latest.
func LoadCommit(ctx context.Context, fsys FS, name string) (*Index, error) {
	present, err := fsys.List(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := present[name]; !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return loadCommit(ctx, fsys, name, present)
}

func loadCommit(ctx context.Context, fsys FS, name string, present map[string]int64) (*Index, error) {
	var buf bytes.Buffer
	if err := fsys.Stream(ctx, name, &buf); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	c, err := ParseCommit(name, buf.Bytes())
	if err != nil {
		return nil, err
	}
	ix := &Index{Commit: c, Segments: map[string]*SegmentInfo{}, Compound: map[string][]CFEntry{}, Present: present}
	seen := map[string]bool{}
	add := func(f File) {
		if !seen[f.Name] {
			seen[f.Name] = true
			ix.Files = append(ix.Files, f)
		}
	}
	for _, seg := range c.Segments {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		names, si, perr := segmentFileSet(ctx, fsys, c, seg, present)
		if si != nil {
			ix.Segments[seg.Name] = si
		}
		for _, n := range names {
			f := describe(ctx, fsys, c, seg, n, present)
			if n == seg.Name+".si" && perr != nil && f.Problem == "" {
				f.Problem = perr.Error()
			}
			if f.Problem == "" && si != nil && si.Compound && strings.HasSuffix(n, ".cfe") {
				if ents, err := readCFE(ctx, fsys, seg, n, f.Size); err != nil {
					f.Problem = err.Error()
				} else {
					ix.Compound[strings.TrimSuffix(n, ".cfe")+".cfs"] = ents
				}
			}
			add(f)
		}
	}
	sort.Slice(ix.Files, func(i, j int) bool { return ix.Files[i].Name < ix.Files[j].Name })
	for cfs, ents := range ix.Compound {
		for i := range ix.Files {
			f := &ix.Files[i]
			if f.Name == cfs && f.Problem == "" {
				f.Problem = checkEntries(ents, f.Size)
			}
		}
	}
	add(File{Name: name, Size: int64(buf.Len()), Header: Header{Codec: "segments", Version: c.Format, ID: c.ID, Suffix: FormatGen(c.Gen)}, Footer: c.Footers(), CRC: c.CRC})
	return ix, nil
}

// segmentFileSet lists the files of one segment in commit c, as
// SegmentCommitInfo.files does: the .si file's set, the live-docs file of
// the current deletes generation, and the field-infos and doc-values update
// files. When the .si cannot be read, the files named for the segment that
// are present stand in, and the error is returned too.
func segmentFileSet(ctx context.Context, fsys FS, c *Commit, seg SegmentRef, present map[string]int64) ([]string, *SegmentInfo, error) {
	siName := seg.Name + ".si"
	var names []string
	si, err := readSI(ctx, fsys, seg, siName, present)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, nil, err
		}
		names = append(names, siName)
		for n := range present {
			if belongsTo(n, seg.Name) && n != siName {
				names = append(names, n)
			}
		}
	} else {
		names = append(names, si.Files...)
	}
	if n := liveDocsName(c, seg); n != "" {
		names = append(names, n)
	}
	names = append(names, seg.UpdateFiles...)
	return names, si, err
}

func readSI(ctx context.Context, fsys FS, seg SegmentRef, name string, present map[string]int64) (*SegmentInfo, error) {
	size, ok := present[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if size > 64<<20 {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrCorrupt, name, size)
	}
	var buf bytes.Buffer
	if err := fsys.Stream(ctx, name, &buf); err != nil {
		return nil, err
	}
	return ParseSegmentInfo(seg, buf.Bytes())
}

func readCFE(ctx context.Context, fsys FS, seg SegmentRef, name string, size int64) ([]CFEntry, error) {
	if size > 64<<20 {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrCorrupt, name, size)
	}
	var buf bytes.Buffer
	if err := fsys.Stream(ctx, name, &buf); err != nil {
		return nil, err
	}
	return ParseCFE(seg, buf.Bytes())
}

// checkEntries checks that the sub-files of a .cfs lie inside it, after its
// header and before its footer, without overlapping.
func checkEntries(ents []CFEntry, size int64) string {
	s := append([]CFEntry(nil), ents...)
	sort.Slice(s, func(i, j int) bool { return s[i].Offset < s[j].Offset })
	var end int64
	for _, e := range s {
		if e.Offset < end || e.Offset+e.Length > size-FooterLen || e.Length < FooterLen {
			return fmt.Sprintf("sub-file %s (%d bytes at %d) does not fit in the %d-byte compound file", e.Name, e.Length, e.Offset, size)
		}
		end = e.Offset + e.Length
	}
	return ""
}

// Stat reads the header and footer of one file of size bytes: the identity
// Lucene gives a file (segment id, suffix, footer CRC). indexHeader says the
// file starts with an index header (Lucene 5+), footer that it must end with
// a codec footer (4.8+). What is wrong is recorded in Problem.
func Stat(ctx context.Context, fsys FS, name string, size int64, indexHeader, footer bool) File {
	f := File{Name: name, Size: size}
	head := make([]byte, min(size, MaxHeaderLen))
	if err := fsys.ReadAt(ctx, name, head, 0); err != nil {
		f.Problem = "cannot read: " + err.Error()
		return f
	}
	// Lucene 4.x deletions (.del, a BitVector) start with the int -2 before
	// their codec header.
	skip := 0
	if strings.HasSuffix(name, ".del") && len(head) >= 4 && binary.BigEndian.Uint32(head) == 0xfffffffe {
		skip = 4
	}
	h, err := ParseHeader(head[skip:], indexHeader)
	if err != nil {
		f.Problem = "header: " + err.Error()
		return f
	}
	h.Len += skip
	f.Header = h
	if !footer {
		return f
	}
	if size < int64(h.Len)+FooterLen {
		f.Problem = fmt.Sprintf("truncated: %d bytes cannot hold a header and a footer", size)
		return f
	}
	tail := make([]byte, FooterLen)
	if err := fsys.ReadAt(ctx, name, tail, size-FooterLen); err != nil {
		f.Problem = "cannot read: " + err.Error()
		return f
	}
	ft, err := ParseFooter(tail)
	if err != nil {
		f.Problem = "footer: " + err.Error()
		return f
	}
	f.Footer, f.CRC = true, ft.CRC
	return f
}

// describe runs Stat and the checks that need the commit: the header's
// segment id and suffix.
func describe(ctx context.Context, fsys FS, c *Commit, seg SegmentRef, name string, present map[string]int64) File {
	size, ok := present[name]
	if !ok {
		return File{Name: name, Segment: seg.Name, Size: -1, Problem: "missing"}
	}
	f := Stat(ctx, fsys, name, size, c.IndexHeaders(), c.Footers())
	f.Segment = seg.Name
	if f.Problem != "" || !c.IndexHeaders() {
		return f
	}
	if !bytes.Equal(f.Header.ID, seg.ID) {
		f.Problem = fmt.Sprintf("header: segment id %x, the commit says %x (a file of another index or segment)", f.Header.ID, seg.ID)
	} else if want := suffixOf(name, seg.Name); f.Header.Suffix != want {
		f.Problem = fmt.Sprintf("header: suffix %q, want %q", f.Header.Suffix, want)
	}
	return f
}

// suffixOf derives the index-header suffix Lucene writes into a file from
// its name: "_3_1.liv" → "1", "_3_Lucene50_0.doc" → "Lucene50_0", "_3.fdt" → "".
func suffixOf(name, seg string) string {
	base := strings.TrimSuffix(name, path.Ext(name))
	return strings.TrimPrefix(strings.TrimPrefix(base, seg), "_")
}

// liveDocsName names the deletions of seg in commit c: "_3_2.liv" (5+) or
// "_3_2.del" (4.x); "" when the segment has none.
func liveDocsName(c *Commit, seg SegmentRef) string {
	if seg.DelGen == -1 {
		return ""
	}
	if c.IndexHeaders() {
		return seg.Name + "_" + FormatGen(seg.DelGen) + ".liv"
	}
	return seg.Name + "_" + FormatGen(seg.DelGen) + ".del"
}
