package pg

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"

	"github.com/cutover/cutover/internal/errs"
)

// PgDump runs pg_dump against the endpoint with args and returns its output.
// The password (or IAM token) goes through PGPASSWORD, never the command
// line; TLS settings stay in the connection string.
func (e Endpoint) PgDump(ctx context.Context, pgDump string, args ...string) ([]byte, error) {
	cfg, err := e.Config(ctx, nil)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, pgDump, append(args, "--dbname", withoutPassword(e.DSN))...)
	cmd.Env = os.Environ()
	if cfg.Password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+cfg.Password)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pg_dump %s: %w: %s", e.Side, err, stripDSN(stderr.String(), e.DSN))
	}
	return out.Bytes(), nil
}

var dumpVersion = regexp.MustCompile(`pg_dump \(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// PgDumpMajor returns the major version of the pg_dump at path.
func PgDumpMajor(pgDump string) (int, error) {
	out, err := exec.Command(pgDump, "--version").Output()
	if err != nil {
		return 0, errs.Fatalf("run %s --version: %w (install postgresql-client of the source's version)", pgDump, err)
	}
	m := dumpVersion.FindSubmatch(out)
	if m == nil {
		return 0, errs.Fatalf("%s --version said %q", pgDump, bytes.TrimSpace(out))
	}
	return strconv.Atoi(string(m[1]))
}
