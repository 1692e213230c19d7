// Package errs classifies errors by what the caller should do about them
// (retry, record and go on, stop) and maps them to cutover's exit codes.
//
// Behaviour is carried by wrapper types found with errors.As, never by
// matching error text. It is not a logging or reporting package.
package errs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Kind says what to do with an error.
type Kind int

const (
	// Permanent errors concern one item (permission denied, a vanished
	// file): record it, go on with the rest, exit 1 at the end.
	Permanent Kind = iota
	// Retryable errors are transient (a dropped connection): retry with backoff.
	Retryable
	// Fatal errors stop the whole run at once (host key mismatch, full disk,
	// a refused precondition): exit 3.
	Fatal
	// Usage errors are bad flags or configuration: exit 2.
	Usage
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Fatal:
		return "fatal"
	case Usage:
		return "usage"
	}
	return "permanent"
}

// Exit codes, the same for every command.
const (
	ExitOK          = 0
	ExitPartial     = 1
	ExitUsage       = 2
	ExitFatal       = 3
	ExitInterrupted = 130
)

// ExitCodesHelp documents the exit codes for --help.
const ExitCodesHelp = `Exit codes:
  0    done (and verified)
  1    finished, but some items failed or did not match (NO-GO for final)
  2    usage or configuration error
  3    stopped by a fatal error or a refused precondition (unreachable host,
       authentication, host key, full disk, --max-delete tripped, a non-empty
       target, a failed preflight, an unsupported format, a listing too big
       for the memory limit of the process's cgroup)
  130  interrupted by SIGINT/SIGTERM or at --max-duration (workers stop
       cleanly, the state stays consistent, a partial report is written)`

// ErrMaxDuration ends a run stopped at its --max-duration: an interruption
// (exit 130), which the same command takes up again.
var ErrMaxDuration = errors.New("stopped at --max-duration")

type classified struct {
	kind Kind
	err  error
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Wrap marks err with kind k. A nil err stays nil.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &classified{kind: k, err: err}
}

// Fatalf, Usagef, Permanentf and Retryablef build classified errors.
func Fatalf(format string, a ...any) error { return Wrap(Fatal, fmt.Errorf(format, a...)) }
func Usagef(format string, a ...any) error { return Wrap(Usage, fmt.Errorf(format, a...)) }
func Permanentf(format string, a ...any) error {
	return Wrap(Permanent, fmt.Errorf(format, a...))
}
func Retryablef(format string, a ...any) error {
	return Wrap(Retryable, fmt.Errorf(format, a...))
}

// KindOf returns the kind of err: an explicit classification wins; a full
// disk or read-only filesystem is fatal; anything else is permanent.
func KindOf(err error) Kind {
	var c *classified
	if errors.As(err, &c) {
		return c.kind
	}
	if IsDiskFull(err) || errors.Is(err, syscall.EROFS) {
		return Fatal
	}
	return Permanent
}

// IsDiskFull reports whether err is ENOSPC or EDQUOT.
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// IsNotExist reports whether err says a file does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Interrupted reports whether err comes from a cancelled context.
func Interrupted(err error) bool {
	return errors.Is(err, context.Canceled)
}

// Status names a run's outcome in reports and in the state: "ok",
// "interrupted", "partial" (finished, some items failed or did not match)
// or "failed".
func Status(err error) string {
	switch {
	case err == nil:
		return "ok"
	case Interrupted(err):
		return "interrupted"
	case ExitCode(err) == ExitPartial:
		return "partial"
	}
	return "failed"
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case Interrupted(err):
		return ExitInterrupted
	}
	switch KindOf(err) {
	case Usage:
		return ExitUsage
	case Fatal:
		return ExitFatal
	}
	var p *PartialError
	if errors.As(err, &p) {
		return ExitPartial
	}
	return ExitFatal
}

// PartialError says a run finished but some items failed or did not match.
type PartialError struct {
	Failed     int
	Mismatched int
}

func (p *PartialError) Error() string {
	return fmt.Sprintf("finished with %d failed and %d mismatched items", p.Failed, p.Mismatched)
}
