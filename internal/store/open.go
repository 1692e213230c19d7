package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/cutover/cutover/internal/errs"
)

// Location is a parsed SRC or DST argument.
type Location struct {
	Scheme string // "local" or "sftp"
	User   string
	Host   string
	Port   string
	Path   string // absolute
}

func (l Location) String() string {
	if l.Scheme == "local" {
		return l.Path
	}
	u := url.URL{Scheme: "sftp", Host: l.Host, Path: l.Path}
	if l.Port != "" && l.Port != "22" {
		u.Host = l.Host + ":" + l.Port
	}
	if l.User != "" {
		u.User = url.User(l.User)
	}
	return u.String()
}

// ParseLocation parses a local path or sftp://user@host[:port]/absolute/path.
// Passwords in URLs are refused: use keys or the agent.
func ParseLocation(s string) (Location, error) {
	if strings.HasPrefix(s, "sftp://") {
		u, err := url.Parse(s)
		if err != nil {
			return Location{}, errs.Usagef("parse %q: %w", s, err)
		}
		if _, has := u.User.Password(); has {
			return Location{}, errs.Usagef("%s: passwords in URLs are not supported; use --ssh-key, an SSH agent or --ssh-password-file", u.Redacted())
		}
		if u.Hostname() == "" || u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return Location{}, errs.Usagef("%q: want sftp://user@host[:port]/absolute/path", s)
		}
		port := u.Port()
		if port == "" {
			port = "22"
		}
		p := u.Path
		if len(p) > 1 {
			p = strings.TrimSuffix(p, "/")
		}
		return Location{Scheme: "sftp", User: u.User.Username(), Host: u.Hostname(), Port: port, Path: p}, nil
	}
	if strings.Contains(s, "://") {
		return Location{}, errs.Usagef("%q: unsupported scheme (want a local path or sftp://)", s)
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return Location{}, errs.Usagef("%q: %w", s, err)
	}
	return Location{Scheme: "local", Path: abs}, nil
}

// Open opens the store at loc. create makes a missing local root.
func Open(ctx context.Context, loc Location, opts SSHOptions, create bool) (Store, error) {
	switch loc.Scheme {
	case "local":
		if create {
			if err := os.MkdirAll(loc.Path, 0o755); err != nil {
				return nil, errs.Fatalf("create %s: %w", loc.Path, err)
			}
		}
		st, err := os.Stat(loc.Path)
		if err != nil {
			return nil, errs.Fatalf("open %s: %w", loc.Path, err)
		}
		if !st.IsDir() {
			return nil, errs.Fatalf("%s is not a directory", loc.Path)
		}
		return NewLocal(loc.Path), nil
	case "sftp":
		return DialSFTP(ctx, loc, opts, create)
	}
	return nil, fmt.Errorf("unknown scheme %q", loc.Scheme)
}
