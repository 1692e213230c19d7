package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// mapMin is the smallest file read back by mapping it rather than by
// read(2): mapped, the page cache is hashed where it lies, not copied into
// a buffer first (the copy was most of a full copy's read-back, which
// re-reads every byte written). Below it the mapping's set-up costs more
// than the copy it saves.
const mapMin = 256 << 10

// mapChunk is how much of a mapping goes to w per Write, so that a
// cancelled context stops a large file's read.
const mapChunk = 4 << 20

// readMapped writes the content of f, of size bytes on a local filesystem,
// to w through a read-only mapping. A fault while reading the mapping (the
// file truncated meanwhile by another writer) is returned as an error, not
// a crash.
func readMapped(ctx context.Context, f *os.File, size int64, w io.Writer) (err error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("map %s: %w", f.Name(), err)
	}
	defer unix.Munmap(data)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("read %s: the file changed while it was read (%v)", f.Name(), r)
		}
	}()
	for off := 0; off < len(data); off += mapChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := w.Write(data[off:min(off+mapChunk, len(data))]); err != nil {
			return err
		}
	}
	return nil
}
