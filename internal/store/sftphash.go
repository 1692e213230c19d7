package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
)

var _ Hasher = (*SFTP)(nil)

// hashTool is a program on the remote host that hashes files.
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
	// b3sum hashes with BLAKE3 (2.3 GB/s here on one thread, and BLAKE3
	// is 2× SHA-256's speed on this side too). It escapes a name with a
	// newline or a backslash and writes one that is not UTF-8 lossily:
	// such files are read instead.
	b3sum
)

func (t hashTool) String() string { return [...]string{"openssl dgst", "sha256sum", "b3sum"}[t] }

func (t hashTool) algorithm() checksum.Algorithm {
	if t == b3sum {
		return checksum.BLAKE3
	}
	return checksum.SHA256
}

// script is the remote command that hashes the NUL-terminated names on
// its stdin, paths below the root (openssl and b3sum get them as ./NAME,
// so that none is taken for an option).
func (t hashTool) script(root string) string {
	cmd := map[hashTool]string{
		openssl:   "openssl dgst -sha256 -r",
		sha256sum: "sha256sum -z --",
		b3sum:     "b3sum --num-threads 1", // the batches run at once already
	}[t]
	return "cd " + shellQuote(root) + " && xargs -0 -r " + cmd
}

// takes says whether t can hash the file named p and print its name so
// that it reads one way only.
func (t hashTool) takes(p string) bool {
	switch t {
	case sha256sum:
		return true
	case b3sum:
		return utf8.ValidString(p) && !strings.ContainsAny(p, "\n\r\\")
	}
	return !strings.ContainsAny(p, "\n\r\\")
}

// emptySHA256 and emptyBLAKE3 are the hashes of no bytes: the probe hashes
// /dev/null.
const (
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	emptyBLAKE3 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
)

// hashProbe runs each tool once on /dev/null: one command, one round trip.
// A tool counts only when it prints exactly what it should, so a BusyBox
// sha256sum without -z, or an old openssl without -r, is not used.
const hashProbe = `openssl dgst -sha256 -r /dev/null 2>/dev/null; printf '|'; sha256sum -z /dev/null 2>/dev/null; printf '|'; b3sum --num-threads 1 /dev/null 2>/dev/null`

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
		got := strings.Split(string(out), "|")
		for i, want := range []string{emptySHA256 + " */dev/null\n", emptySHA256 + "  /dev/null\x00", emptyBLAKE3 + "  /dev/null\n"} {
			if i < len(got) && got[i] == want {
				s.hashTools = append(s.hashTools, hashTool(i))
			}
		}
	})
	return s.hashTools, s.hashErr
}

// FastestHash is the hash the host computes fastest: BLAKE3 where it has
// b3sum, else SHA-256.
func (s *SFTP) FastestHash(ctx context.Context) checksum.Algorithm {
	tools, _ := s.remoteHashers(ctx)
	if slices.Contains(tools, b3sum) {
		return checksum.BLAKE3
	}
	return checksum.SHA256
}

// HashFiles hashes files on the remote host with algo, so that no content
// crosses the network: SHA-256 with openssl where the host has it, else
// with GNU sha256sum; BLAKE3 with b3sum; in one batch per connection and
// tool. A file no tool can take (a name the tool may print escaped, and no
// other for it) gets ErrNoExec, for the caller to hash by reading it;
// HashFiles returns ErrNoExec when the host has no tool for algo.
func (s *SFTP) HashFiles(ctx context.Context, paths []string, algo checksum.Algorithm, fn func(int, checksum.Sum, error)) error {
	if len(paths) == 0 {
		return nil
	}
	all, err := s.remoteHashers(ctx)
	if err != nil {
		return err
	}
	var tools []hashTool // for algo, the first preferred
	for _, t := range all {
		if t.algorithm() == algo {
			tools = append(tools, t)
		}
	}
	if len(tools) == 0 {
		return ErrNoExec
	}
	byTool := map[hashTool][]int{}
	for i, p := range paths {
		k := slices.IndexFunc(tools, func(t hashTool) bool { return t.takes(p) })
		if k < 0 {
			fn(i, "", fmt.Errorf("%w: %s may print the name %q escaped or altered, and the host has no other tool for %s", ErrNoExec, tools[0], p, algo))
			continue
		}
		byTool[tools[k]] = append(byTool[tools[k]], i)
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
		if t != sha256sum {
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
	switch t {
	case sha256sum:
		sep, sumSep = 0, "  " // "HEX  NAME\0"
	case b3sum:
		sumSep = "  ./" // "HEX  ./NAME\n"
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
		fn(idx[k], checksum.Sum(string(t.algorithm())+":"+sum), nil)
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
	for _, t := range []hashTool{openssl, sha256sum, b3sum} {
		if n := s.hashed[t].Load(); n > 0 {
			parts = append(parts, fmt.Sprintf("%d by %s", n, t))
		}
	}
	return strings.Join(parts, ", ")
}
