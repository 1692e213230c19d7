package lucene

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// CodecMagic starts every codec header.
	CodecMagic = 0x3FD76C17
	// FooterMagic starts every codec footer (the bitwise complement of CodecMagic).
	FooterMagic = 0xC02893E8
	// FooterLen is the size of a codec footer: magic, algorithm id, CRC as int64.
	FooterLen = 16
	// IDLen is the length of segment and commit ids (Lucene 5+).
	IDLen = 16
	// MaxHeaderLen bounds a codec or index header: magic, name (≤ 127 bytes),
	// version, id, suffix (≤ 255 bytes).
	MaxHeaderLen = 4 + 1 + 127 + 4 + IDLen + 1 + 255
)

// ErrUnsupported marks an index whose format this package does not know.
// Callers refuse such an index rather than guess (exit 3).
var ErrUnsupported = errors.New("unsupported Lucene index format")

// ErrCorrupt marks structural damage: a bad magic, an impossible field, a
// truncated structure, a CRC that does not match.
var ErrCorrupt = errors.New("corrupt")

// Header is a CodecUtil codec header, or an index header when ID is set.
type Header struct {
	Codec   string
	Version int32
	ID      []byte // 16 bytes for an index header (Lucene 5+), else nil
	Suffix  string
	Len     int // bytes taken by the header
}

// ParseHeader parses the codec header at the start of b, and when index is
// set the id and suffix of an index header that follow it. b may hold more
// than the header (MaxHeaderLen bytes are always enough).
func ParseHeader(b []byte, index bool) (Header, error) {
	r := &reader{b: b}
	magic := uint32(r.be32())
	if r.err() == nil && magic != CodecMagic {
		return Header{}, fmt.Errorf("%w: codec header magic is %08x, want %08x", ErrCorrupt, magic, uint32(CodecMagic))
	}
	h := Header{Codec: r.str(), Version: r.be32()}
	if index {
		h.ID = r.bytes(IDLen)
		n := int(r.byte1())
		h.Suffix = string(r.bytes(n))
	}
	if err := r.err(); err != nil {
		return Header{}, fmt.Errorf("%w: codec header: %w", ErrCorrupt, err)
	}
	if h.ID != nil {
		h.ID = append([]byte(nil), h.ID...)
	}
	h.Len = r.off
	return h, nil
}

// Footer is a CodecUtil footer.
type Footer struct {
	CRC uint32
}

// HasFooter reports whether the last 16 bytes of a file start with the footer
// magic. Files written before Lucene 4.8 have no footer.
func HasFooter(tail []byte) bool {
	return len(tail) == FooterLen && binary.BigEndian.Uint32(tail) == FooterMagic
}

// ParseFooter checks the last FooterLen bytes of a file.
func ParseFooter(tail []byte) (Footer, error) {
	if len(tail) != FooterLen {
		return Footer{}, fmt.Errorf("%w: file shorter than a footer", ErrCorrupt)
	}
	if m := binary.BigEndian.Uint32(tail); m != FooterMagic {
		return Footer{}, fmt.Errorf("%w: footer magic is %08x, want %08x (truncated or overwritten)", ErrCorrupt, m, uint32(FooterMagic))
	}
	if algo := binary.BigEndian.Uint32(tail[4:]); algo != 0 {
		return Footer{}, fmt.Errorf("%w: footer checksum algorithm %d, want 0", ErrCorrupt, algo)
	}
	crc := binary.BigEndian.Uint64(tail[8:])
	if crc>>32 != 0 {
		return Footer{}, fmt.Errorf("%w: footer CRC %016x has high bits set", ErrCorrupt, crc)
	}
	return Footer{CRC: uint32(crc)}, nil
}

// FormatGen writes a generation the way Lucene names files: base 36.
func FormatGen(gen int64) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	if gen == 0 {
		return "0"
	}
	var buf [16]byte
	i := len(buf)
	for gen > 0 {
		i--
		buf[i] = digits[gen%36]
		gen /= 36
	}
	return string(buf[i:])
}

// ParseGen parses a base-36 generation.
func ParseGen(s string) (int64, error) {
	if s == "" || len(s) > 12 {
		return 0, fmt.Errorf("bad generation %q", s)
	}
	var v int64
	for _, c := range []byte(s) {
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case c >= 'a' && c <= 'z':
			d = int64(c-'a') + 10
		default:
			return 0, fmt.Errorf("bad generation %q", s)
		}
		v = v*36 + d
	}
	return v, nil
}
