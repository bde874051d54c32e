package pos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/epcflow/epcflow/schemas"
)

// maxReplyBody bounds what a client reads of a reply.
const maxReplyBody = 1 << 20

// sender sends the JSON requests of one client of this package.
type sender struct {
	hc  *http.Client
	log *slog.Logger // one debug line per call; nil: none
	msg string       // that line's message
}

// call is one JSON request.
type call struct {
	method, url string
	path        string // what the log names: never a query, which may carry a grant
	body        []byte // nil: no body
	header      http.Header
}

// send sends c and returns the status and the reply, read up to maxReplyBody; any status is
// a reply. A transport error comes without the request URL: the caller knows it.
func (s sender) send(ctx context.Context, c call) (int, []byte, error) {
	var rd io.Reader
	if c.body != nil {
		rd = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", withoutURL(err))
	}
	maps.Copy(req.Header, c.header)
	req.Header.Set("Accept", "application/json")
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := s.hc.Do(req)
	if err != nil {
		err = withoutURL(err)
		s.logCall(ctx, c, 0, start, err)
		return 0, nil, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	s.logCall(ctx, c, resp.StatusCode, start, err)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read %d reply: %w", resp.StatusCode, err)
	}
	return resp.StatusCode, reply, nil
}

func (s sender) logCall(ctx context.Context, c call, status int, start time.Time, err error) {
	if s.log == nil || !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("method", c.method), slog.String("path", c.path),
		slog.Int("status", status), slog.Duration("duration", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, s.msg, attrs...)
}

// withoutURL drops the request URL from a *url.Error, keeping its cause.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// httpURLProblem returns why raw is not an absolute http(s) URL, or "". It never echoes raw.
func httpURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http(s) URL"
	}
	return ""
}

// excerpt collapses a reply's text to one line of at most n bytes (cut at a character), so
// that a reply can neither forge log lines nor flood an error.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// withProblems appends each problem to an error text: ": p1; p2".
func withProblems(s string, ps []schemas.Problem) string {
	for i, p := range ps {
		if i == 0 {
			s += ": "
		} else {
			s += "; "
		}
		s += p.String()
	}
	return s
}
