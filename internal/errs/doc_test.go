package errs

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{&PartialError{Failed: 1}, 1},
		{fmt.Errorf("run: %w", &PartialError{Mismatched: 2}), 1},
		{Usagef("bad flag"), 2},
		{Fatalf("host key"), 3},
		{fmt.Errorf("write: %w", syscall.ENOSPC), 3},
		{fmt.Errorf("stop: %w", context.Canceled), 130},
		{errors.New("unclassified"), 3},
	}
	for _, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if KindOf(Retryablef("x")) != Retryable {
		t.Error("retryable lost")
	}
}
