package testenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PG is a real PostgreSQL cluster started for a test (initdb and pg_ctl
// from Debian's postgresql package into a temporary directory, on a free
// port). As root, it runs as the postgres user: initdb refuses root.
type PG struct {
	Bin      string // directory of initdb, pg_ctl, psql, pg_dump
	Dir      string // data directory
	Port     int
	Password string // of the superuser "postgres"
	Major    int
	cred     *syscall.Credential
}

// pgBin finds the newest installed PostgreSQL's binaries.
func pgBin() string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(m, func(i, j int) bool { return pgMajorOf(m[i]) > pgMajorOf(m[j]) })
	if len(m) > 0 {
		return filepath.Dir(m[0])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func pgMajorOf(p string) int {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if s == "postgresql" && i+1 < len(parts) {
			n, _ := strconv.Atoi(parts[i+1])
			return n
		}
	}
	return 0
}

// PGOptions tune a test cluster.
type PGOptions struct {
	// Conf lines appended to postgresql.conf (e.g. "ssl = on").
	Conf []string
	// Files copied into the data directory before start (name → content),
	// for example TLS certificates.
	Files map[string][]byte
}

// StartPostgres starts a cluster for the test's lifetime.
func StartPostgres(t testing.TB, o PGOptions) *PG {
	t.Helper()
	bin := pgBin()
	if bin == "" {
		Missing(t, "PostgreSQL server (initdb)", "apt-get install postgresql")
		return nil
	}
	base, err := os.MkdirTemp("", "cutover-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &PG{Bin: bin, Dir: filepath.Join(base, "data"), Port: freePort(t), Password: "pg-test-" + strconv.Itoa(os.Getpid()), Major: pgMajorOf(bin)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (from the postgresql package): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	pw := filepath.Join(base, "pw")
	p.writeOwned(t, pw, []byte(p.Password+"\n"), 0o600)
	p.run(t, "initdb", "-D", p.Dir, "-U", "postgres", "--pwfile", pw, "-E", "UTF8", "--locale", "C.UTF-8",
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "--no-sync")
	conf := []string{
		fmt.Sprintf("port = %d", p.Port),
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("unix_socket_directories = '%s'", base),
		"fsync = off", "synchronous_commit = off", "full_page_writes = off",
		"max_connections = 60", "shared_buffers = 64MB",
		"max_wal_size = 2GB", "log_min_messages = warning",
	}
	f, err := os.OpenFile(filepath.Join(p.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, strings.Join(append(conf, o.Conf...), "\n"))
	f.Close()
	for name, b := range o.Files {
		p.writeOwned(t, filepath.Join(p.Dir, name), b, 0o600)
	}
	p.run(t, "pg_ctl", "-D", p.Dir, "-l", filepath.Join(base, "log"), "-w", "-t", "60", "start")
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(p.Bin, "pg_ctl"), "-D", p.Dir, "-m", "immediate", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
		cmd.Run()
		os.RemoveAll(base)
	})
	return p
}

func (p *PG) writeOwned(t testing.TB, path string, b []byte, mode os.FileMode) {
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if p.cred != nil {
		os.Chown(path, int(p.cred.Uid), int(p.cred.Gid))
	}
}

func (p *PG) run(t testing.TB, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(p.Bin, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
}

// DSN returns a URL for user (with password pass) on database db, TLS off.
func (p *PG) DSN(usr, pass, db string) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	if pass != "" {
		u.User = url.UserPassword(usr, pass)
	} else {
		u.User = url.User(usr)
	}
	return u.String()
}

// AdminDSN returns the superuser's DSN on db.
func (p *PG) AdminDSN(db string) string { return p.DSN("postgres", p.Password, db) }

// Psql runs SQL (or, with file set, a file of SQL) on db as the superuser,
// stopping at the first error.
func (p *PG) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(p.Bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", p.AdminDSN(db), "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql on %s: %v\n%s", db, err, out)
	}
	return strings.TrimSpace(string(out))
}

// PsqlFile loads a SQL file (a plain pg_dump) into db as the superuser.
func (p *PG) PsqlFile(t testing.TB, db, file string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(p.Bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", p.AdminDSN(db), "-f", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f %s: %v\n%s", file, err, out)
	}
}

// Pgbench initialises pgbench tables at scale into db.
func (p *PG) Pgbench(t testing.TB, db string, scale int) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(filepath.Join(p.Bin, "pgbench"), "-i", "-q", "-s", strconv.Itoa(scale), "--foreign-keys", p.AdminDSN(db))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	t.Logf("pgbench -i -s %d: %s", scale, time.Since(start).Round(time.Millisecond))
}
