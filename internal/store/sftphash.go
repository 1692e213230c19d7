package store

import (
	"bufio"
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
	c, _, err := s.pick(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	cl := c.ssh
	c.mu.Unlock()
	if cl == nil {
		return ErrNoExec
	}
	sess, err := cl.NewSession()
	if err != nil {
		return ErrNoExec
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	var in bytes.Buffer
	for _, p := range paths {
		in.WriteString(p)
		in.WriteByte(0)
	}
	sess.Stdin = &in
	out, err := sess.StdoutPipe()
	if err != nil {
		return ErrNoExec
	}
	var stderr bytes.Buffer
	sess.Stderr = &stderr
	cmd := fmt.Sprintf("printf '%s\\0' && cd %s && xargs -0 -r sha256sum -z --", findHeader, shellQuote(s.loc.Path))
	if err := sess.Start(cmd); err != nil {
		return ErrNoExec
	}
	r := bufio.NewReader(out)
	if head, err := r.ReadString(0); err != nil || strings.TrimSuffix(head, "\x00") != findHeader {
		io.Copy(io.Discard, r)
		return ErrNoExec
	}
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
	sess.Wait()
	for i, p := range paths {
		if sum, ok := got[p]; ok {
			fn(offset+i, sum, nil)
		} else {
			fn(offset+i, "", fmt.Errorf("remote sha256sum could not read it: %s", strings.TrimSpace(stderr.String())))
		}
	}
	return nil
}
