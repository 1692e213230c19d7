package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
)

var _ Hasher = (*SFTP)(nil)

// hashTool is a program on the remote host that hashes files with SHA-256.
type hashTool int

const (
	// openssl is `openssl dgst -sha256 -r`: OpenSSL uses the CPU's SHA
	// instructions where it has them (1.9 GB/s on this project's machine,
	// where coreutils' sha256sum, portable C, does 0.54 GB/s). It prints a
	// name after " *" as it is, except that OpenSSL 3 writes a newline in
	// it as "\n" and starts that line with a backslash, where 1.1 writes
	// the newline itself: names with a newline, a carriage return or a
	// backslash go to sha256sum, so that no line can be read two ways.
	openssl hashTool = iota
	// sha256sum is GNU `sha256sum -z`: NUL-terminated records, any name.
	sha256sum
)

func (t hashTool) String() string { return [...]string{"openssl dgst", "sha256sum"}[t] }

// script is the remote command that hashes the NUL-terminated names on
// its stdin, paths below the root.
func (t hashTool) script(root string) string {
	if t == openssl {
		return "cd " + shellQuote(root) + " && xargs -0 -r openssl dgst -sha256 -r"
	}
	return "cd " + shellQuote(root) + " && xargs -0 -r sha256sum -z --"
}

// emptySHA256 is the SHA-256 of no bytes: the probe hashes /dev/null.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// hashProbe runs each tool once on /dev/null: one command, one round trip.
// A tool counts only when it prints exactly what it should, so a BusyBox
// sha256sum without -z, or an old openssl without -r, is not used.
const hashProbe = `openssl dgst -sha256 -r /dev/null 2>/dev/null; printf '|'; sha256sum -z /dev/null 2>/dev/null`

// remoteHashers says which tools the host has, asked once per store.
func (s *SFTP) remoteHashers(ctx context.Context) (tools []hashTool, err error) {
	s.hashOnce.Do(func() {
		var rc *remoteCmd
		if rc, s.hashErr = s.startRemoteOn(ctx, s.conns[0], hashProbe, nil); s.hashErr != nil {
			return
		}
		defer rc.Close()
		out, rerr := io.ReadAll(rc.out)
		if rerr != nil {
			s.hashErr = fmt.Errorf("remote hash tools: %w", rerr)
			return
		}
		ssl, sum, _ := strings.Cut(string(out), "|")
		if ssl == emptySHA256+" */dev/null\n" {
			s.hashTools = append(s.hashTools, openssl)
		}
		if sum == emptySHA256+"  /dev/null\x00" {
			s.hashTools = append(s.hashTools, sha256sum)
		}
	})
	return s.hashTools, s.hashErr
}

// HashFiles hashes files on the remote host, so that no content crosses the
// network: with openssl where the host has it, else with GNU sha256sum, in
// one batch per connection and tool. A file neither can take (a name
// openssl may escape, on a host without sha256sum) gets ErrNoExec, for the
// caller to hash by reading it; HashFiles returns ErrNoExec when the host
// has neither.
func (s *SFTP) HashFiles(ctx context.Context, paths []string, algo checksum.Algorithm, fn func(int, checksum.Sum, error)) error {
	if algo != checksum.SHA256 || len(paths) == 0 {
		return errors.New("remote hashing supports sha256 only")
	}
	tools, err := s.remoteHashers(ctx)
	if err != nil {
		return err
	}
	if len(tools) == 0 {
		return ErrNoExec
	}
	byTool := map[hashTool][]int{}
	for i, p := range paths {
		t := tools[0]
		if t == openssl && strings.ContainsAny(p, "\n\r\\") {
			if len(tools) == 1 {
				fn(i, "", fmt.Errorf("%w: openssl may print the name %q escaped, and the host has no GNU sha256sum", ErrNoExec, p))
				continue
			}
			t = tools[1]
		}
		byTool[t] = append(byTool[t], i)
	}
	var mu sync.Mutex // fn is called from one goroutine at a time
	locked := func(i int, sum checksum.Sum, err error) {
		mu.Lock()
		defer mu.Unlock()
		fn(i, sum, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	for t, idx := range byTool {
		// Dealt round-robin: a directory of large files is shared out
		// instead of landing in one batch that ends last.
		n := min(len(s.conns), len(idx))
		for b := range n {
			part := make([]int, 0, len(idx)/n+1)
			for k := b; k < len(idx); k += n {
				part = append(part, idx[k])
			}
			g.Go(func() error { return s.hashBatch(gctx, t, paths, part, locked) })
		}
	}
	return g.Wait()
}

// hashBatch hashes paths[i] for each i in idx with t, in one remote command.
// The tool prints the files in the order they are given (xargs runs it on
// them in turn), leaving out those it cannot read: each line is matched to
// the next name that it names.
func (s *SFTP) hashBatch(ctx context.Context, t hashTool, paths []string, idx []int, fn func(int, checksum.Sum, error)) error {
	var in bytes.Buffer
	for _, i := range idx {
		if t == openssl {
			in.WriteString("./") // a name cannot be taken for an option
		}
		in.WriteString(paths[i])
		in.WriteByte(0)
	}
	rc, err := s.startRemote(ctx, t.script(s.loc.Path), &in)
	if err != nil {
		return err
	}
	defer rc.Close()
	sep, sumSep := byte('\n'), " *./" // openssl: "HEX *./NAME\n"
	if t == sha256sum {
		sep, sumSep = 0, "  " // "HEX  NAME\0"
	}
	next := 0 // idx[next] is the next file the tool has to print
	var missed []int
	for {
		rec, err := rc.out.ReadString(sep)
		if err == io.EOF && rec == "" {
			break
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("remote %s: %w", t, err)
		}
		rec = strings.TrimSuffix(rec, string(sep))
		sum, name, ok := strings.Cut(rec, sumSep)
		k := next
		for k < len(idx) && paths[idx[k]] != name {
			k++
		}
		if _, herr := hex.DecodeString(sum); !ok || k == len(idx) || herr != nil || len(sum) != 64 {
			return fmt.Errorf("remote %s printed %q, which is not the hash of a file asked for", t, rec)
		}
		missed = append(missed, idx[next:k]...)
		s.hashed[t].Add(1)
		fn(idx[k], checksum.Sum("sha256:"+sum), nil)
		next = k + 1
	}
	rc.Wait()
	for _, i := range append(missed, idx[next:]...) {
		fn(i, "", fmt.Errorf("remote %s could not read it: %s", t, stderrAbout(rc.stderr.String(), paths[i])))
	}
	return nil
}

// stderrAbout returns the line of stderr that names name (the tools print
// one per file they cannot read), else its first line.
func stderrAbout(stderr, name string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if strings.Contains(l, name) {
			return l
		}
	}
	if lines[0] == "" {
		return "no output for it"
	}
	return lines[0]
}

// HashedBy says how many files the host hashed with each tool since the
// store was opened, e.g. "20008 by openssl dgst, 2 by sha256sum".
func (s *SFTP) HashedBy() string {
	var parts []string
	for _, t := range []hashTool{openssl, sha256sum} {
		if n := s.hashed[t].Load(); n > 0 {
			parts = append(parts, fmt.Sprintf("%d by %s", n, t))
		}
	}
	return strings.Join(parts, ", ")
}
