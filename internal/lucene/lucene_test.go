package lucene

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const jiraIndexes = "../../testdata/jira811-home/jira-home-node1/caches/indexesV1"

func TestGenerationsAreBase36(t *testing.T) {
	for gen, s := range map[int64]string{0: "0", 10: "a", 35: "z", 36: "10", 33: "x", 1295: "zz"} {
		if got := FormatGen(gen); got != s {
			t.Errorf("FormatGen(%d) = %q, want %q", gen, got, s)
		}
		if g, err := ParseGen(s); err != nil || g != gen {
			t.Errorf("ParseGen(%q) = %d, %v", s, g, err)
		}
	}
	for _, bad := range []string{"", "A", "-1", "1.2", "zzzzzzzzzzzzz"} {
		if _, err := ParseGen(bad); err == nil {
			t.Errorf("ParseGen(%q) succeeded", bad)
		}
	}
	if g, ok := SegmentsGen("segments_x"); !ok || g != 33 {
		t.Errorf("SegmentsGen(segments_x) = %d, %v", g, ok)
	}
	for _, n := range []string{"segments.gen", "pending_segments_2", "_0.si", "segments_"} {
		if _, ok := SegmentsGen(n); ok {
			t.Errorf("SegmentsGen(%q) accepted", n)
		}
	}
}

// The Jira 8.11 issues index: segments_x, written by Lucene 7.3.1 with
// format 8 (checked by hand: header 3fd76c17 08 "segments" 00000008).
func TestRealJiraSegmentsFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(jiraIndexes, "issues", "segments_x"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCommit("segments_x", b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != 8 || c.Gen != 33 || c.LuceneVersion != "7.3.1" || c.CreatedMajor != 7 || len(c.ID) != IDLen {
		t.Fatalf("commit = %+v", c)
	}
	if len(c.Segments) != 2 || c.Segments[0].Codec != "Lucene70" {
		t.Fatalf("segments = %+v", c.Segments)
	}
	if !c.Footers() || !c.IndexHeaders() {
		t.Fatal("a 7.3 commit has footers and index headers")
	}
}

func TestLoadAndVerifyRealJiraIndexes(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"issues", "changes", "comments", "worklogs", "entities/portalpage", "entities/searchrequest"} {
		fsys := DirFS(filepath.Join(jiraIndexes, name))
		ix, err := Load(ctx, fsys)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		probs, err := Verify(ctx, fsys, ix, true, 2, nil)
		if err != nil || len(probs) != 0 {
			t.Fatalf("%s: %v %v", name, probs, err)
		}
		if ix.Files[len(ix.Files)-1].Name != ix.Commit.Name {
			t.Errorf("%s: segments_N is not last", name)
		}
	}
	// changes holds a stale segment (_15) a merge left: it is not part of the commit.
	ix, err := Load(ctx, DirFS(filepath.Join(jiraIndexes, "changes")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ix.File("_15.si"); ok {
		t.Error("_15.si is not referenced by segments_w but was listed")
	}
	if _, ok := ix.File("_12_1.liv"); !ok || !ix.PerCommit()["_12_1.liv"] {
		t.Error("_12_1.liv (deletes generation 1 of _12) missing from the commit's files")
	}
}

func TestFooterAndHeader(t *testing.T) {
	b := make([]byte, 0, 64)
	b = binary.BigEndian.AppendUint32(b, CodecMagic)
	b = append(b, 3, 'a', 'b', 'c')
	b = binary.BigEndian.AppendUint32(b, 7)
	b = append(b, make([]byte, IDLen)...)
	b = append(b, 1, 'z')
	h, err := ParseHeader(b, true)
	if err != nil || h.Codec != "abc" || h.Version != 7 || h.Suffix != "z" || h.Len != len(b) {
		t.Fatalf("header = %+v, %v", h, err)
	}
	body := append(b, "payload"...)
	body = binary.BigEndian.AppendUint32(body, FooterMagic)
	body = binary.BigEndian.AppendUint32(body, 0)
	crc := crc32.ChecksumIEEE(body)
	body = binary.BigEndian.AppendUint64(body, uint64(crc))
	f, err := ParseFooter(body[len(body)-FooterLen:])
	if err != nil || f.CRC != crc {
		t.Fatalf("footer = %+v, %v", f, err)
	}
	if err := checkWholeCRC(body); err != nil {
		t.Fatal(err)
	}
	body[len(b)+1] ^= 0x40
	if err := checkWholeCRC(body); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte: %v", err)
	}
	if _, err := ParseFooter(body[len(body)-FooterLen-1 : len(body)-1]); err == nil {
		t.Fatal("a shifted footer parsed")
	}
}

func TestUnknownVersionIsRefused(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(jiraIndexes, "issues", "segments_x"))
	if err != nil {
		t.Fatal(err)
	}
	// The version int follows the magic and the 9-byte codec name.
	b[4+9+3] = 99
	_, err = ParseCommit("segments_x", b)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "99") {
		t.Fatalf("err = %v, want ErrUnsupported naming version 99", err)
	}
}

func TestGarbledSegmentsIsCorrupt(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(jiraIndexes, "issues", "segments_x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{len(b) / 2, len(b) - 3, 40} {
		g := append([]byte(nil), b...)
		g[i] ^= 0xff
		if _, err := ParseCommit("segments_x", g); !errors.Is(err, ErrCorrupt) {
			t.Errorf("flip at %d: err = %v", i, err)
		}
	}
	if _, err := ParseCommit("segments_x", b[:len(b)-5]); err == nil {
		t.Error("truncated segments_x parsed")
	}
	if _, err := ParseCommit("segments_y", b); err == nil {
		t.Error("segments_x content accepted under the name segments_y (suffix check)")
	}
}
