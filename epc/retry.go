package epc

import (
	"context"
	"log/slog"
	"net/http"

	pause "github.com/epcflow/epcflow/internal/wait"
)

// call is callOnce, with a GET tried again after a failure that may pass (see
// Config.ReadRetries). Under a 30% error rate an activity that reads three times would
// otherwise fail two attempts in three and wait out Temporal's growing retry intervals.
func (c *Client) call(ctx context.Context, method, p string, in any) (*reply, error) {
	wait := c.readBackoff
	for try := 0; ; try++ {
		rep, err := c.callOnce(ctx, method, p, in)
		if err == nil || method != http.MethodGet || try >= c.readRetries || !IsRetryable(err) || ctx.Err() != nil {
			return rep, err
		}
		d := max(wait, RetryAfter(err))
		if d > maxReadRetryWait {
			return nil, err
		}
		c.log.DebugContext(ctx, "epc read failed, trying again", slog.String("path", p), slog.Duration("wait", d), slog.Int("try", try+1), slog.Any("error", err))
		if pause.For(ctx, d) != nil {
			return nil, err
		}
		wait *= 2
	}
}
