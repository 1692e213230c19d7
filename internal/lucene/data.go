package lucene

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// errShort is returned when a structure runs past the end of its bytes.
var errShort = errors.New("unexpected end of data")

// maxCount bounds the element counts read from a file, so that a garbled
// count fails cleanly instead of allocating gigabytes.
const maxCount = 1 << 20

// reader decodes Lucene's DataInput encodings from a byte slice. The first
// error sticks: later reads return zero values, and err() reports it.
type reader struct {
	b     []byte
	off   int
	le    bool // fixed-width ints are little-endian (Lucene 9+ files other than headers)
	fault error
}

func (r *reader) fail(err error) {
	if r.fault == nil {
		r.fault = fmt.Errorf("offset %d: %w", r.off, err)
	}
}

func (r *reader) err() error { return r.fault }

func (r *reader) bytes(n int) []byte {
	if r.fault != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errShort)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) byte1() byte {
	p := r.bytes(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) be32() int32 {
	p := r.bytes(4)
	if p == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(p))
}

func (r *reader) be64() int64 {
	p := r.bytes(8)
	if p == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(p))
}

// int32 and int64 read a fixed-width int in the reader's byte order.
func (r *reader) int32() int32 {
	if !r.le {
		return r.be32()
	}
	p := r.bytes(4)
	if p == nil {
		return 0
	}
	return int32(binary.LittleEndian.Uint32(p))
}

func (r *reader) int64() int64 {
	if !r.le {
		return r.be64()
	}
	p := r.bytes(8)
	if p == nil {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(p))
}

func (r *reader) vint() int32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		b := r.byte1()
		if r.fault != nil {
			return 0
		}
		v |= uint32(b&0x7f) << shift
		if b&0x80 == 0 {
			return int32(v)
		}
	}
	r.fail(errors.New("malformed vInt"))
	return 0
}

func (r *reader) vlong() int64 {
	var v uint64
	for shift := 0; shift < 63; shift += 7 {
		b := r.byte1()
		if r.fault != nil {
			return 0
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return int64(v)
		}
	}
	r.fail(errors.New("malformed vLong"))
	return 0
}

func (r *reader) count(n int64, what string) int {
	if r.fault != nil {
		return 0
	}
	if n < 0 || n > maxCount {
		r.fail(fmt.Errorf("implausible %s count %d", what, n))
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.count(int64(r.vint()), "string length")
	p := r.bytes(n)
	if p == nil {
		return ""
	}
	if !utf8.Valid(p) {
		r.fail(errors.New("string is not UTF-8"))
		return ""
	}
	return string(p)
}

// setOfStrings reads a set written by writeSetOfStrings (vInt count, 5.1+);
// old selects the Int32 count of writeStringSet (4.x and 5.0).
func (r *reader) setOfStrings(old bool) []string {
	var n int
	if old {
		n = r.count(int64(r.int32()), "set")
	} else {
		n = r.count(int64(r.vint()), "set")
	}
	out := make([]string, 0, min(n, 64))
	for i := 0; i < n && r.fault == nil; i++ {
		out = append(out, r.str())
	}
	return out
}

// mapOfStrings reads a map written by writeMapOfStrings (vInt count) or,
// when old, writeStringStringMap (Int32 count).
func (r *reader) mapOfStrings(old bool) map[string]string {
	var n int
	if old {
		n = r.count(int64(r.int32()), "map")
	} else {
		n = r.count(int64(r.vint()), "map")
	}
	out := make(map[string]string, min(n, 64))
	for i := 0; i < n && r.fault == nil; i++ {
		k := r.str()
		out[k] = r.str()
	}
	return out
}
