package lucene

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
)

// SegmentInfo is what a segment's .si file says about it.
type SegmentInfo struct {
	Version  string // Lucene version that wrote the segment
	DocCount int32
	Compound bool
	Files    []string // the segment's own files, its .si included
}

// siLayout describes how one .si codec lays out the fields before its file set.
type siLayout struct {
	indexHeader bool // index header with the segment id (5.0+)
	maxVersion  int32
	footerFrom  int32 // first codec version with a footer (-1: always)
	le          bool  // little-endian fixed-width ints (Lucene 9+)
	intVersion  bool  // Lucene version as 3 ints (5.0+) rather than a string
	minVersion  bool  // a has-min-version byte and 3 ints (7.0+)
	hasBlocks   bool  // a has-blocks byte after the compound flag (Lucene99 format)
	attrsFirst  bool  // attributes map before the files set (4.0–4.5)
	oldCollsTo  int32 // codec versions below this use Int32-counted maps and sets
}

var siLayouts = map[string]siLayout{
	"Lucene40SegmentInfo": {maxVersion: 0, footerFrom: 99, attrsFirst: true, oldCollsTo: 99},
	"Lucene46SegmentInfo": {maxVersion: 1, footerFrom: 1, oldCollsTo: 99},
	"Lucene50SegmentInfo": {indexHeader: true, maxVersion: 1, footerFrom: -1, intVersion: true, oldCollsTo: 1},
	"Lucene62SegmentInfo": {indexHeader: true, maxVersion: 1, footerFrom: -1, intVersion: true},
	"Lucene70SegmentInfo": {indexHeader: true, maxVersion: 0, footerFrom: -1, intVersion: true, minVersion: true},
	"Lucene86SegmentInfo": {indexHeader: true, maxVersion: 0, footerFrom: -1, intVersion: true, minVersion: true},
	"Lucene90SegmentInfo": {indexHeader: true, maxVersion: 0, footerFrom: -1, intVersion: true, minVersion: true, le: true},
}

// ParseSegmentInfo parses the .si file of segment seg. codec is the
// segment's codec as the commit names it: Lucene 9.x and 10.x share the .si
// codec name "Lucene90SegmentInfo" between two layouts, told apart by it.
func ParseSegmentInfo(seg SegmentRef, b []byte) (*SegmentInfo, error) {
	si, err := parseSegmentInfo(seg, b)
	if err != nil {
		return nil, fmt.Errorf("%s.si: %w", seg.Name, err)
	}
	return si, nil
}

func parseSegmentInfo(seg SegmentRef, b []byte) (*SegmentInfo, error) {
	h, err := ParseHeader(b, false)
	if err != nil {
		return nil, err
	}
	lay, ok := siLayouts[h.Codec]
	if !ok {
		return nil, fmt.Errorf("%w: segment info codec %q", ErrUnsupported, h.Codec)
	}
	if h.Version < 0 || h.Version > lay.maxVersion {
		return nil, fmt.Errorf("%w: %s version %d", ErrUnsupported, h.Codec, h.Version)
	}
	body := b
	if lay.footerFrom == -1 || h.Version >= lay.footerFrom {
		if err := checkWholeCRC(b); err != nil {
			return nil, err
		}
		body = b[:len(b)-FooterLen]
	}
	if lay.indexHeader {
		if h, err = ParseHeader(body, true); err != nil {
			return nil, err
		}
		if seg.ID != nil && !bytes.Equal(h.ID, seg.ID) {
			return nil, fmt.Errorf("%w: segment id in .si does not match the commit's", ErrCorrupt)
		}
	}
	old := h.Version < lay.oldCollsTo
	if h.Codec == "Lucene90SegmentInfo" {
		// Lucene 9.9+ codecs (Lucene99, Lucene912, Lucene100, …) write a
		// has-blocks byte that Lucene90..95 do not; try the codec's layout
		// first and the other one when its file set does not fit.
		lay.hasBlocks = !olderThan99(seg.Codec)
		si, err := parseSI(body, h.Len, seg.Name, lay, old)
		if err == nil {
			return si, nil
		}
		lay.hasBlocks = !lay.hasBlocks
		if si2, err2 := parseSI(body, h.Len, seg.Name, lay, old); err2 == nil {
			return si2, nil
		}
		return nil, err
	}
	return parseSI(body, h.Len, seg.Name, lay, old)
}

func olderThan99(codec string) bool {
	switch codec {
	case "Lucene90", "Lucene91", "Lucene92", "Lucene93", "Lucene94", "Lucene95":
		return true
	}
	return false
}

