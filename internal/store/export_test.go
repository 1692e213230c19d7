package store

import (
	"context"
	"io"
	"strings"
)

// StreamConn tells which of s's connections stream f runs on, and how many
// of them are open (for tests).
func StreamConn(s *SFTP, f FileStream) (conn, open int) {
	conn = -1
	for i, c := range s.conns {
		if c == f.(*tarStream).c {
			conn = i
		}
		c.mu.Lock()
		if c.sc != nil {
			open++
		}
		c.mu.Unlock()
	}
	return conn, open
}

// SetHashTools makes s hash on its host with only the named tools
// ("openssl", "sha256sum", "b3sum"), as a host that lacks the others would (for
// tests).
func SetHashTools(s *SFTP, names ...string) {
	s.hashOnce.Do(func() {})
	s.hashTools, s.hashErr = nil, nil
	for _, n := range names {
		for _, t := range []hashTool{openssl, sha256sum, b3sum} {
			if strings.HasPrefix(t.String(), n) {
				s.hashTools = append(s.hashTools, t)
			}
		}
	}
}

// HashTools names the remote hash tools s found on its host, once it has
// looked (for tests).
func HashTools(s *SFTP) []string {
	var names []string
	for _, t := range s.hashTools {
		names = append(names, t.String())
	}
	return names
}

// RunRemote runs cmd in s's remote shell and returns what it printed (for
// tests).
func RunRemote(ctx context.Context, s *SFTP, cmd string) (string, error) {
	rc, err := s.startRemote(ctx, cmd, nil)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	out, err := io.ReadAll(rc.out)
	if err != nil {
		return "", err
	}
	return string(out), rc.Wait()
}
