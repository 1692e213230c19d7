package pg

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
)

// streamBuffer is the size of the blocks streamed from source to target.
const streamBuffer = 256 << 10

// Stream copies rows from src to dst: out (a COPY … TO STDOUT) on src
// feeds in (a COPY … FROM STDIN) on dst through a pipe. CopyTo writes one
// message per row, so they are buffered: the target is handed large blocks
// instead of one goroutine switch per row. wrap, when not nil, wraps what
// dst reads (to count it). It returns the target's result and error and,
// apart, the source's error: which of them tells what went wrong is the
// caller's to decide.
func Stream(ctx context.Context, src, dst *pgconn.PgConn, out, in string, wrap func(io.Reader) io.Reader) (tag pgconn.CommandTag, err, srcErr error) {
	pr, pw := io.Pipe()
	srcDone := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, streamBuffer)
		_, err := src.CopyTo(ctx, bw, out)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		srcDone <- err
	}()
	var r io.Reader = pr
	if wrap != nil {
		r = wrap(pr)
	}
	tag, err = dst.CopyFrom(ctx, r, in)
	pr.CloseWithError(errors.New("target copy ended"))
	return tag, err, <-srcDone
}
