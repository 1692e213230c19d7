package lucene

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DirFS is an FS over a local directory.
type DirFS string

func (d DirFS) List(ctx context.Context) (map[string]int64, error) {
	ents, err := os.ReadDir(string(d))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // deleted since the listing (a merge on a live index)
		}
		out[e.Name()] = fi.Size()
	}
	return out, nil
}

func (d DirFS) ReadAt(_ context.Context, name string, p []byte, off int64) error {
	f, err := os.Open(filepath.Join(string(d), name))
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == io.EOF {
		err = fmt.Errorf("%s: short read at %d: %w", name, off, io.ErrUnexpectedEOF)
	}
	return err
}

func (d DirFS) Stream(ctx context.Context, name string, w io.Writer) error {
	f, err := os.Open(filepath.Join(string(d), name))
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
