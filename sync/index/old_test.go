package index

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/errs"
)

// Lucene before 4.8 wrote no footers; no such Lucene runs here, so this
// builds a minimal 4.6-format index byte by byte: segments_2 (format 1,
// trailing CRC), _0.si (Lucene46SegmentInfo version 0) and two data files.

type enc []byte

func (e enc) i32(v int32) enc { return binary.BigEndian.AppendUint32(e, uint32(v)) }
func (e enc) i64(v int64) enc { return binary.BigEndian.AppendUint64(e, uint64(v)) }
func (e enc) str(s string) enc {
	return append(append(e, byte(len(s))), s...)
}
func (e enc) header(codec string, version int32) enc {
	return e.i32(0x3FD76C17).str(codec).i32(version)
}

func writeOldIndex(t *testing.T, dir string, payload string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"_0.fdt": enc(nil).header("Lucene40StoredFieldsData", 1).str(payload),
		"_0.fdx": enc(nil).header("Lucene40StoredFieldsIndex", 1).i64(42),
	}
	si := enc(nil).header("Lucene46SegmentInfo", 0).str("4.6.0").i32(10)
	si = append(si, 0xff) // not compound
	si = si.i32(0)        // diagnostics
	si = si.i32(3).str("_0.si").str("_0.fdt").str("_0.fdx")
	files["_0.si"] = si
	seg := enc(nil).header("segments", 1).i64(7).i32(1).i32(1)
	seg = seg.str("_0").str("Lucene46").i64(-1).i32(0).i64(-1)
	seg = seg.i32(0) // per-generation update files
	seg = seg.i32(0) // user data
	seg = seg.i64(int64(crc32.ChecksumIEEE(seg)))
	files["segments_2"] = seg
	for n, b := range files {
		write(t, filepath.Join(dir, n), b)
	}
}

func TestPre48IndexUsesTheSidecarManifest(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	writeOldIndex(t, src, strings.Repeat("stored field bytes ", 50))
	o := opts()
	o.Full = true
	rep, err := Verify(context.Background(), src, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.Markdown())
	}
	if r := rep.Indexes[0]; r.Format != 1 || r.FilesTotal != 4 || !strings.Contains(r.Checksums, "only segments_N carries a checksum") {
		t.Fatalf("verify of a 4.6 index: %+v", r)
	}
	mustShip(t, src, dst)
	assertSameCommit(t, src, dst)
	if _, err := os.Stat(filepath.Join(dst, manifestName)); err != nil {
		t.Fatalf("no sidecar manifest: %v", err)
	}
	if again := mustShip(t, src, dst); again.Totals.FilesReused != 4 || again.Totals.FilesShipped != 0 {
		t.Fatalf("second ship of an unchanged pre-4.8 index: %+v", again.Totals)
	}

	// A flipped byte in a footerless file: only the manifest can tell.
	p := filepath.Join(dst, "_0.fdt")
	b, _ := os.ReadFile(p)
	b[len(b)-10] ^= 0x20
	write(t, p, b)
	rep, err = Verify(context.Background(), dst, o)
	if errs.ExitCode(err) != errs.ExitPartial || !mentions(rep.Indexes[0].Problems, "_0.fdt") {
		t.Fatalf("verify --full with the manifest: exit %d, %v", errs.ExitCode(err), rep.Indexes[0].Problems)
	}
	if rr, err := Repair(context.Background(), src, dst, opts()); err != nil || len(rr.Indexes[0].Problems) != 0 {
		t.Fatalf("repair: %v\n%s", err, rr.Markdown())
	}
	assertSameCommit(t, src, dst)

	// A garbled segments_N fails its trailing checksum even without footers.
	seg := filepath.Join(dst, "segments_2")
	b, _ = os.ReadFile(seg)
	b[20] ^= 1
	write(t, seg, b)
	if _, err := Verify(context.Background(), dst, opts()); errs.ExitCode(err) != errs.ExitPartial {
		t.Fatalf("garbled pre-4.8 segments_N: exit %d (%v)", errs.ExitCode(err), err)
	}
}
