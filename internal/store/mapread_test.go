package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cutover/cutover/checksum"
)

// A file read back through its mapping hashes as one read with read(2).
func TestReadBackThroughAMappingHashesTheSame(t *testing.T) {
	l := NewLocal(t.TempDir())
	ctx := context.Background()
	for _, size := range []int{mapMin - 1, mapMin, mapChunk + 12345} {
		b := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		p := filepath.Join(l.root, "f")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		e := Entry{Path: "f", Type: File, Size: int64(size)}
		got, err := HashStored(ctx, l, e, checksum.Content)
		if err != nil {
			t.Fatal(err)
		}
		if want := checksum.Bytes(checksum.Content, b); got != want {
			t.Errorf("%d bytes: %s, want %s", size, got, want)
		}
	}
}

// truncatingWriter truncates its file at its first Write, then reads the
// last byte it was given, past the file's new end.
type truncatingWriter struct {
	path string
	n    int
}

func (w *truncatingWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		if err := os.Truncate(w.path, 0); err != nil {
			return 0, err
		}
	}
	w.n += int(p[len(p)-1]) // faults: the page is gone
	return len(p), nil
}

// Another writer truncating the file while it is read back through its
// mapping makes the read fail, not the process crash (SIGBUS).
func TestReadBackOfAFileTruncatedMeanwhileFails(t *testing.T) {
	l := NewLocal(t.TempDir())
	p := filepath.Join(l.root, "f")
	if err := os.WriteFile(p, bytes.Repeat([]byte{1}, 2*mapMin), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := l.ReadBack(context.Background(), Entry{Path: "f", Type: File, Size: 2 * mapMin}, &truncatingWriter{path: p})
	if err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Fatalf("err %v, want the file changed while it was read", err)
	}
}
