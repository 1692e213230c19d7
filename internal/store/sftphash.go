package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
)

var _ Hasher = (*SFTP)(nil)

// HashFiles runs `sha256sum -z` on the remote host over exec channels, one
// batch per connection, so file content never crosses the network.
func (s *SFTP) HashFiles(ctx context.Context, paths []string, algo checksum.Algorithm, fn func(int, checksum.Sum, error)) error {
	if algo != checksum.SHA256 || len(paths) == 0 {
		return errors.New("remote hashing supports sha256 only")
	}
	// Probe once: refuse early if the host cannot run it.
	if err := s.hashBatch(ctx, nil, 0, nil); err != nil {
		return err
	}
	n := len(s.conns)
	per := (len(paths) + n - 1) / n
	g, gctx := errgroup.WithContext(ctx)
	for b := 0; b < n && b*per < len(paths); b++ {
		lo, hi := b*per, min((b+1)*per, len(paths))
		g.Go(func() error { return s.hashBatch(gctx, paths[lo:hi], lo, fn) })
	}
	return g.Wait()
}

func (s *SFTP) hashBatch(ctx context.Context, paths []string, offset int, fn func(int, checksum.Sum, error)) error {
	var in bytes.Buffer
	for _, p := range paths {
		in.WriteString(p)
		in.WriteByte(0)
	}
	rc, err := s.startRemote(ctx, "cd "+shellQuote(s.loc.Path)+" && xargs -0 -r sha256sum -z --", &in)
	if err != nil {
		return err
	}
	defer rc.Close()
	r := rc.out
	got := make(map[string]checksum.Sum, len(paths))
	for {
		rec, err := r.ReadString(0)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("remote sha256sum: %w", err)
		}
		rec = strings.TrimSuffix(rec, "\x00")
		sum, name, ok := strings.Cut(rec, "  ")
		if !ok {
			sum, name, ok = strings.Cut(rec, " *")
		}
		if _, herr := hex.DecodeString(sum); !ok || herr != nil || len(sum) != 64 {
			return ErrNoExec // not GNU sha256sum -z
		}
		got[name] = checksum.Sum("sha256:" + sum)
	}
	rc.Wait()
	for i, p := range paths {
		if sum, ok := got[p]; ok {
			fn(offset+i, sum, nil)
		} else {
			fn(offset+i, "", fmt.Errorf("remote sha256sum could not read it: %s", strings.TrimSpace(rc.stderr.String())))
		}
	}
	return nil
}
