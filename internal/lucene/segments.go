package lucene

import (
	"fmt"
	"hash/crc32"
	"strings"
)

// Format versions of segments_N, as SegmentInfos names them.
const (
	segV40 = 0  // 4.0: plain codec header, trailing CRC, no per-file footers
	segV46 = 1  // 4.6: field-infos generations
	segV48 = 2  // 4.8: codec footer
	segV49 = 3  // 4.9: doc-values generations apart from field-infos ones
	segV50 = 4  // 5.0: index header with commit id, a segment id per segment
	segV51 = 5  // 5.1: vInt-counted sets and maps
	segV53 = 6  // 5.3: Lucene version of the commit and of the oldest segment
	segV70 = 7  // 7.0: index-created major version
	segV72 = 8  // 7.2: counter as vLong (Lucene 7.3, Jira 8–11)
	segV74 = 9  // 7.4: soft-deletes count
	segV86 = 10 // 8.6: per-commit SegmentCommitInfo id
	segV10 = 11 // 10.x: doc-values overlays
)

// Commit is a parsed segments_N file.
type Commit struct {
	Name          string // segments_N
	Gen           int64
	Format        int32
	ID            []byte // nil before Lucene 5.0
	LuceneVersion string // the Lucene that wrote the commit ("" before 5.3)
	CreatedMajor  int    // the major version that created the index (0 before 7.0)
	Segments      []SegmentRef
	UserData      map[string]string
	CRC           uint32 // footer CRC, or the trailing checksum before 4.8
}

// Footers reports whether the files of this commit carry codec footers
// (Lucene 4.8 and later).
func (c *Commit) Footers() bool { return c.Format >= segV48 }

// IndexHeaders reports whether the files of this commit start with index
// headers carrying the segment id (Lucene 5.0 and later).
func (c *Commit) IndexHeaders() bool { return c.Format >= segV50 }

// SegmentRef is one segment as the commit refers to it.
type SegmentRef struct {
	Name          string
	ID            []byte // nil for a 4.x segment
	Codec         string
	DelGen        int64
	DelCount      int32
	FieldInfosGen int64
	DocValuesGen  int64
	SoftDelCount  int32
	// Files the commit adds to the segment's own: field-infos and doc-values
	// update files (and the per-generation update files of 4.6–4.8).
	UpdateFiles []string
}

// SegmentsName returns the file name of commit generation gen.
func SegmentsName(gen int64) string {
	if gen == 0 {
		return "segments"
	}
	return "segments_" + FormatGen(gen)
}

// SegmentsGen returns the generation of a segments_N file name, or false
// when name is not one (segments.gen and pending_segments_N are not).
func SegmentsGen(name string) (int64, bool) {
	if name == "segments" {
		return 0, true
	}
	s, ok := strings.CutPrefix(name, "segments_")
	if !ok {
		return 0, false
	}
	g, err := ParseGen(s)
	return g, err == nil
}

