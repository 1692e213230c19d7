package report

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/errs"
)

func TestOutcomeNamesHowARunEnded(t *testing.T) {
	for _, c := range []struct {
		err           error
		status, error string
	}{
		{nil, "ok", ""},
		{&errs.PartialError{Failed: 2}, "partial", (&errs.PartialError{Failed: 2}).Error()},
		{fmt.Errorf("copy: %w", context.Canceled), "interrupted", "interrupted by signal"},
		{errs.Fatalf("cannot reach db:5432"), "failed", "cannot reach db:5432"},
	} {
		o := Started()
		o.StartedAt = o.StartedAt.Add(-1500 * time.Millisecond)
		o.Error = "stale"
		o.Finish(c.err)
		if o.Status != c.status || o.Error != c.error {
			t.Errorf("%v: status %q error %q, want %q %q", c.err, o.Status, o.Error, c.status, c.error)
		}
		if o.DurationS < 1.5 || o.DurationS > 60 || o.FinishedAt.Before(o.StartedAt) {
			t.Errorf("%v: took %v s from %v to %v", c.err, o.DurationS, o.StartedAt, o.FinishedAt)
		}
	}
}