func parseSI(body []byte, off int, seg string, lay siLayout, old bool) (*SegmentInfo, error) {
	r := &reader{b: body, off: off, le: lay.le}
	si := &SegmentInfo{}
	if lay.intVersion {
		si.Version = fmt.Sprintf("%d.%d.%d", r.int32(), r.int32(), r.int32())
	} else {
		si.Version = r.str()
	}
	if lay.minVersion {
		switch m := r.byte1(); m {
		case 1:
			r.int32()
			r.int32()
			r.int32()
		case 0:
		default:
			r.fail(fmt.Errorf("bad has-min-version byte %d", m))
		}
	}
	si.DocCount = r.int32()
	if si.DocCount < 0 {
		r.fail(fmt.Errorf("negative doc count %d", si.DocCount))
	}
	switch c := int8(r.byte1()); c {
	case 1:
		si.Compound = true
	case -1, 0:
	default:
		r.fail(fmt.Errorf("bad compound flag %d", c))
	}
	if lay.hasBlocks {
		if b := int8(r.byte1()); b != 1 && b != -1 && b != 0 {
			r.fail(fmt.Errorf("bad has-blocks flag %d", b))
		}
	}
	r.mapOfStrings(old) // diagnostics
	if lay.attrsFirst {
		r.mapOfStrings(old)
	}
	si.Files = r.setOfStrings(old)
	if err := r.err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(si.Files) == 0 {
		return nil, fmt.Errorf("%w: empty file set", ErrCorrupt)
	}
	for _, f := range si.Files {
		if !belongsTo(f, seg) {
			return nil, fmt.Errorf("%w: file %q in the set of segment %s", ErrCorrupt, f, seg)
		}
	}
	if !slices.Contains(si.Files, seg+".si") {
		si.Files = append(si.Files, seg+".si")
	}
	return si, nil
}

// checkWholeCRC checks the footer of a file held in memory.
func checkWholeCRC(b []byte) error {
	if len(b) < FooterLen {
		return fmt.Errorf("%w: shorter than a footer", ErrCorrupt)
	}
	f, err := ParseFooter(b[len(b)-FooterLen:])
	if err != nil {
		return err
	}
	if got := crc32.ChecksumIEEE(b[:len(b)-8]); got != f.CRC {
		return fmt.Errorf("%w: checksum %08x, footer says %08x", ErrCorrupt, got, f.CRC)
	}
	return nil
}

// CFEntry is one sub-file of a compound file.
type CFEntry struct {
	Name   string // full file name, e.g. "_3.fdt"
	Offset int64  // within the .cfs
	Length int64
}

// ParseCFE parses the entry table (.cfe) of compound segment seg.
func ParseCFE(seg SegmentRef, b []byte) ([]CFEntry, error) {
	ents, err := parseCFE(seg, b)
	if err != nil {
		return nil, fmt.Errorf("%s.cfe: %w", seg.Name, err)
	}
	return ents, nil
}

func parseCFE(seg SegmentRef, b []byte) ([]CFEntry, error) {
	h, err := ParseHeader(b, false)
	if err != nil {
		return nil, err
	}
	var le, footer, index bool
	switch h.Codec {
	case "CompoundFileWriterEntries": // 4.x
		if h.Version > 1 {
			return nil, fmt.Errorf("%w: %s version %d", ErrUnsupported, h.Codec, h.Version)
		}
		footer = h.Version >= 1
	case "Lucene50CompoundEntries":
		footer, index = true, true
	case "Lucene90CompoundEntries":
		footer, index, le = true, true, true
	default:
		return nil, fmt.Errorf("%w: compound entries codec %q", ErrUnsupported, h.Codec)
	}
	if index && h.Version != 0 {
		return nil, fmt.Errorf("%w: %s version %d", ErrUnsupported, h.Codec, h.Version)
	}
	body := b
	if footer {
		if err := checkWholeCRC(b); err != nil {
			return nil, err
		}
		body = b[:len(b)-FooterLen]
	}
	if index {
		if h, err = ParseHeader(body, true); err != nil {
			return nil, err
		}
		if seg.ID != nil && !bytes.Equal(h.ID, seg.ID) {
			return nil, fmt.Errorf("%w: segment id in .cfe does not match the commit's", ErrCorrupt)
		}
	}
	r := &reader{b: body, off: h.Len, le: le}
	n := r.count(int64(r.vint()), "entry")
	ents := make([]CFEntry, 0, min(n, 256))
	for i := 0; i < n && r.err() == nil; i++ {
		id := r.str()
		e := CFEntry{Name: id, Offset: r.int64(), Length: r.int64()}
		if !strings.HasPrefix(id, seg.Name) {
			e.Name = seg.Name + id
		}
		if r.err() == nil && (!belongsTo(e.Name, seg.Name) || e.Offset < 0 || e.Length < 0) {
			r.fail(fmt.Errorf("bad entry %q at %d+%d", id, e.Offset, e.Length))
		}
		ents = append(ents, e)
	}
	if err := r.err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return ents, nil
}