// ParseCommit parses the content of the segments_N file called name. It
// checks the file's own checksum.
func ParseCommit(name string, b []byte) (*Commit, error) {
	gen, ok := SegmentsGen(name)
	if !ok {
		return nil, fmt.Errorf("%s is not a segments_N file", name)
	}
	c, err := parseCommit(name, gen, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func parseCommit(name string, gen int64, b []byte) (*Commit, error) {
	h, err := ParseHeader(b, false)
	if err != nil {
		return nil, err
	}
	if h.Codec != "segments" {
		return nil, fmt.Errorf("%w: codec %q, want \"segments\"", ErrCorrupt, h.Codec)
	}
	if h.Version < segV40 || h.Version > segV10 {
		return nil, fmt.Errorf("%w: segments format version %d (this cutover reads %d to %d, Lucene 4.0 to 10.x)",
			ErrUnsupported, h.Version, segV40, segV10)
	}
	c := &Commit{Name: name, Gen: gen, Format: h.Version}
	body := b
	if c.Footers() {
		if len(b) < h.Len+FooterLen {
			return nil, fmt.Errorf("%w: too short", ErrCorrupt)
		}
		f, err := ParseFooter(b[len(b)-FooterLen:])
		if err != nil {
			return nil, err
		}
		if got := crc32.ChecksumIEEE(b[:len(b)-8]); got != f.CRC {
			return nil, fmt.Errorf("%w: checksum %08x, footer says %08x", ErrCorrupt, got, f.CRC)
		}
		c.CRC = f.CRC
		body = b[:len(b)-FooterLen]
	} else {
		// 4.0–4.7: the file ends with the CRC32 of what precedes it, as an int64.
		if len(b) < h.Len+8 {
			return nil, fmt.Errorf("%w: too short", ErrCorrupt)
		}
		r := &reader{b: b[len(b)-8:]}
		want := r.be64()
		if got := crc32.ChecksumIEEE(b[:len(b)-8]); int64(got) != want {
			return nil, fmt.Errorf("%w: checksum %08x, file says %08x", ErrCorrupt, got, want)
		}
		c.CRC = uint32(want)
		body = b[:len(b)-8]
	}
	r := &reader{b: body}
	if c.Format >= segV50 {
		h, err = ParseHeader(body, true)
		if err != nil {
			return nil, err
		}
		c.ID = h.ID
		if want := FormatGen(gen); h.Suffix != want {
			return nil, fmt.Errorf("%w: header suffix %q does not match the file name's generation %q", ErrCorrupt, h.Suffix, want)
		}
	}
	r.off = h.Len
	switch {
	case c.Format < segV50:
		parse4x(r, c)
	case c.Format < segV70:
		parse5x(r, c)
	default:
		parse7x(r, c)
	}
	if err := r.err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if r.off != len(body) {
		return nil, fmt.Errorf("%w: %d unexpected bytes after the commit data", ErrCorrupt, len(body)-r.off)
	}
	for _, s := range c.Segments {
		if err := checkSegName(s.Name); err != nil {
			return nil, err
		}
		for _, f := range s.UpdateFiles {
			if !belongsTo(f, s.Name) {
				return nil, fmt.Errorf("%w: segment %s lists update file %q", ErrCorrupt, s.Name, f)
			}
		}
	}
	return c, nil
}

func parse4x(r *reader, c *Commit) {
	r.be64() // version
	r.be32() // counter
	n := r.count(int64(r.be32()), "segment")
	for i := 0; i < n && r.err() == nil; i++ {
		s := SegmentRef{Name: r.str(), Codec: r.str(), DelGen: r.be64(), DelCount: r.be32(), FieldInfosGen: -1, DocValuesGen: -1}
		if c.Format >= segV46 {
			s.FieldInfosGen = r.be64()
		}
		if c.Format >= segV49 {
			s.DocValuesGen = r.be64()
		}
		if c.Format >= segV46 && c.Format < segV49 {
			m := r.count(int64(r.be32()), "generation")
			for j := 0; j < m && r.err() == nil; j++ {
				r.be64()
				s.UpdateFiles = append(s.UpdateFiles, r.setOfStrings(true)...)
			}
		} else if c.Format >= segV49 {
			s.UpdateFiles = append(s.UpdateFiles, r.setOfStrings(true)...)
			m := r.count(int64(r.be32()), "doc-values field")
			for j := 0; j < m && r.err() == nil; j++ {
				r.be32()
				s.UpdateFiles = append(s.UpdateFiles, r.setOfStrings(true)...)
			}
		}
		c.Segments = append(c.Segments, s)
	}
	c.UserData = r.mapOfStrings(true)
}

func parse5x(r *reader, c *Commit) {
	if c.Format >= segV53 {
		c.LuceneVersion = readVersion(r)
	}
	r.be64() // version
	r.be32() // counter
	n := r.count(int64(r.be32()), "segment")
	if c.Format >= segV53 && n > 0 {
		readVersion(r)
	}
	old := c.Format < segV51
	for i := 0; i < n && r.err() == nil; i++ {
		s := SegmentRef{Name: r.str()}
		switch has := r.byte1(); has {
		case 1:
			s.ID = append([]byte(nil), r.bytes(IDLen)...)
		case 0:
			if c.Format >= segV53 {
				r.fail(fmt.Errorf("segment %s has no id", s.Name))
			}
		default:
			r.fail(fmt.Errorf("bad has-id byte %d", has))
		}
		s.Codec = r.str()
		s.DelGen, s.DelCount, s.FieldInfosGen, s.DocValuesGen = r.be64(), r.be32(), r.be64(), r.be64()
		s.UpdateFiles = append(s.UpdateFiles, r.setOfStrings(old)...)
		m := r.count(int64(r.be32()), "doc-values field")
		for j := 0; j < m && r.err() == nil; j++ {
			r.be32()
			s.UpdateFiles = append(s.UpdateFiles, r.setOfStrings(old)...)
		}
		c.Segments = append(c.Segments, s)
	}
	c.UserData = r.mapOfStrings(old)
}

func parse7x(r *reader, c *Commit) {
	c.LuceneVersion = readVersion(r)
	c.CreatedMajor = int(r.vint())
	r.be64() // version
	if c.Format == segV70 {
		r.be32()
	} else {
		r.vlong()
	}
	n := r.count(int64(r.be32()), "segment")
	if n > 0 {
		readVersion(r)
	}
	for i := 0; i < n && r.err() == nil; i++ {
		s := SegmentRef{Name: r.str()}
		s.ID = append([]byte(nil), r.bytes(IDLen)...)
		s.Codec = r.str()
		s.DelGen, s.DelCount, s.FieldInfosGen, s.DocValuesGen = r.be64(), r.be32(), r.be64(), r.be64()
		if c.Format > segV72 {
			s.SoftDelCount = r.be32()
		}
		if c.Format > segV74 {
			switch m := r.byte1(); m {
			case 1:
				r.bytes(IDLen)
			case 0:
			default:
				r.fail(fmt.Errorf("bad commit-info id marker %d", m))
			}
		}
		s.UpdateFiles = append(s.UpdateFiles, r.setOfStrings(false)...)
		m := r.count(int64(r.be32()), "doc-values field")
		for j := 0; j < m && r.err() == nil; j++ {
			r.be32()
			s.UpdateFiles = append(s.UpdateFiles, r.setOfStrings(false)...)
		}
		if c.Format >= segV10 {
			m := r.count(int64(r.be32()), "overlay")
			for j := 0; j < m && r.err() == nil; j++ {
				r.be32() // field
				r.be64() // base generation
				d := r.count(int64(r.be32()), "overlay generation")
				r.bytes(8 * d)
			}
		}
		c.Segments = append(c.Segments, s)
	}
	c.UserData = r.mapOfStrings(false)
}

func readVersion(r *reader) string {
	return fmt.Sprintf("%d.%d.%d", r.vint(), r.vint(), r.vint())
}

// checkSegName refuses segment names that could escape the index directory.
func checkSegName(name string) error {
	if len(name) < 2 || name[0] != '_' || strings.ContainsAny(name, "/\\\x00") || name == "_." || strings.Contains(name, "..") {
		return fmt.Errorf("%w: bad segment name %q", ErrCorrupt, name)
	}
	return nil
}

// belongsTo reports whether file is named for segment seg: "_3.si",
// "_3_1.liv", "_3_Lucene50_0.doc", but not "_31.si".
func belongsTo(file, seg string) bool {
	rest, ok := strings.CutPrefix(file, seg)
	if !ok || rest == "" || strings.ContainsAny(rest, "/\\\x00") {
		return false
	}
	return rest[0] == '.' || rest[0] == '_'
}
