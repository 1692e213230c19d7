// Package pgcluster starts a throwaway PostgreSQL cluster from the binaries
// Debian's postgresql package installs (initdb and pg_ctl into a directory,
// on a free port). As root it runs the server as the postgres user, since
// initdb refuses root. The tests' environment and `cutover demo` use it;
// nothing that migrates data does.
package pgcluster

import (
	"errors"
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
)

// Cluster is a running PostgreSQL server.
type Cluster struct {
	Bin      string // directory of initdb, pg_ctl, psql, pg_dump, pgbench
	Base     string // its directory (data, log, socket)
	Dir      string // data directory
	Port     int
	Password string // of the superuser "postgres"
	Major    int
	cred     *syscall.Credential
}

// Bin finds the newest installed PostgreSQL's binaries ("" when none).
func Bin() string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(m, func(i, j int) bool { return majorOf(m[i]) > majorOf(m[j]) })
	if len(m) > 0 {
		return filepath.Dir(m[0])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func majorOf(p string) int {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if s == "postgresql" && i+1 < len(parts) {
			n, _ := strconv.Atoi(parts[i+1])
			return n
		}
	}
	return 0
}

// Options tune a cluster.
type Options struct {
	Conf  []string          // lines appended to postgresql.conf
	Files map[string][]byte // files written into the data directory (certificates)
}

// Start creates and starts a cluster under base (created, world-traversable).
func Start(base string, o Options) (*Cluster, error) {
	bin := Bin()
	if bin == "" {
		return nil, errors.New("PostgreSQL server binaries (initdb) not found: apt-get install postgresql")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, Base: base, Dir: filepath.Join(base, "data"), Port: port,
		Password: fmt.Sprintf("pg-%d-%d", os.Getpid(), port), Major: majorOf(bin)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user (from the postgresql package): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			return nil, err
		}
	}
	pw := filepath.Join(base, "pw")
	if err := c.writeOwned(pw, []byte(c.Password+"\n")); err != nil {
		return nil, err
	}
	if err := c.run("initdb", "-D", c.Dir, "-U", "postgres", "--pwfile", pw, "-E", "UTF8", "--locale", "C.UTF-8",
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "--no-sync"); err != nil {
		return nil, err
	}
	conf := []string{
		fmt.Sprintf("port = %d", c.Port), "listen_addresses = '127.0.0.1'", fmt.Sprintf("unix_socket_directories = '%s'", base),
		"fsync = off", "synchronous_commit = off", "full_page_writes = off",
		"max_connections = 60", "shared_buffers = 64MB", "max_wal_size = 2GB", "log_min_messages = warning",
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(f, strings.Join(append(conf, o.Conf...), "\n"))
	f.Close()
	for name, b := range o.Files {
		if err := c.writeOwned(filepath.Join(c.Dir, name), b); err != nil {
			return nil, err
		}
	}
	if err := c.run("pg_ctl", "-D", c.Dir, "-l", filepath.Join(base, "log"), "-w", "-t", "60", "start"); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops the server and removes its directory.
func (c *Cluster) Stop() {
	cmd := exec.Command(filepath.Join(c.Bin, "pg_ctl"), "-D", c.Dir, "-m", "immediate", "-w", "stop")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Run()
	os.RemoveAll(c.Base)
}

func (c *Cluster) writeOwned(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

func (c *Cluster) run(prog string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.Bin, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", prog, strings.Join(args, " "), err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN returns a URL for usr (with password pass, if any) on database db, TLS off.
func (c *Cluster) DSN(usr, pass, db string) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	if pass != "" {
		u.User = url.UserPassword(usr, pass)
	} else {
		u.User = url.User(usr)
	}
	return u.String()
}

// AdminDSN returns the superuser's DSN on db.
func (c *Cluster) AdminDSN(db string) string { return c.DSN("postgres", c.Password, db) }

// Psql runs SQL on db as the superuser, stopping at the first error.
func (c *Cluster) Psql(db, sql string) (string, error) {
	out, err := exec.Command(filepath.Join(c.Bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", c.AdminDSN(db), "-c", sql).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql on %s: %w\n%s", db, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// PsqlFile loads a SQL file into db as the superuser.
func (c *Cluster) PsqlFile(db, file string) error {
	out, err := exec.Command(filepath.Join(c.Bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.AdminDSN(db), "-f", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql -f %s: %w\n%s", file, err, out)
	}
	return nil
}

// Pgbench initialises pgbench tables (with foreign keys) at scale into db.
func (c *Cluster) Pgbench(db string, scale int) error {
	out, err := exec.Command(filepath.Join(c.Bin, "pgbench"), "-i", "-q", "-s", strconv.Itoa(scale), "--foreign-keys", c.AdminDSN(db)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgbench -i: %w\n%s", err, out)
	}
	return nil
}
