package pg

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cutover/cutover/internal/errs"
)

// Endpoint is one side of a database command.
type Endpoint struct {
	Side    string // "source" or "target", for messages
	DSN     string // postgres://… URL or key=value conninfo
	IAMAuth bool   // make an RDS IAM token for every new connection
	Region  string // AWS region of the IAM token (default: from the AWS config)
	// Token, when set, makes IAM tokens instead of the AWS SDK (tests).
	Token func(ctx context.Context, endpoint, region, user string) (string, error)
}

// Redacted is the DSN with any password replaced, for logs and reports.
func (e Endpoint) Redacted() string { return Redact(e.DSN) }

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// Redact replaces the password of a DSN (URL or key=value) with "xxxxx".
func Redact(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(unparsable DSN)"
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// withoutPassword removes the password from a DSN (for pg_dump, which then
// takes it from PGPASSWORD rather than its command line).
func withoutPassword(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		q.Del("password")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(kvPassword.ReplaceAllString(dsn, ""))
}

// Config parses the endpoint's DSN (PGPASSWORD, .pgpass and PG* variables
// apply) and, with IAM auth, sets a fresh token as the password.
func (e Endpoint) Config(ctx context.Context, params map[string]string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(e.DSN)
	if err != nil {
		// pgx may quote the DSN in its error: say what is wrong without it.
		return nil, errs.Usagef("%s DSN %s: %s", e.Side, e.Redacted(), stripDSN(err.Error(), e.DSN))
	}
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	if e.IAMAuth {
		tok, err := e.token(ctx, cfg)
		if err != nil {
			return nil, errs.Fatalf("%s: make an IAM auth token: %w", e.Side, err)
		}
		cfg.Password = tok
		if cfg.TLSConfig == nil {
			return nil, errs.Usagef("%s: --aws-iam-auth needs TLS (sslmode=require or verify-full): RDS refuses IAM tokens over plain connections", e.Side)
		}
	}
	return cfg, nil
}

func stripDSN(msg, dsn string) string {
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, "(DSN)")
	}
	return kvPassword.ReplaceAllString(msg, "${1}xxxxx")
}

func (e Endpoint) token(ctx context.Context, cfg *pgx.ConnConfig) (string, error) {
	endpoint := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if e.Token != nil {
		return e.Token(ctx, endpoint, e.Region, cfg.User)
	}
	opts := []func(*config.LoadOptions) error{}
	if e.Region != "" {
		opts = append(opts, config.WithRegion(e.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return "", err
	}
	if awsCfg.Region == "" {
		return "", errors.New("no AWS region: give --aws-region or set AWS_REGION")
	}
	return auth.BuildAuthToken(ctx, endpoint, awsCfg.Region, cfg.User, awsCfg.Credentials)
}

// Connect opens a connection with the given session settings.
func (e Endpoint) Connect(ctx context.Context, params map[string]string) (*pgx.Conn, error) {
	cfg, err := e.Config(ctx, params)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, e.connectError(err)
	}
	return conn, nil
}

// connectError classifies a failed connection: every cause is a refused
// precondition (exit 3) with a message that says which side and why.
func (e Endpoint) connectError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pe *pgconn.PgError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ne net.Error
	why := ""
	switch {
	case errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000"):
		why = "authentication failed (check the user, the password from PGPASSWORD/.pgpass/the DSN, or the IAM token)"
	case errors.As(err, &pe) && pe.Code == "3D000":
		why = "the database does not exist"
	case errors.As(err, &ue), errors.As(err, &he), strings.Contains(err.Error(), "x509:"), strings.Contains(err.Error(), "tls:"):
		why = "the server's TLS certificate was not accepted (sslrootcert, and a host name that matches the certificate, for verify-full)"
	case errors.As(err, &ne), strings.Contains(err.Error(), "connection refused"), strings.Contains(err.Error(), "no such host"):
		why = "cannot reach the server"
	default:
		why = "cannot connect"
	}
	return errs.Fatalf("%s database %s: %s: %s", e.Side, e.Redacted(), why, stripDSN(err.Error(), e.DSN))
}

// SourceParams are the session settings of every source connection: no
// server default may kill a long copy, and values print the same way on
// both sides.
func SourceParams() map[string]string {
	return map[string]string{
		"statement_timeout":                   "0",
		"lock_timeout":                        "0",
		"idle_in_transaction_session_timeout": "0",
		"client_encoding":                     "UTF8",
		"extra_float_digits":                  "3",
		"DateStyle":                           "ISO",
		"IntervalStyle":                       "postgres",
		"TimeZone":                            "UTC",
		"bytea_output":                        "hex",
		"application_name":                    "cutover",
	}
}

// TargetParams add the settings for loading fast.
func TargetParams(maintenanceWorkMem string) map[string]string {
	p := SourceParams()
	p["synchronous_commit"] = "off"
	if maintenanceWorkMem != "" {
		p["maintenance_work_mem"] = maintenanceWorkMem
	}
	return p
}

// Retryable reports whether an error met while copying may go away on a
// new connection: a lost connection, a terminated backend, a deadlock or a
// serialization failure.
func Retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "40001", "40P01", "08000", "08003", "08006":
			return true
		}
		return false
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "connection reset")
}

// Ident quotes an identifier.
func Ident(parts ...string) string {
	return pgx.Identifier(parts).Sanitize()
}

// Literal quotes a string literal.
func Literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ForRanges sets up a session for what cutover runs on it: many queries of
// one key range each (a checksum per --chunk-rows rows, a COPY per chunk),
// with --jobs such sessions at once. A range costs more than the default
// jit_above_cost, so JIT would compile each query, for tens of
// milliseconds that a query of a few hundred milliseconds does not win
// back: it is turned off where the server has it (PostgreSQL 11 and
// later). Best effort: a server that refuses runs with its default.
// Parallel workers are left to the server: on this project's two-core
// machine, where both servers share the cores, verify took 3.7 s without
// them against 4.6-4.8 s, but a server with cores to spare (RDS, the VM)
// hashes each range in parallel with them, which this machine cannot
// measure. db verify of pgbench at scale 50, two jobs: 3.9-4.1 s without
// JIT, 4.6-4.8 s with it.
func ForRanges(ctx context.Context, c *pgx.Conn) {
	if majorOf(c.PgConn().ParameterStatus("server_version")) >= 11 {
		c.Exec(ctx, "SET jit = off") //nolint:errcheck // best effort, see above
	}
}

// majorOf parses the major version of the server_version a server reports
// ("15.4 (Debian 15.4-1)" is 15, "9.6.24" 9, "17beta1" 17): 0 when it
// cannot.
func majorOf(v string) int {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(v[:i])
	return n
}

// ServerMajor returns the major version of the server (15 for 15.4).
func ServerMajor(ctx context.Context, c *pgx.Conn) (int, error) {
	var v int
	if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v); err != nil {
		return 0, err
	}
	return v / 10000, nil
}

// Describe names a connection's server for messages.
func Describe(c *pgx.Conn) string {
	cfg := c.Config()
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
